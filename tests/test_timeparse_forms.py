"""The time forms people paste (issue 25): zones, am/pm, month names, epoch, `date`'s
output, decimal durations, day words with "at", dashboard URLs; their errors, properties
and speed. The forms typed before them are in tests/test_timeparse.py."""

from __future__ import annotations

import contextlib
import time as clock
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from timetravel.cli import cli
from timetravel.commands.options import at_and_window
from timetravel.domain.timeparse import Moment, parse_duration, parse_moment, parse_time
from timetravel.domain.times import DEFAULT_WINDOW
from timetravel.errors import UserError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 2026-12-02, 12:00 CET (11:00 UTC).
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=BERLIN)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def at(text: str) -> datetime:
    return parse_time(text, now=NOW, tz=BERLIN)


# --- each form ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A zone after the time: its calendar day and its clock.
        ("21:30 UTC", utc(2026, 12, 2, 21, 30)),
        ("21:30 utc", utc(2026, 12, 2, 21, 30)),
        ("21:30 GMT", utc(2026, 12, 2, 21, 30)),
        ("21:30 Z", utc(2026, 12, 2, 21, 30)),
        ("21:30 Europe/Berlin", berlin(2026, 12, 2, 21, 30)),
        ("21:30 europe/berlin", berlin(2026, 12, 2, 21, 30)),
        ("21:30 America/New_York", utc(2026, 12, 3, 2, 30)),
        ("21:30 america/new_york", utc(2026, 12, 3, 2, 30)),
        ("21:30 Asia/Kolkata", utc(2026, 12, 2, 16, 0)),
        ("21:30 +0530", utc(2026, 12, 2, 16, 0)),
        ("21:30 -05:00", utc(2026, 12, 3, 2, 30)),
        ("21:30 EST", utc(2026, 12, 3, 2, 30)),
        ("21:30 PDT", utc(2026, 12, 3, 4, 30)),
        ("21:30 CEST", utc(2026, 12, 2, 19, 30)),
        ("yesterday 21:30 UTC", utc(2026, 12, 1, 21, 30)),
        ("2026-11-19 21:30 Europe/Berlin", berlin(2026, 11, 19, 21, 30)),
        ("2026-11-19T21:30:00 UTC", utc(2026, 11, 19, 21, 30)),
        ("2026-11-19 21:30 America/New_York", utc(2026, 11, 20, 2, 30)),
        # am/pm.
        ("9:30pm", berlin(2026, 12, 2, 21, 30)),
        ("9:30 pm", berlin(2026, 12, 2, 21, 30)),
        ("9:30PM", berlin(2026, 12, 2, 21, 30)),
        ("9pm", berlin(2026, 12, 2, 21, 0)),
        ("9am", berlin(2026, 12, 2, 9, 0)),
        ("12am", berlin(2026, 12, 2, 0, 0)),
        ("12pm", berlin(2026, 12, 2, 12, 0)),
        ("12:15 a.m.", berlin(2026, 12, 2, 0, 15)),
        ("yesterday 9pm", berlin(2026, 12, 1, 21, 0)),
        ("yesterday at 9:30pm", berlin(2026, 12, 1, 21, 30)),
        # Month names: this year's unless still to come.
        ("Nov 19 21:30", berlin(2026, 11, 19, 21, 30)),
        ("nov 19 21:30", berlin(2026, 11, 19, 21, 30)),
        ("November 19 21:30", berlin(2026, 11, 19, 21, 30)),
        ("19 Nov 21:30", berlin(2026, 11, 19, 21, 30)),
        ("19 Nov 2026 21:30", berlin(2026, 11, 19, 21, 30)),
        ("19 November 2026, 9:30pm", berlin(2026, 11, 19, 21, 30)),
        ("November 19, 2026 21:30", berlin(2026, 11, 19, 21, 30)),
        ("Nov 19th 21:30", berlin(2026, 11, 19, 21, 30)),
        ("Sept 1 08:00", berlin(2026, 9, 1, 8, 0)),
        ("Nov 19", berlin(2026, 11, 19)),
        ("Dec 2 21:30", berlin(2026, 12, 2, 21, 30)),  # today: an explicit time means today
        ("Dec 25", berlin(2025, 12, 25)),  # still to come this year: last year's
        ("Feb 29", berlin(2024, 2, 29)),  # the most recent one
        ("Nov 19 2025 21:30 UTC", utc(2025, 11, 19, 21, 30)),
        # Unix time.
        ("1732000000", datetime.fromtimestamp(1732000000, UTC)),
        ("1732000000123", datetime.fromtimestamp(1732000000.123, UTC)),
        ("@1732000000", datetime.fromtimestamp(1732000000, UTC)),
        # The output of date: default (C and en_US locales), -R, -Iseconds, --rfc-3339.
        ("Wed Dec  2 11:04:33 UTC 2026", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed Dec 2 12:04:33 CET 2026", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed Dec  2 06:04:33 EST 2026", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed Dec  2 11:04:33 AM UTC 2026", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed  2 Dec 11:04:33 UTC 2026", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed Dec  2 20:04:33 +09 2026", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed, 02 Dec 2026 11:04:33 +0000", utc(2026, 12, 2, 11, 4, 33)),
        ("Wed, 02 Dec 2026 12:04:33 +0100", utc(2026, 12, 2, 11, 4, 33)),
        ("2026-12-02T11:04:33+00:00", utc(2026, 12, 2, 11, 4, 33)),
        ("2026-12-02 12:04:33+01:00", utc(2026, 12, 2, 11, 4, 33)),
        # Durations alone and with decimals: that long ago.
        ("1.5h", NOW - timedelta(hours=1, minutes=30)),
        ("-1.5h", NOW - timedelta(hours=1, minutes=30)),
        ("1.5h ago", NOW - timedelta(hours=1, minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("90s", NOW - timedelta(seconds=90)),
        ("now-6h", NOW - timedelta(hours=6)),
        ("now - 6h", NOW - timedelta(hours=6)),
        # Day words with "at".
        ("yesterday at 21:30", berlin(2026, 12, 1, 21, 30)),
        ("today at 08:00", berlin(2026, 12, 2, 8, 0)),
        ("at 08:00", berlin(2026, 12, 2, 8, 0)),
        ("thursday 21:30", berlin(2026, 11, 26, 21, 30)),
        ("thursday at 9:30pm", berlin(2026, 11, 26, 21, 30)),
        ("last wed at 21:30", berlin(2026, 11, 25, 21, 30)),
    ],
)
def test_pasted_forms(text: str, expected: datetime) -> None:
    result = at(text)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0.25d", timedelta(hours=6)),
        ("1.1h", timedelta(seconds=3960)),
        ("2.5 hours", timedelta(hours=2, minutes=30)),
        ("1h 0.5m", timedelta(hours=1, seconds=30)),
        ("0.0000001s", None),
        ("1y", timedelta(days=365)),
        ("1.5w", timedelta(days=10, hours=12)),
    ],
)
def test_decimal_durations(text: str, expected: timedelta | None) -> None:
    if expected is None:
        with pytest.raises(UserError, match="zero"):
            parse_duration(text)
    else:
        assert parse_duration(text) == expected


