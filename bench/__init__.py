"""Benchmarks for timetravel: `python bench/run.py [--quick] [--only NAME]` (see BENCHMARKS.md)."""
