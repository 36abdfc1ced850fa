"""Moments and durations as a person types them (or pastes them), and moments shown back.

Accepted time forms (case-insensitive, surrounding whitespace ignored, inner runs of
whitespace count as one space):

- RFC 3339 / ISO 8601: ``2026-11-19T21:30:00Z``, ``2026-11-19T21:30:00.123+01:00``, a space
  instead of ``T`` (``date -Iseconds`` writes this form); without ``Z`` or an offset the value
  is wall-clock time in the user's zone, and a bare date (``2026-11-19``) is midnight there
  (the zone is passed in);
- ``now``;
- relative past: ``-2h``, ``-1h30m``, ``2h ago``, ``90 s ago``, ``1.5h ago``, ``now-6h``, or a
  duration alone (``2h``, ``1.5h``: that long ago, as ``kubectl logs --since`` reads it), all
  in the :func:`parse_duration` grammar; an exact span of elapsed time: ``-1d`` is 24 hours
  even across a DST change;
- wall clock: ``21:30``, ``21:30:15``, ``9:30pm``, ``9pm``, ``today 21:30``, ``yesterday
  21:30``, ``yesterday at 21:30``, ``thursday 21:30``, ``thu 21:30``, ``last thursday 21:30``;
  a day word alone means 00:00 of that day;
- calendar dates with a month name, in any order, the weekday optional (and checked):
  ``Nov 19 21:30``, ``19 Nov 2026 21:30``, ``November 19, 2026 9:30pm``; without a year, the
  most recent such date on or before today. So the output of ``date`` reads as written:
  ``Wed Dec  2 11:04:33 UTC 2026``, ``Wed, 02 Dec 2026 11:04:33 +0000`` (``date -R``);
- a zone after any of the absolute or wall-clock forms: an IANA name (``21:30 Europe/Berlin``,
  looked up in the tz database), ``UTC``/``GMT``/``Z``, a numeric offset (``+0100``,
  ``-05:00``), or an abbreviation that names one offset only (``CET``, ``CEST``, ``EST``,
  ``PDT``, ``JST``, ... see ``_ABBREVIATIONS``; ``CST``, ``IST``, ``BST`` and the like, which
  name several, are refused with a hint). The zone replaces the user's for that input, the
  calendar day of ``today`` included;
- Unix time: a bare 10-digit number is seconds, a 13-digit one milliseconds
  (``1732000000``, ``1732000000000``; ``@1732000000`` as ``date -d`` writes it);
- a Grafana or Prometheus URL pasted whole (see :func:`parse_moment`): its end is the
  moment, and its range the window.

Instants outside the store's supported range (years 1000 to 9998, UTC) are refused.
Local wall-clock times go through one DST rule (see :func:`parse_time`). Every bad input
raises :class:`~timetravel.errors.UserError` with one line that names what was not
understood and the accepted forms.

The parser is hand-written on purpose: deterministic (it refuses where dateparser guesses)
and ~100x faster than dateparser (issue 25). On a shared 2-core machine the forms typed
most take 2-13 µs (``2026-11-19T21:30:00Z`` ~9, ``21:30`` ~10-19, ``now`` ~2), 1.4x the
parser before the pasted forms came (the clock forms skip the word-by-word walk for that);
``date``'s output ~20 µs, a URL ~13 µs. ``tests/test_timeparse_forms.py::test_speed``
catches a pattern gone quadratic, not a 2x change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from timetravel.domain.times import SUPPORTED_RANGE, in_supported_range
from timetravel.errors import UserError

__all__ = ["Moment", "format_local", "parse_duration", "parse_moment", "parse_time"]

TIME_FORMS = (
    "RFC 3339 ('2026-11-19T21:30:00Z'), 'now', relative ('-2h', '2h ago', '1.5h'), "
    "local time ('21:30', '9:30pm', 'yesterday 21:30', 'thursday 21:30', 'Nov 19 21:30'), "
    "'21:30 UTC', '21:30 Europe/Berlin', epoch seconds, or a Grafana or Prometheus URL"
)
DURATION_FORMS = (
    "a number and a unit (s, m, h, d, w, y; or sec, min, hour, day, week, year), "
    "largest unit first, like '90s', '15m', '2h', '1.5h', '1d', '1h30m'"
)


@dataclass(frozen=True, slots=True)
class Moment:
    """What a time text names: the instant, and the span before it that a pasted dashboard
    URL showed (None for every other form: the caller's default window applies)."""

    at: datetime
    window: timedelta | None = None


_WS = re.compile(r"\s+")
_UNIT_SECONDS: dict[str, int] = {
    word: seconds
    for seconds, words in (
        (31536000, ("y", "yr", "yrs", "year", "years")),
        (604800, ("w", "wk", "wks", "week", "weeks")),
        (86400, ("d", "day", "days")),
        (3600, ("h", "hr", "hrs", "hour", "hours")),
        (60, ("m", "min", "mins", "minute", "minutes")),
        (1, ("s", "sec", "secs", "second", "seconds")),
    )
    for word in words
}
_DURATION_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))? ?([a-z]+) ?", re.ASCII)

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
# A time of day: 21:30, 21:30:15.5, 9:30pm, 9pm (an hour alone needs am or pm).
_CLOCK = re.compile(
    r"(?P<hour>[0-9]{1,2})(?::(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})"
    r"(?:[.,](?P<fraction>[0-9]+))?)?)?(?P<half>am|pm|a\.m\.|p\.m\.)?",
    re.ASCII,
)
_EPOCH = re.compile(r"@?([0-9]{10}|[0-9]{13})", re.ASCII)
_DAY_NUMBER = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)?", re.ASCII)
_YEAR = re.compile(r"[0-9]{4}", re.ASCII)
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)+", re.ASCII)
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS: dict[str, int] = {
    **{name: index for index, name in enumerate(_WEEKDAY_NAMES)},
    **{name[:3]: index for index, name in enumerate(_WEEKDAY_NAMES)},
}
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS: dict[str, int] = {
    **{name: index + 1 for index, name in enumerate(_MONTH_NAMES)},
    **{name[:3]: index + 1 for index, name in enumerate(_MONTH_NAMES)},
    "sept": 9,
}
_DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Zone abbreviations that name one UTC offset (minutes east), as `date` prints them. Those
# that name several (CST: US Central, China, Cuba; IST: India, Ireland, Israel; BST:
# British Summer, Bangladesh; AST/ADT: Atlantic, Arabia; CDT: US Central, Cuba; IDT) are
# refused rather than guessed.
_ABBREVIATIONS: dict[str, int] = {
    "utc": 0,
    "gmt": 0,
    "ut": 0,
    "z": 0,
    "wet": 0,
    "west": 60,
    "cet": 60,
    "cest": 120,
    "met": 60,
    "mest": 120,
    "eet": 120,
    "eest": 180,
    "msk": 180,
    "wat": 60,
    "cat": 120,
    "sast": 120,
    "eat": 180,
    "pkt": 300,
    "wib": 420,
    "hkt": 480,
    "awst": 480,
    "jst": 540,
    "kst": 540,
    "acst": 570,
    "acdt": 630,
    "aest": 600,
    "aedt": 660,
    "nzst": 720,
    "nzdt": 780,
    "nst": -210,
    "ndt": -150,
    "est": -300,
    "edt": -240,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "akst": -540,
    "akdt": -480,
    "hst": -600,
}
_AMBIGUOUS: dict[str, str] = {
    "cst": "US Central, China or Cuba",
    "cdt": "US Central or Cuba",
    "ist": "India, Ireland or Israel",
    "idt": "Israel or Ireland",
    "bst": "British Summer or Bangladesh",
    "ast": "Atlantic or Arabia",
    "adt": "Atlantic or Arabia",
}


