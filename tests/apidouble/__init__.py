"""An HTTP double of the Kubernetes API server for tests (see server.py)."""

from __future__ import annotations

from .server import ApiDouble, DoubleError, RequestRecord, ResourceType, status_body

__all__ = ["ApiDouble", "DoubleError", "RequestRecord", "ResourceType", "status_body"]
