"""Logs of the long-running commands (``record``, ``ui``, ``demo --live``): ``-v``/``--verbose``
and ``--log-format text|json``, through the standard logging module.

A recorder says two kinds of things. Its status (what it records, that it stands by for
another recorder, the periodic counts, that it stopped) is always shown: it is logged at
INFO to the ``timetravel.status`` logger, which the handler passes whatever the level.
Everything else is a log: warnings and errors always, info with ``-v``, debug with ``-vv``.

``text`` writes each record as the commands always wrote their lines, ``timetravel:
message`` (with the level for a warning or an error, and the logger's name from ``-vv``);
``json`` writes one object a line with ``time`` (RFC 3339, UTC), ``level``, ``logger``,
``message`` and the record's extra fields, for a log collector. A password in a URL is
masked in both (``postgresql://tt:***@db/tt``), and an extra field whose name says it holds
a secret (``password``, ``token``, ``secret``, ``key``) is never written: logs carry no
Secret values.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import click

from timetravel.domain.printable import printable
from timetravel.store.location import mask_password

F = TypeVar("F", bound=Callable[..., Any])

ROOT = "timetravel"
STATUS = "timetravel.status"
LOG_FORMATS = ("text", "json")

# The attributes every LogRecord has: anything else on a record came in ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
_SECRET_FIELD = re.compile(r"(?i)password|passwd|token|secret|credential|(^|_)key$")


def log_options(fn: F) -> F:
    """``-v``/``--verbose`` (repeatable) and ``--log-format``."""
    fn = click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default="text",
        show_default=True,
        help="Log lines as text, or as one JSON object a line (time, level, logger, message, fields).",
    )(fn)
    return click.option(
        "--verbose",
        "-v",
        count=True,
        help="More log: -v info (every error and retry), -vv debug.",
    )(fn)


def level_for(verbose: int) -> int:
    """The level of the logs shown: warnings, info with one -v, debug with two."""
    if verbose >= 2:
        return logging.DEBUG
    return logging.INFO if verbose == 1 else logging.WARNING


def mask(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: mask_password(match.group(0)), text)


class _ShowStatus(logging.Filter):
    """Passes the status (always shown) and what the level asks for."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or record.name == STATUS


class TextFormatter(logging.Formatter):
    """``timetravel: message``, as the commands wrote their lines before there were logs."""

    def __init__(self, verbose: int = 0) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        message = printable(mask(record.getMessage()))
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname.lower()}: {message}"
        if self.verbose >= 2 and record.name != STATUS:
            message = f"[{record.name}] {message}"
        if record.exc_info and self.verbose >= 2:
            message += "\n" + mask(self.formatException(record.exc_info))
        return f"timetravel: {message}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name in _STANDARD or name in entry or name.startswith("_"):
                continue
            if _SECRET_FIELD.search(name):
                continue
            entry[name] = _field(value)
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def _field(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask(str(value))


def setup_logging(verbose: int = 0, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send the ``timetravel`` loggers to ``stream`` (stderr) in ``log_format``; called once
    by a long-running command before it starts. Later calls replace the handler."""
    stop_logging()
    root = logging.getLogger(ROOT)
    level = level_for(verbose)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._timetravel = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(verbose))
    handler.addFilter(_ShowStatus(level))
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    root.propagate = False
    # The libraries' own loggers (urllib3's retries, kubernetes') only with -vv.
    logging.getLogger().setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


def stop_logging() -> None:
    """Take the handler :func:`setup_logging` added away again (a command that ends inside
    a process that goes on: a test's CliRunner)."""
    root = logging.getLogger(ROOT)
    for handler in list(root.handlers):
        if getattr(handler, "_timetravel", False):
            root.removeHandler(handler)
    root.propagate = True


def status(message: str, **fields: Any) -> None:
    """A status line: always shown (``timetravel: message`` in text)."""
    logging.getLogger(STATUS).info(message, extra=fields)


def log_args(verbose: int, log_format: str) -> list[str]:
    """The flags that give a child command (the screen's recorder) the same logs."""
    return ["-" + "v" * verbose] * (verbose > 0) + ["--log-format", log_format]


class StatusLines(io.TextIOBase):
    """A text stream whose lines become status records: what a writer of lines (the cluster
    recorder's status stream) says, in the log's format."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            said = line.strip("\r").removeprefix("timetravel: ")
            if said:
                status(said)
        return len(text)