# --- dashboard URLs -------------------------------------------------------------------------

EPOCH_1732 = datetime.fromtimestamp(1732000000, UTC)  # 2024-11-19T07:06:40Z
GRAFANA = "https://grafana.example.com/d/abc123/payments?orgId=1&var-ns=payments"
PROMETHEUS = "http://prometheus:9090/graph?g0.expr=rate(http_requests_total%5B5m%5D)&g0.tab=0"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{GRAFANA}&from=1732000000000&to=1732003600000", (EPOCH_1732 + timedelta(hours=1), 3600)),
        (f"{GRAFANA}&from=now-6h&to=now", (NOW.astimezone(UTC), 6 * 3600)),
        (f"{GRAFANA}&from=now-1.5h&to=now-30m", (NOW - timedelta(minutes=30), 3600)),
        (f"{GRAFANA}&from=now-2d&to=now-1d", (NOW - timedelta(days=1), 86400)),
        (
            f"{GRAFANA}&from=1732000000000&to=now",
            (NOW.astimezone(UTC), (NOW - EPOCH_1732).total_seconds()),
        ),
        (
            f"{GRAFANA}&from=2026-11-19T20:00:00.000Z&to=2026-11-19T22:00:00.000Z",
            (utc(2026, 11, 19, 22), 7200),
        ),
        (
            f"{GRAFANA}&from=2026-11-19T20:00:00&to=2026-11-19T22:00:00",
            (berlin(2026, 11, 19, 22), 7200),
        ),
        (f"{GRAFANA}&to=now", (NOW.astimezone(UTC), 6 * 3600)),
        (
            'https://grafana.example.com/explore?orgId=1&left={"datasource":"prom","queries":[],'
            '"range":{"from":"now-1h","to":"now"}}',
            (NOW.astimezone(UTC), 3600),
        ),
        (
            "https://grafana.example.com/explore?panes=%7B%22a%22:%7B%22range%22:%7B%22from%22:"
            "%221732000000000%22,%22to%22:%221732003600000%22%7D%7D%7D",
            (EPOCH_1732 + timedelta(hours=1), 3600),
        ),
        (
            f"{PROMETHEUS}&g0.range_input=1h&g0.end_input=2026-11-19%2021%3A30%3A00"
            "&g0.moment_input=2026-11-19%2021%3A30%3A00",
            (utc(2026, 11, 19, 21, 30), 3600),
        ),
        (
            f"{PROMETHEUS}&g0.range_input=30m&g0.end_input=2026-11-19+21:30:00",
            (utc(2026, 11, 19, 21, 30), 1800),
        ),
        (f"{PROMETHEUS}&g0.range_input=2d", (NOW.astimezone(UTC), 2 * 86400)),
        (
            "http://prometheus:9090/graph?g0.expr=up&g0.tab=1&g0.moment_input=2026-11-19%2021%3A30%3A00",
            (utc(2026, 11, 19, 21, 30), None),
        ),
        (
            "http://prometheus:9090/graph?g1.expr=up&g1.range_input=1h&g1.end_input=2026-11-19%2021:30:00",
            (utc(2026, 11, 19, 21, 30), 3600),
        ),
    ],
)
def test_dashboard_urls(url: str, expected: tuple[datetime, float | None]) -> None:
    moment = parse_moment(url, now=NOW, tz=BERLIN)
    end, seconds = expected
    assert moment.at == end
    assert moment.window == (None if seconds is None else timedelta(seconds=seconds))
    assert parse_time(url, now=NOW, tz=BERLIN) == moment.at


