"""Answers over the store: the state at a moment, desired state, causes, drift, and the
screen's data. Everything here reads; nothing writes."""
