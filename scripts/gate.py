"""The whole gate in one command: lint, format, types, import contracts, tests, and a part
of the tests again against the lowest release of every dependency (scripts/lowest.py).

Run it with the project's virtualenv Python: ``.venv/bin/python scripts/gate.py``.
Extra arguments go to pytest (``scripts/gate.py -k store``), not to the lowest-versions run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(label: str, argv: list[str]) -> None:
    started = time.monotonic()
    print(f"== {label}: {' '.join(argv)}", flush=True)
    result = subprocess.run(argv, cwd=ROOT, check=False)
    took = time.monotonic() - started
    if result.returncode != 0:
        print(f"== {label}: FAILED (exit {result.returncode}, {took:.1f}s)", flush=True)
        sys.exit(result.returncode)
    print(f"== {label}: ok ({took:.1f}s)", flush=True)


def main() -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    run("ruff", [str(BIN / "ruff"), "check", "."])
    run("format", [str(BIN / "ruff"), "format", "--check", "."])
    run("mypy", [str(BIN / "mypy")])
    run("import contracts", [str(BIN / "lint-imports")])
    workers = os.environ.get("TIMETRAVEL_TEST_WORKERS", "2")
    # The slowest tests, named in every run: CI has 20 minutes, and this says where they go.
    durations = ["--durations=15", "--durations-min=5"]
    run("pytest", [sys.executable, "-m", "pytest", "-n", workers, "-q", *durations, *sys.argv[1:]])
    # pyproject's lower bounds, installed afresh in a throwaway venv (needs the package
    # index): a bound that no longer holds fails the gate like any test.
    run("lowest versions", [sys.executable, str(ROOT / "scripts" / "lowest.py")])


if __name__ == "__main__":
    main()