def test_other_forms_have_no_window() -> None:
    for text in ("21:30", "now", "-2h", "Nov 19 21:30", "1732000000"):
        assert parse_moment(text, now=NOW, tz=BERLIN).window is None


def test_window_from_a_url_unless_given() -> None:
    url = f"{GRAFANA}&from=now-6h&to=now-1h"
    assert at_and_window(url, None, now=NOW) == (NOW - timedelta(hours=1), timedelta(hours=5))
    assert at_and_window(url, "15m", now=NOW) == (NOW - timedelta(hours=1), timedelta(minutes=15))
    assert at_and_window("-2h", None, now=NOW) == (NOW - timedelta(hours=2), DEFAULT_WINDOW)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("21:30 CST", "'CST'"),
        ("21:30 IST", "'IST'"),
        ("21:30 BST", "'BST'"),
        ("21:30 Europe/Berln", "'Europe/Berln'"),
        ("21:30 UTC CET", "two zones"),
        ("2026-11-19T21:30:00Z UTC", "offset and a zone"),
        ("13pm", "1-12"),
        ("0am", "1-12"),
        ("9 pm pm", "'pm'"),
        ("Nov 21:30", "needs a day"),
        ("19 21:30", "month"),
        ("Nov 31 21:30", "no day 31"),
        ("Thu Dec  2 11:04:33 UTC 2026", "Wednesday, not a Thursday"),
        ("yesterday Nov 19", "day word and a date"),
        ("today yesterday 21:30", "twice"),
        ("21:30 22:30", "twice"),
        ("Nov Dec 19", "twice"),
        ("tomorrow 21:30", "'tomorrow'"),
        ("next friday", "'next'"),
        ("Nov 19 quux", "'quux'"),
        ("at", "'at'"),
        ("12345678901", "12345678901"),
        ("173200000", "173200000"),
        ("0h", "zero"),
        (f"{GRAFANA}&from=now/d&to=now", "rounding"),
        (f"{GRAFANA}&from=now-1M&to=now", "months"),
        (f"{GRAFANA}&from=yesterday&to=now", "'yesterday'"),
        (f"{GRAFANA}&from=now&to=now-1h", "not before"),
        (GRAFANA, "time range"),
        (f"{PROMETHEUS}&g0.range_input=soon", "range_input"),
        (f"{PROMETHEUS}&g0.end_input=whenever", "'whenever'"),
        (f"{GRAFANA}&from=-62135596800000&to=now", "from"),
    ],
)
def test_unreadable_times_say_what_was_not_understood(text: str, named: str) -> None:
    with pytest.raises(UserError) as info:
        at(text)
    message = str(info.value)
    assert named in message
    assert "\n" not in message


