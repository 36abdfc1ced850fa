"""The demo: a recorded week of a small company's cluster and GitOps repository, written
through the real recorders, with a Thursday-night incident to investigate."""
