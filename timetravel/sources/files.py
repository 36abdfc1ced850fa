"""Files a user hands to an import: a path or ``-`` for standard input, gzip or plain."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from timetravel.errors import UserError

_GZIP_MAGIC = b"\x1f\x8b"

# The longest line an audit import holds in memory (decompressed). One audit event is one
# line; at the RequestResponse level it carries a request and a response body, each at most
# 3 MiB (the API server's request size limit), so a real event stays well under this. A
# longer line is skipped without being held: a gzip bomb (a few kB that decompress to
# gigabytes without a newline) cannot exhaust memory.
MAX_LINE_BYTES = 16 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LongLine:
    """A line longer than the limit, skipped unread; ``size`` is its length in bytes."""

    size: int
    limit: int

    @property
    def reason(self) -> str:
        return (
            f"line of {self.size:,} bytes is over the {self.limit // (1024 * 1024)} MiB "
            "limit; skipped"
        )


def read_lines(stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes | LongLine]:
    """The lines of ``stream`` (with their newline), a :class:`LongLine` for each longer
    than ``max_bytes`` (not counting the newline): memory stays bounded by the limit."""
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) <= max_bytes or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(_SKIP_CHUNK)
            if not line:
                break
            size += len(line)
        yield LongLine(size - 1 if line.endswith(b"\n") else size, max_bytes)


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