def test_an_unknown_word_lists_accepted_forms() -> None:
    with pytest.raises(UserError) as info:
        at("Nov 19 quux")
    message = str(info.value)
    assert "'quux'" in message
    for form in ("'2026-11-19T21:30:00Z'", "'-2h'", "'9:30pm'", "'Nov 19 21:30'", "'21:30 UTC'"):
        assert form in message


def test_the_cli_exits_2_with_one_line(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["export", "--at", "Nov 19 quux", "--db", "x.db"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines() if result.stderr else result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("timetravel: error: cannot read 'quux' in 'Nov 19 quux'")


# --- DST: the stated rule holds in a named zone ------------------------------------------------


def test_named_zone_follows_the_dst_rule() -> None:
    # 2026-03-29 02:30 never happened in Berlin: forward by the gap (03:30 CEST).
    assert at("2026-03-29 02:30 Europe/Berlin") == utc(2026, 3, 29, 1, 30)
    # 2026-10-25 02:30 happened twice: the first (CEST).
    assert at("Oct 25 2026 02:30 Europe/Berlin") == utc(2026, 10, 25, 0, 30)
    # An abbreviation is one offset: no gap, no overlap.
    assert at("Oct 25 2026 02:30 CET") == utc(2026, 10, 25, 1, 30)


# --- properties ---------------------------------------------------------------------------------

_ZONES = [BERLIN, NEW_YORK, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Adelaide"), UTC]
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda dt: dt.replace(microsecond=0))


def _month(dt: datetime) -> str:
    return ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[
        dt.month - 1
    ]


def _weekday(dt: datetime) -> str:
    return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[dt.weekday()]


def _offset(dt: datetime) -> str:
    offset = dt.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


@settings(deadline=None, max_examples=300)
@given(moments, st.sampled_from(_ZONES))
def test_date_outputs_round_trip(moment: datetime, zone: ZoneInfo) -> None:
    """What `date`, `date -R`, `date -Iseconds` and a zone name write for an instant names it."""
    local = moment.astimezone(zone)
    name = zone.key if isinstance(zone, ZoneInfo) else "UTC"
    clock_text = f"{local:%H:%M:%S}"
    written = [
        # date's default (C locale), with a numeric zone as date writes one without a name.
        f"{_weekday(local)} {_month(local)} {local.day:2d} {clock_text} {_offset(local)} {local.year}",
        # date -R
        f"{_weekday(local)}, {local.day:02d} {_month(local)} {local.year} {clock_text} {_offset(local)}",
        # date -Iseconds
        local.isoformat(timespec="seconds"),
        # a zone's name after a date and a wall-clock time (fold=0 is the rule: only the
        # first of two ambiguous times is named this way)
        f"{local.year}-{local.month:02d}-{local.day:02d} {clock_text} {name}",
        # 12-hour clock, month name first
        f"{_month(local)} {local.day} {local.year} {local:%I:%M:%S%p} {_offset(local)}",
    ]
    for text in written:
        parsed = parse_time(text, now=NOW, tz=NEW_YORK)
        if text.endswith(name) and local.fold == 1:
            assert parsed == (local.replace(fold=0)).astimezone(UTC)
        else:
            assert parsed == moment, text


@settings(deadline=None, max_examples=200)
@given(st.integers(min_value=1_000_000_000, max_value=9_999_999_999), st.booleans())
def test_epoch_round_trips(seconds: int, millis: bool) -> None:
    text = f"{seconds}000" if millis else str(seconds)
    assert at(text) == datetime.fromtimestamp(seconds, UTC)


@settings(deadline=None, max_examples=200)
@given(st.integers(min_value=1, max_value=99_999), st.sampled_from(["s", "m", "h", "d", "w"]))
def test_decimal_durations_are_exact(tenths: int, unit: str) -> None:
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    text = f"{tenths // 10}.{tenths % 10}{unit}"
    assert parse_duration(text) == timedelta(microseconds=tenths * size * 100_000)
    # Elapsed time: across a DST change too (aware arithmetic in BERLIN would be wall time).
    assert at(f"{text} ago") == at(f"-{text}") == NOW.astimezone(UTC) - parse_duration(text)


@settings(deadline=None, max_examples=200)
@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda dt: dt.replace(microsecond=0)
    ),
    st.integers(min_value=1, max_value=10 * 86400),
)
def test_grafana_ranges_round_trip(start: datetime, seconds: int) -> None:
    begin = start.replace(tzinfo=UTC)
    end = begin + timedelta(seconds=seconds)
    millis = [int(t.timestamp()) * 1000 for t in (begin, end)]
    url = f"{GRAFANA}&from={millis[0]}&to={millis[1]}"
    assert parse_moment(url, now=NOW, tz=BERLIN) == Moment(end, timedelta(seconds=seconds))


