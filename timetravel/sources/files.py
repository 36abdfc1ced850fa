"""Files a user hands to an import: a path or ``-`` for standard input, gzip or plain."""

from __future__ import annotations

import gzip
import sys
from typing import BinaryIO

from timetravel.errors import UserError

_GZIP_MAGIC = b"\x1f\x8b"


def open_input(source: str, *, gunzip: bool = False) -> tuple[BinaryIO, BinaryIO]:
    """The input as bytes, and the file under it (to close; stdin is left open).

    With ``gunzip`` a gzip-compressed file (the API server's rotated audit logs) is
    decompressed as it is read. A file that cannot be opened is a UserError.
    """
    if source == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(source, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise UserError(f"{source}: cannot read ({exc.strerror})") from None
    if not gunzip:
        return raw, raw
    peek = getattr(raw, "peek", None)
    head = peek(2)[:2] if peek is not None else b""
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    return raw, raw


def close_input(stream: BinaryIO, raw: BinaryIO) -> None:
    """Close what :func:`open_input` opened; standard input stays open."""
    if raw is not sys.stdin.buffer:
        stream.close()
        raw.close()
