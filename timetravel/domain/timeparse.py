"""Moments and durations as a person types them, and moments shown back to a person.

Accepted time forms (case-insensitive, surrounding whitespace ignored, inner runs of
whitespace count as one space):

- RFC 3339 / ISO 8601: ``2026-11-19T21:30:00Z``, ``2026-11-19T21:30:00.123+01:00``, a space
  instead of ``T``; without ``Z`` or an offset the value is wall-clock time in the user's zone,
  and a bare date (``2026-11-19``) is midnight there (the zone is passed in);
- ``now``;
- relative past: ``-2h``, ``-1h30m``, ``2h ago``, ``90 s ago`` (the :func:`parse_duration`
  grammar), an exact span of elapsed time: ``-1d`` is 24 hours even across a DST change;
- wall clock: ``21:30``, ``21:30:15``, ``today 21:30``, ``yesterday 21:30``, ``thursday 21:30``,
  ``thu 21:30``, ``last thursday 21:30``; a day word alone means 00:00 of that day.

Instants outside the store's supported range (years 1000 to 9998, UTC) are refused.
Local wall-clock times go through one DST rule (see :func:`parse_time`). Every bad input
raises :class:`~timetravel.errors.UserError` with one line that names the accepted forms.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo

from timetravel.domain.times import SUPPORTED_RANGE, in_supported_range
from timetravel.errors import UserError

__all__ = ["format_local", "parse_duration", "parse_time"]

TIME_FORMS = (
    "RFC 3339 ('2026-11-19T21:30:00Z'), 'now', relative ('-2h', '2h ago'), "
    "or local time ('21:30', 'yesterday 21:30', 'thursday 21:30', '2026-11-19 21:30')"
)
DURATION_FORMS = (
    "a number and a unit (s, m, h, d, w; or sec, min, hour, day, week), "
    "largest unit first, like '90s', '15m', '2h', '1d', '1h30m'"
)


_WS = re.compile(r"\s+")
_UNIT_SECONDS: dict[str, int] = {
    word: seconds
    for seconds, words in (
        (604800, ("w", "wk", "wks", "week", "weeks")),
        (86400, ("d", "day", "days")),
        (3600, ("h", "hr", "hrs", "hour", "hours")),
        (60, ("m", "min", "mins", "minute", "minutes")),
        (1, ("s", "sec", "secs", "second", "seconds")),
    )
    for word in words
}
_DURATION_PART = re.compile(r"([0-9]+) ?([a-z]+) ?", re.ASCII)

_ISO = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:[t ](?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?"
    r" ?(?P<offset>z|[+-][0-9]{2}(?::?[0-9]{2})?(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?)?",
    re.ASCII,
)
_OFFSET = re.compile(
    r"(?P<sign>[+-])(?P<hours>[0-9]{2})(?::?(?P<minutes>[0-9]{2}))?"
    r"(?::(?P<seconds>[0-9]{2})(?:\.(?P<micros>[0-9]{1,6}))?)?",
    re.ASCII,
)
_CLOCK = re.compile(
    r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?", re.ASCII
)
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS: dict[str, int] = {
    **{name: index for index, name in enumerate(_WEEKDAY_NAMES)},
    **{name[:3]: index for index, name in enumerate(_WEEKDAY_NAMES)},
}
_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_duration(text: str) -> timedelta:
    """The positive span that ``text`` names.

    Accepts one or more ``<integer><unit>`` parts, largest unit first and each unit at most
    once, with optional spaces: ``90s``, ``15m``, ``2h``, ``1d``, ``1w``, ``1h30m``, ``2d12h``,
    ``90 s``, ``1 hour 30 mins``. Units: ``s``/``sec``/``secs``/``second(s)``,
    ``m``/``min``/``mins``/``minute(s)``, ``h``/``hr``/``hrs``/``hour(s)``,
    ``d``/``day(s)``, ``w``/``wk``/``wks``/``week(s)``; case-insensitive. Days and weeks are
    exact multiples of 24 hours. Raises UserError for anything else, and for a zero total.
    """
    normalized = _WS.sub(" ", text.strip()).lower()
    if not normalized:
        raise UserError(f"empty duration; use {DURATION_FORMS}")
    delta = _duration_or_none(normalized, text)
    if delta is None:
        raise UserError(f"cannot read duration {text.strip()!r}; use {DURATION_FORMS}")
    if delta <= timedelta(0):
        raise UserError(f"duration {text.strip()!r} is zero; use {DURATION_FORMS}")
    return delta


def _duration_or_none(normalized: str, original: str) -> timedelta | None:
    """The span for a whitespace-normalized, lower-case text, or None when it is not one.

    Raises UserError only when the text has the right shape but a value out of range.
    """
    position = 0
    seconds = 0
    previous_unit: int | None = None
    while position < len(normalized):
        match = _DURATION_PART.match(normalized, position)
        if match is None or match.group(2) not in _UNIT_SECONDS:
            return None
        unit_seconds = _UNIT_SECONDS[match.group(2)]
        # Strictly decreasing units reject typos like '1m30m' instead of guessing.
        if previous_unit is not None and unit_seconds >= previous_unit:
            return None
        previous_unit = unit_seconds
        seconds += int(match.group(1)) * unit_seconds
        position = match.end()
    if previous_unit is None:
        return None
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise UserError(f"the span in {original.strip()!r} is too long") from None


def parse_time(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """The instant ``text`` names, as an aware datetime in UTC (``tzinfo`` is ``UTC``).

    ``now`` (aware) anchors ``now``, relative and wall-clock forms; ``tz`` (the user's zone,
    :func:`timetravel.host.local_zone` at the edge) is the zone of every time written
    without ``Z`` or an offset, and decides which calendar day is "today".
    See the module docstring for the forms.

    Day words pick a local calendar date first, then the wall-clock time on it, so
    ``yesterday 21:30`` is the previous date's 21:30 even across a DST change:

    - ``21:30`` and ``today 21:30`` mean today, even when that is later than ``now``: an
      explicit time means today, and users type ``yesterday 21:30`` for yesterday;
    - ``thursday 21:30`` (or ``thu``) is the most recent Thursday on or before today; when
      today is Thursday and 21:30 is still later than ``now``, it is the Thursday before;
    - ``last thursday 21:30`` is the most recent Thursday strictly before today;
    - a day word alone (``yesterday``, ``thursday``) means 00:00 of that day.

    DST rule for local wall-clock times (that of ``fold=0``): a time in the spring-forward
    gap, which no clock showed, moves forward by the length of the gap (02:30 in a
    02:00->03:00 gap is 03:30 after the change); an ambiguous time in the fall-back overlap
    is its first, earlier occurrence (02:30 in a 03:00->02:00 overlap is 02:30 summer time).

    Raises UserError for input that matches no form, names an impossible date or time, or
    an instant outside the store's range (``times.FIRST_INSTANT`` to ``LAST_INSTANT``:
    years 1000 to 9998); raises ValueError when ``now`` is naive, which is a caller's bug.
    """
    if now.utcoffset() is None:
        raise ValueError("parse_time needs an aware 'now'")
    normalized = _WS.sub(" ", text.strip()).lower()
    if not normalized:
        raise UserError(f"empty time; use {TIME_FORMS}")
    try:
        moment = _parse_normalized(normalized, text.strip(), now, tz)
    except OverflowError:
        moment = None
    if moment is None or not in_supported_range(moment):
        raise UserError(f"time {text.strip()!r} is outside the supported range ({SUPPORTED_RANGE})")
    return moment


def _parse_normalized(text: str, original: str, now: datetime, zone: tzinfo) -> datetime:
    if text == "now":
        return now.astimezone(UTC)
    iso = _ISO.fullmatch(text)
    if iso is not None:
        return _from_iso(iso, original, zone)
    ago = _relative_or_none(text, original)
    if ago is not None:
        return now.astimezone(UTC) - ago
    wall = _wall_clock_or_none(text, original, now, zone)
    if wall is not None:
        return wall
    raise UserError(f"cannot read time {original!r}; use {TIME_FORMS}")


def _from_iso(match: re.Match[str], original: str, zone: tzinfo) -> datetime:
    fraction = (match.group("fraction") or "")[:6].ljust(6, "0")
    try:
        naive = datetime(
            int(match.group("year")),
            int(match.group("month")),
            int(match.group("day")),
            int(match.group("hour") or 0),
            int(match.group("minute") or 0),
            int(match.group("second") or 0),
            int(fraction),
        )
    except ValueError as exc:
        raise UserError(f"invalid time {original!r}: {exc}") from None
    offset = match.group("offset")
    if offset is None:
        return _localize(naive, zone)
    return naive.replace(tzinfo=_fixed_offset(offset, original)).astimezone(UTC)


def _fixed_offset(text: str, original: str) -> tzinfo:
    if text == "z":
        return UTC
    match = _OFFSET.fullmatch(text)
    if match is None:
        raise UserError(f"invalid UTC offset in {original!r}; use 'Z' or '+01:00'")
    hours = int(match.group("hours"))
    minutes = int(match.group("minutes") or 0)
    seconds = int(match.group("seconds") or 0)
    micros = int((match.group("micros") or "").ljust(6, "0"))
    if hours > 23 or minutes > 59 or seconds > 59:
        raise UserError(f"invalid UTC offset in {original!r}; use 'Z' or '+01:00'")
    size = timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micros)
    return timezone(-size if match.group("sign") == "-" else size)


def _relative_or_none(text: str, original: str) -> timedelta | None:
    if text.startswith("-"):
        body = text[1:].lstrip()
    elif text.endswith(" ago"):
        body = text.removesuffix(" ago")
    else:
        return None
    ago = _duration_or_none(body, original)
    if ago is None:
        raise UserError(
            f"cannot read relative time {original!r}; use a duration after '-' or before "
            f"'ago', like '-2h', '90s ago' or '1h30m ago'"
        )
    if ago <= timedelta(0):
        raise UserError(
            f"relative time {original!r} is zero; use 'now' or a positive duration like '-2h'"
        )
    return ago


def _wall_clock_or_none(text: str, original: str, now: datetime, zone: tzinfo) -> datetime | None:
    words = text.split(" ")
    clock = _CLOCK.fullmatch(words[-1])
    day_words = words[:-1] if clock is not None else words
    if clock is not None:
        wall = _clock_time(clock, original)
    elif _day_word(day_words) is not None:
        wall = time(0, 0)
    else:
        return None
    today = now.astimezone(zone).date()
    day = _day_word(day_words)
    if day is None:
        raise UserError(
            f"cannot read day in {original!r}; use today, yesterday, a weekday "
            f"('thursday', 'thu') or 'last thursday' before the time"
        )
    if day == "today":
        return _localize(datetime.combine(today, wall), zone)
    if day == "yesterday":
        return _localize(datetime.combine(today - timedelta(days=1), wall), zone)
    weekday, strict = _WEEKDAYS[day.removeprefix("last ")], day.startswith("last ")
    back = (today.weekday() - weekday) % 7
    if strict and back == 0:
        back = 7
    candidate = _localize(datetime.combine(today - timedelta(days=back), wall), zone)
    if back == 0 and candidate > now:
        candidate = _localize(datetime.combine(today - timedelta(days=7), wall), zone)
    return candidate


def _day_word(words: list[str]) -> str | None:
    """The canonical day word ('today', 'yesterday', 'thu', 'last thu'), or None."""
    if not words:
        return "today"
    if len(words) == 1 and words[0] in ("today", "yesterday"):
        return words[0]
    if len(words) == 1 and words[0] in _WEEKDAYS:
        return words[0]
    if len(words) == 2 and words[0] == "last" and words[1] in _WEEKDAYS:
        return f"last {words[1]}"
    return None


def _clock_time(match: re.Match[str], original: str) -> time:
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    second = int(match.group("second") or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise UserError(
            f"invalid time of day in {original!r}; use HH:MM or HH:MM:SS with hours 0-23 "
            f"and minutes and seconds 0-59"
        )
    return time(hour, minute, second)


def _localize(naive: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a local wall-clock time, by the fold=0 rule.

    With fold=0 a time in a gap takes the offset from before the change, which lands it
    after the gap, shifted forward by the gap's length; an ambiguous time takes the first
    offset, the earlier instant. Any PEP 495 tzinfo (zoneinfo, fixed offsets) agrees.
    """
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def format_local(dt: datetime, tz: tzinfo) -> str:
    """``dt`` for a person: ``'Thu 2026-11-19 22:30:00 CET'`` in ``tz``.

    The weekday is always English whatever the locale, seconds are whole (the fraction is
    dropped), and the zone is its abbreviation, or the numeric offset when it has none.
    Raises ValueError for a naive ``dt``, which is a caller's bug.
    """
    if dt.utcoffset() is None:
        raise ValueError("format_local needs an aware datetime")
    local = dt.astimezone(tz)
    name = local.tzname() or _offset_text(local.utcoffset() or timedelta(0))
    return (
        f"{_DAY_ABBR[local.weekday()]} {local.year:04d}-{local.month:02d}-{local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {name}"
    )


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
