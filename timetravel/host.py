"""What this process and machine decide, resolved once at the edge and passed in.

The local time zone (from ``TZ`` and ``/etc/localtime``) and the garbage collector's
settings are facts about the machine and the process, not rules: ``domain/`` takes a zone
as an argument and never looks, so its tests pin one.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo


def data_dir() -> Path:
    """``$XDG_DATA_HOME/timetravel`` (``~/.local/share/timetravel`` by default): this
    user's databases, logs and Secret-hashing keys on this machine."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "timetravel"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/timetravel`` (``~/.local/state/timetravel`` by default): what this
    user's runs leave behind that is worth keeping but not data, such as the log of the
    recorder a screen runs."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "timetravel"


# Module-level so tests can point it at a symlink of their own.
_LOCALTIME = "/etc/localtime"
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu"})


def local_zone() -> tzinfo:
    """The user's local zone, DST-aware whenever the system says which zone it is.

    Order: the ``TZ`` environment variable (``Europe/Berlin``, ``:Europe/Berlin``, ``UTC``, a
    path to a TZif file; empty means UTC, as libc reads it); else the IANA name that the
    ``/etc/localtime`` symlink points at; else the zone data in ``/etc/localtime``; else the
    current fixed offset libc reports. A ``TZ`` that names no known zone (a POSIX rule string
    such as ``CET-1CEST``) also yields libc's current fixed offset, since libc honours it.
    Never raises.
    """
    value = os.environ.get("TZ")
    if value is not None:
        zone = _zone_from_tz_variable(value)
        return zone if zone is not None else _libc_zone()
    zone = _zone_from_symlink(_LOCALTIME)
    if zone is None:
        zone = _zone_from_file(_LOCALTIME)
    return zone if zone is not None else _libc_zone()


def _zone_from_tz_variable(value: str) -> tzinfo | None:
    name = value.strip().removeprefix(":")
    if not name:
        return UTC
    if name.startswith("/"):
        return (
            _zone_from_symlink(name)
            or _zone_from_key(_key_from_path(name))
            or _zone_from_file(name)
        )
    return _zone_from_key(name)


def _zone_from_key(key: str | None) -> tzinfo | None:
    if not key:
        return None
    try:
        return ZoneInfo(key)
    except (KeyError, ValueError, OSError):
        # Without a tz database UTC must still work: it needs no data.
        return UTC if key in _UTC_NAMES else None


def _key_from_path(path: str) -> str | None:
    marker = "/zoneinfo/"
    where = path.rfind(marker)
    if where < 0:
        return None
    key = path[where + len(marker) :]
    # posix/ and right/ are variants of the same zones; right/ counts leap seconds,
    # which datetime cannot represent, so the plain zone is the faithful choice.
    for prefix in ("posix/", "right/"):
        key = key.removeprefix(prefix)
    return key


def _zone_from_symlink(path: str) -> tzinfo | None:
    try:
        target = os.readlink(path)
    except (OSError, ValueError):
        return None
    # The first hop keeps the name the user chose (a tzdata alias stays an alias);
    # the fully resolved path covers chains such as /etc/alternatives.
    first = os.path.normpath(os.path.join(os.path.dirname(path), target))
    for candidate in (first, os.path.realpath(path)):
        zone = _zone_from_key(_key_from_path(candidate))
        if zone is not None:
            return zone
    return None


def _zone_from_file(path: str) -> tzinfo | None:
    try:
        with open(path, "rb") as handle:
            return ZoneInfo.from_file(handle, key=os.path.basename(path))
    except (OSError, ValueError):
        return None


def _libc_zone() -> tzinfo:
    return datetime.now().astimezone().tzinfo or UTC


def tune_collector() -> None:
    """The cyclic collector as every timetravel process runs it (benchmarks too).

    Parsed Kubernetes JSON is millions of small dicts and lists without cycles; the
    default collector thresholds spent more time walking them than parsing them (see
    BENCHMARKS.md): collect young objects less often. Nothing is frozen here, so a
    snapshot build can age what it keeps alive without a walk
    (``host.collector_paused``); import-time objects cost ~1 ms a full pass.
    """
    gc.set_threshold(50_000, 20, 100)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a snapshot is built or written.

    A snapshot of 10,000 resources keeps about a million decoded objects alive, and every
    collection walks them again: 1.2 s of building one, 0.3 s of writing a bundle. Parsed
    JSON and the views and texts made from it hold no reference cycles: nothing is lost.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _age_survivors()
            gc.enable()


def _age_survivors() -> None:
    """Move what the pause left alive to the oldest generation without walking it; else the
    first young collection afterwards walks the whole snapshot (0.2 s). Only when nothing
    else is frozen, as unfreezing would release that too."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