def parse_duration(text: str) -> timedelta:
    """The positive span that ``text`` names.

    Accepts one or more ``<number><unit>`` parts, largest unit first and each unit at most
    once, with optional spaces: ``90s``, ``15m``, ``2h``, ``1.5h``, ``1d``, ``1w``, ``1h30m``,
    ``2d12h``, ``90 s``, ``1 hour 30 mins``. A number is whole or decimal (``1.5h`` is 90
    minutes, ``0.25d`` 6 hours; below a microsecond is dropped). Units:
    ``s``/``sec``/``secs``/``second(s)``, ``m``/``min``/``mins``/``minute(s)``,
    ``h``/``hr``/``hrs``/``hour(s)``, ``d``/``day(s)``, ``w``/``wk``/``wks``/``week(s)``,
    ``y``/``yr``/``yrs``/``year(s)``; case-insensitive. Days, weeks and years are exact
    multiples of 24 hours (a year is 365 days, as Prometheus counts it). Raises UserError
    for anything else, and for a zero total.
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
    micros = 0
    previous_unit: int | None = None
    while position < len(normalized):
        match = _DURATION_PART.match(normalized, position)
        if match is None or match.group(3) not in _UNIT_SECONDS:
            return None
        unit_seconds = _UNIT_SECONDS[match.group(3)]
        # Strictly decreasing units reject typos like '1m30m' instead of guessing.
        if previous_unit is not None and unit_seconds >= previous_unit:
            return None
        previous_unit = unit_seconds
        fraction = match.group(2)
        if fraction is None:
            micros += int(match.group(1)) * unit_seconds * 1_000_000
        else:
            # Integers only: 1.1h is 3,960 s exactly, not 3959.9999 as a float would say.
            scale = 10 ** len(fraction)
            whole = int(match.group(1)) * scale + int(fraction)
            micros += whole * unit_seconds * 1_000_000 // scale
        position = match.end()
    if previous_unit is None:
        return None
    try:
        return timedelta(microseconds=micros)
    except OverflowError:
        raise UserError(f"the span in {original.strip()!r} is too long") from None


def parse_time(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """The instant ``text`` names, as an aware datetime in UTC (``tzinfo`` is ``UTC``).

    ``now`` (aware) anchors ``now``, relative and wall-clock forms; ``tz`` (the user's zone,
    :func:`timetravel.host.local_zone` at the edge) is the zone of every time written
    without ``Z``, an offset or a zone name, and decides which calendar day is "today".
    See the module docstring for the forms; a pasted URL names its end (see
    :func:`parse_moment` for its window).

    Day words pick a local calendar date first, then the wall-clock time on it, so
    ``yesterday 21:30`` is the previous date's 21:30 even across a DST change:

    - ``21:30`` and ``today 21:30`` mean today, even when that is later than ``now``: an
      explicit time means today, and users type ``yesterday 21:30`` for yesterday;
    - ``thursday 21:30`` (or ``thu``) is the most recent Thursday on or before today; when
      today is Thursday and 21:30 is still later than ``now``, it is the Thursday before;
    - ``last thursday 21:30`` is the most recent Thursday strictly before today;
    - a day word alone (``yesterday``, ``thursday``) means 00:00 of that day;
    - a month and day without a year (``Nov 19 21:30``) is this year's, unless that date is
      after today: then last year's (the most recent one, for Feb 29).

    DST rule for local wall-clock times (that of ``fold=0``): a time in the spring-forward
    gap, which no clock showed, moves forward by the length of the gap (02:30 in a
    02:00->03:00 gap is 03:30 after the change); an ambiguous time in the fall-back overlap
    is its first, earlier occurrence (02:30 in a 03:00->02:00 overlap is 02:30 summer time).
    The same rule holds in a zone named in the text (``02:30 Europe/Berlin``); an
    abbreviation or offset (``CEST``, ``+0200``) is one fixed offset and has neither.

    Raises UserError for input that matches no form, names an impossible date or time, or
    an instant outside the store's range (``times.FIRST_INSTANT`` to ``LAST_INSTANT``:
    years 1000 to 9998); raises ValueError when ``now`` is naive, which is a caller's bug.
    """
    return parse_moment(text, now=now, tz=tz).at


def parse_moment(text: str, *, now: datetime, tz: tzinfo) -> Moment:
    """:func:`parse_time`, and the window when ``text`` is a dashboard URL pasted whole.

    - Grafana (``/d/...?from=...&to=...``, and Explore's ``"range":{"from":...,"to":...}``):
      ``from`` and ``to`` are epoch milliseconds, ``now``, ``now-6h`` or RFC 3339 (without an
      offset: the user's zone; Grafana's rounding, ``now/d``, and months, ``now-1M``, are
      refused). A missing ``to`` is ``now``, a missing ``from`` is ``now-6h`` (Grafana's).
    - Prometheus (``/graph?g0.expr=...``; the first panel, ``g0``): ``g0.end_input`` (or,
      without it, ``g0.moment_input``) is the end, written in UTC as Prometheus shows it
      (``2026-11-19 21:30:00``), else now; ``g0.range_input`` (``1h``) the range.

    The moment is the end of the range (``to``): the state the dashboard showed last, and
    what an incident's graph is usually scrolled to; the window is the range's length
    (``to - from``), so an export's window (that long before and after) covers all of it.
    """
    if now.utcoffset() is None:
        raise ValueError("parse_time needs an aware 'now'")
    stripped = text.strip()
    normalized = _WS.sub(" ", stripped).lower()
    if not normalized:
        raise UserError(f"empty time; use {TIME_FORMS}")
    try:
        if "?" in stripped and " " not in _WS.sub(" ", stripped).split("?")[0]:
            moment = _from_url(stripped, now, tz)
        else:
            moment = Moment(_parse_normalized(normalized, stripped, now, tz))
    except OverflowError:
        moment = None
    if moment is None or not in_supported_range(moment.at):
        raise UserError(f"time {stripped!r} is outside the supported range ({SUPPORTED_RANGE})")
    if moment.window is not None and not in_supported_range(moment.at - moment.window):
        raise UserError(
            f"the range in {stripped!r} starts outside the supported range ({SUPPORTED_RANGE})"
        )
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
    epoch = _EPOCH.fullmatch(text)
    if epoch is not None:
        digits = epoch.group(1)
        micros = int(digits) * (1000 if len(digits) == 13 else 1_000_000)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    bare = _duration_or_none(text, original) if text[0].isdigit() else None
    if bare is not None:
        if bare <= timedelta(0):
            raise UserError(
                f"relative time {original!r} is zero; use 'now' or a positive duration like '2h'"
            )
        return now.astimezone(UTC) - bare
    return _from_words(text, original, now, zone)


def _from_iso(
    match: re.Match[str], original: str, zone: tzinfo, *, named: bool = False
) -> datetime:
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
    if named:
        raise UserError(f"{original!r} has both an offset and a zone; give one")
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
    elif text.startswith("now-") or text.startswith("now -"):
        body = text[4:].lstrip(" -")
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


# -- words: wall clock, day words, calendar dates, zones -------------------------------------


@dataclass(slots=True)
class _Words:
    """What the words of a time say, each at most once."""

    clock: time | None = None
    day_word: str | None = None  # today, yesterday, a weekday key, 'last <weekday>'
    weekday: int | None = None  # a weekday beside a date: checked, not used
    month: int | None = None
    day: int | None = None
    year: int | None = None
    zone: tzinfo | None = None


def _from_words(text: str, original: str, now: datetime, zone: tzinfo) -> datetime:
    """The wall-clock, day-word and calendar forms, with an optional zone among the words."""
    simple = _SIMPLE_WALL.fullmatch(text)
    if simple is not None and (simple.group("day") or "today") in _DAY_WORDS:
        # The forms typed most ('21:30', 'yesterday 21:30'), without the word-by-word walk:
        # it doubles their cost (~5 -> ~10 µs).
        clock = _CLOCK.fullmatch(simple.group("clock"))
        assert clock is not None
        wall = _clock_time(clock, None, original)
        return _on_day(simple.group("day") or "today", wall, now, zone)
    # Commas are separators here ('Wed, 02 Dec 2026', 'November 19, 2026'); in an ISO
    # fraction ('21:30:00,5') they were read above.
    cased = _WS.sub(" ", original.replace(",", " ")).strip().split(" ")
    tokens = text.replace(",", " ").split()
    words = _Words()
    rest: list[str] = []
    for token, as_written in zip(tokens, cased, strict=True):
        named = _zone_or_none(token, as_written, original)
        if named is None:
            rest.append(token)
        elif words.zone is not None:
            raise UserError(f"{original!r} names two zones; give one")
        else:
            words.zone = named
    if words.zone is not None:
        zone = words.zone
        iso = _ISO.fullmatch(" ".join(rest))
        if iso is not None:
            return _from_iso(iso, original, zone, named=True)
    index = 0
    while index < len(rest):
        token = rest[index]
        if token == "last" and index + 1 < len(rest) and rest[index + 1] in _WEEKDAYS:
            if words.day_word is not None:
                raise UserError(f"{original!r} names the day twice; give one")
            words.day_word = f"last {rest[index + 1]}"
            index += 2
            continue
        _read_word(words, token, rest[index + 1 :], original)
        index += 1
    today = now.astimezone(zone).date()
    wall = words.clock or time(0, 0)
    if words.month is not None:
        return _localize(datetime.combine(_calendar_date(words, today, original), wall), zone)
    if words.day is not None or words.year is not None:
        raise UserError(
            f"cannot read date in {original!r}: a day needs a month name "
            f"('Nov 19 21:30', '19 Nov 2026') or use 2026-11-19"
        )
    if words.clock is None and words.day_word is None:
        raise UserError(f"cannot read time {original!r}; use {TIME_FORMS}")
    return _on_day(words.day_word or "today", wall, now, zone)


def _on_day(day: str, wall: time, now: datetime, zone: tzinfo) -> datetime:
    """``wall`` on the day a day word names (``today``, ``yesterday``, ``thu``, ``last thu``)."""
    today = now.astimezone(zone).date()
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


_AM_PM = ("am", "pm", "a.m.", "p.m.")
_DAY_WORDS = frozenset(("today", "yesterday", *_WEEKDAYS, *(f"last {name}" for name in _WEEKDAYS)))
_SIMPLE_WALL = re.compile(
    r"(?:(?P<day>[a-z]+(?: [a-z]+)?) )?(?P<clock>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)", re.ASCII
)


def _read_word(words: _Words, token: str, after: list[str], original: str) -> None:
    """Note what ``token`` says in ``words``; UserError naming it when it says nothing."""
    if token == "at" or token in _AM_PM:
        if token == "at" and after:
            return
        if token in _AM_PM and words.clock is not None:
            return  # read with its clock
        raise UserError(f"cannot read {token!r} in {original!r}; use {TIME_FORMS}")
    if token == "last":
        raise _day_error(original, token)  # 'last' and a weekday were read together
    if token in ("today", "yesterday"):
        if words.day_word is not None:
            raise UserError(f"{original!r} names the day twice; give one")
        words.day_word = token
        return
    if token in _WEEKDAYS:
        if words.day_word is not None:
            raise _day_error(original, token)
        words.day_word = token
        words.weekday = _WEEKDAYS[token]
        return
    if token in _MONTHS:
        if words.month is not None:
            raise UserError(f"{original!r} names the month twice; give one")
        words.month = _MONTHS[token]
        return
    iso_date = _ISO_DATE.fullmatch(token)
    if iso_date is not None and words.month is None:
        words.year, words.month, words.day = (int(part) for part in iso_date.groups())
        return
    if _YEAR.fullmatch(token) and words.year is None:
        words.year = int(token)
        return
    clock = _CLOCK.fullmatch(token)
    if clock is not None and _is_clock(token):
        if words.clock is not None:
            raise UserError(f"{original!r} names the time of day twice; give one")
        half = clock.group("half") or (after[0] if after and after[0] in _AM_PM else None)
        words.clock = _clock_time(clock, half, original)
        return
    day = _DAY_NUMBER.fullmatch(token)
    if day is not None and words.day is None:
        words.day = int(day.group(1))
        return
    if token in _AMBIGUOUS:
        raise UserError(
            f"zone abbreviation {token.upper()!r} in {original!r} names several zones "
            f"({_AMBIGUOUS[token]}); use a zone name (America/Chicago) or an offset (-06:00)"
        )
    if words.clock is not None or any(_is_clock(word) for word in after):
        raise _day_error(original, token)
    what = f"time {original!r}" if token == original.lower() else f"{token!r} in {original!r}"
    raise UserError(f"cannot read {what}; use {TIME_FORMS}")


def _is_clock(word: str) -> bool:
    clock = _CLOCK.fullmatch(word)
    return clock is not None and bool(clock.group("minute") or clock.group("half"))


def _day_error(original: str, token: str) -> UserError:
    return UserError(
        f"cannot read day {token!r} in {original!r}; use today, yesterday, a weekday "
        f"('thursday', 'thu'), 'last thursday' or a date ('Nov 19') before the time"
    )


def _calendar_date(words: _Words, today: date, original: str) -> date:
    if words.day_word is not None and words.weekday is None:
        raise UserError(f"{original!r} names a day word and a date; give one")
    if words.day is None:
        raise UserError(f"cannot read date in {original!r}: a month needs a day ('Nov 19')")
    month, day = words.month or 1, words.day
    if words.year is not None:
        years: range | list[int] = [words.year]
    else:
        # This year's, unless it is still to come: then the most recent one (Feb 29: up to
        # eight years back, past a skipped leap year such as 2100).
        years = range(today.year, today.year - 9, -1)
    found: date | None = None
    for year in years:
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if words.year is not None or candidate <= today:
            found = candidate
            break
    if found is None:
        raise UserError(f"invalid date in {original!r}: no day {day} in that month")
    if words.weekday is not None and found.weekday() != words.weekday:
        raise UserError(
            f"{original!r}: {found.isoformat()} is a {_WEEKDAY_NAMES[found.weekday()].title()}, "
            f"not a {_WEEKDAY_NAMES[words.weekday].title()}"
        )
    return found


def _clock_time(match: re.Match[str], half: str | None, original: str) -> time:
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    second = int(match.group("second") or 0)
    micros = int((match.group("fraction") or "")[:6].ljust(6, "0"))
    if half is not None:
        if not 1 <= hour <= 12:
            raise UserError(
                f"invalid time of day in {original!r}: with am or pm the hour is 1-12 "
                f"('9:30pm', '12am')"
            )
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise UserError(
            f"invalid time of day in {original!r}; use HH:MM or HH:MM:SS with hours 0-23 "
            f"and minutes and seconds 0-59"
        )
    return time(hour, minute, second, micros)


def _zone_or_none(token: str, as_written: str, original: str) -> tzinfo | None:
    """The zone a word names (an abbreviation, an offset, an IANA name), or None."""
    minutes = _ABBREVIATIONS.get(token)
    if minutes is not None:
        return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))
    if token[0] in "+-" and _OFFSET.fullmatch(token):
        return _fixed_offset(token, original)
    if "/" in token and _ZONE_NAME.fullmatch(as_written):
        found = zone_named(as_written) or zone_named(_title_zone(as_written))
        if found is None:
            raise UserError(
                f"unknown time zone {as_written!r} in {original!r}; use a tz database name "
                f"(Europe/Berlin, America/New_York), UTC or an offset (+01:00)"
            )
        return found
    return None


def _title_zone(name: str) -> str:
    """``europe/berlin`` as the tz database spells it: ``Europe/Berlin``."""
    return "/".join(
        "_".join(word[:1].upper() + word[1:].lower() for word in part.split("_"))
        for part in name.split("/")
    )


def zone_named(name: str) -> tzinfo | None:
    """The tz database's zone ``name`` (``Europe/Berlin``), or None when it has none.

    The tz database is reference data, the same on every machine of one release, like
    Unicode's tables: a zone named in the text decides, never the environment's.
    """
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return None


# -- dashboard URLs ----------------------------------------------------------------------------

_EXPLORE_RANGE = re.compile(r'"range"\s*:\s*\{\s*"from"\s*:\s*"([^"]*)"\s*,\s*"to"\s*:\s*"([^"]*)"')
_PROMETHEUS_KEY = re.compile(r"g([0-9]+)\.(end_input|moment_input|range_input)")
_GRAFANA_RELATIVE = re.compile(r"now(?:-([0-9]+(?:\.[0-9]+)?)([smhdwMy]))?(/[smhdwMy])?")
_GRAFANA_UNITS = {"s": "s", "m": "m", "h": "h", "d": "d", "w": "w", "y": "y"}


def _from_url(url: str, now: datetime, zone: tzinfo) -> Moment:
    shown = url if len(url) <= 80 else url[:77] + "..."
    query = urlsplit(url).query
    params = parse_qs(query, keep_blank_values=True)

    def one(key: str) -> str | None:
        values = params.get(key)
        return values[0].strip() if values else None

    start, end = one("from"), one("to")
    if start is None and end is None:
        explore = _EXPLORE_RANGE.search(unquote(query))
        if explore is not None:
            start, end = explore.group(1), explore.group(2)
    if start is not None or end is not None:
        to = _grafana_time(end or "now", shown, now, zone)
        since = _grafana_time(start or "now-6h", shown, now, zone)
        if since >= to:
            raise UserError(f"the range in URL {shown!r} is empty: 'from' is not before 'to'")
        return Moment(to, to - since)
    panels = sorted(
        {int(m.group(1)) for key in params if (m := _PROMETHEUS_KEY.fullmatch(key)) is not None}
    )
    if not panels:
        raise UserError(
            f"cannot read a time range in URL {shown!r}: expected Grafana's from= and to= or "
            f"Prometheus's g0.end_input= and g0.range_input="
        )
    panel = f"g{panels[0]}"
    end_input = one(f"{panel}.end_input") or one(f"{panel}.moment_input")
    at = now.astimezone(UTC)
    if end_input:
        # Prometheus writes its times in UTC (unless its 'local time' setting is on).
        at = _parse_normalized(_WS.sub(" ", end_input).lower(), end_input, now, UTC)
    range_input = one(f"{panel}.range_input")
    window = None
    if range_input:
        window = _duration_or_none(_WS.sub(" ", range_input).lower(), range_input)
        if window is None or window <= timedelta(0):
            raise UserError(
                f"cannot read {panel}.range_input {range_input!r} in URL {shown!r}; "
                f"use {DURATION_FORMS}"
            )
    return Moment(at, window)


def _grafana_time(value: str, shown: str, now: datetime, zone: tzinfo) -> datetime:
    """A Grafana ``from``/``to`` value: epoch milliseconds, ``now-6h`` or an ISO time."""
    if value.isdigit():
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(value))
    relative = _GRAFANA_RELATIVE.fullmatch(value)
    if relative is not None:
        count, unit, rounding = relative.groups()
        if rounding is not None or unit == "M":
            raise UserError(
                f"cannot read {value!r} in URL {shown!r}: Grafana's rounding ('/d') and months "
                f"('now-1M') are not read; use epoch milliseconds or now-6h"
            )
        if count is None:
            return now.astimezone(UTC)
        ago = _duration_or_none(f"{count}{_GRAFANA_UNITS[unit]}", value)
        return now.astimezone(UTC) - (ago or timedelta(0))
    iso = _ISO.fullmatch(_WS.sub(" ", value).lower())
    if iso is None:
        raise UserError(
            f"cannot read {value!r} in URL {shown!r}; Grafana's from and to are epoch "
            f"milliseconds, now, now-6h or RFC 3339"
        )
    return _from_iso(iso, value, zone)


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