@settings(deadline=None, max_examples=200)
@given(
    st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=59), st.booleans()
)
def test_twelve_hour_clock(hour: int, minute: int, pm: bool) -> None:
    text = f"{hour}:{minute:02d}{'pm' if pm else 'am'}"
    expected = hour % 12 + (12 if pm else 0)
    assert at(text) == berlin(2026, 12, 2, expected, minute)


def test_fixed_offsets_and_abbreviations_agree() -> None:
    for abbreviation, offset in (("CET", 1), ("EST", -5), ("JST", 9), ("NZDT", 13)):
        zone = timezone(timedelta(hours=offset))
        assert at(f"Nov 19 2026 21:30 {abbreviation}") == datetime(
            2026, 11, 19, 21, 30, tzinfo=zone
        ).astimezone(UTC)


# --- speed -------------------------------------------------------------------------------------


def test_speed() -> None:
    """A few µs a time on a laptop; the bound is loose (a loaded CI machine) and catches a
    regular expression gone quadratic, not a 2x change (timeit shows that: see the module
    docstring of timetravel/domain/timeparse.py)."""
    texts = [
        "2026-11-19T21:30:00Z",
        "21:30",
        "yesterday 21:30",
        "-2h",
        "Wed Dec  2 11:04:33 UTC 2026",
        "21:30 Europe/Berlin",
        f"{GRAFANA}&from=now-6h&to=now",
        "x" * 2000,
        "1" * 2000 + "h",
    ]
    started = clock.perf_counter()
    for _ in range(200):
        for text in texts:
            with contextlib.suppress(UserError):
                at(text)
    each = (clock.perf_counter() - started) / (200 * len(texts))
    assert each < 500e-6, f"{each * 1e6:.0f} µs a time"


def test_ui_opens_zoomed_to_a_urls_range() -> None:
    from types import SimpleNamespace

    from timetravel.commands.ui import _show_range
    from timetravel.tui.keys import ZOOMS

    screen = SimpleNamespace(cursor=NOW, zoom_index=6, view_start=NOW)
    _show_range(screen, timedelta(hours=5))
    assert ZOOMS[screen.zoom_index] == timedelta(hours=6)  # the first step that holds it
    assert screen.view_start == NOW - timedelta(hours=5)  # from the range's start
    _show_range(screen, timedelta(days=400))  # longer than any step: the longest
    assert screen.zoom_index == len(ZOOMS) - 1
    assert screen.view_start < screen.cursor < screen.view_start + ZOOMS[-1]
