"""Alerts: finding events in the record and delivering them (the outbox is in the store)."""
