"""Tests for timetravel.domain.timeparse: every time form, durations, DST edges, the local zone."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timetravel import host
from timetravel.commands.options import time_arg
from timetravel.domain.timeparse import format_local, parse_duration, parse_time
from timetravel.errors import UserError
from timetravel.host import local_zone

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Thursday 2026-11-19, 22:00 CET (UTC+1).
NOW = datetime(2026, 11, 19, 22, 0, tzinfo=BERLIN)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A Berlin wall-clock time as a UTC instant, computed by zoneinfo, not by the parser."""
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


# --- absolute forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-19T21:30:00Z", utc(2026, 11, 19, 21, 30)),
        ("2026-11-19t21:30:00z", utc(2026, 11, 19, 21, 30)),
        ("2026-11-19 21:30:00Z", utc(2026, 11, 19, 21, 30)),
        ("2026-11-19T21:30:00.123+01:00", utc(2026, 11, 19, 20, 30, 0, 123000)),
        ("2026-11-19T21:30:00,5+01:00", utc(2026, 11, 19, 20, 30, 0, 500000)),
        ("2026-11-19T21:30:00.123456789Z", utc(2026, 11, 19, 21, 30, 0, 123456)),
        ("2026-11-19T21:30:00-05:00", utc(2026, 11, 20, 2, 30)),
        ("2026-11-19T21:30:00+0530", utc(2026, 11, 19, 16, 0)),
        ("2026-11-19T21:30+01", utc(2026, 11, 19, 20, 30)),
        ("2026-11-19 21:30 +01:00", utc(2026, 11, 19, 20, 30)),
        ("2026-11-19T21:30:00-00:00", utc(2026, 11, 19, 21, 30)),
        # Without an offset: Berlin wall clock (CET in November, CEST in July).
        ("2026-11-19T21:30:00", utc(2026, 11, 19, 20, 30)),
        ("2026-11-19 21:30", utc(2026, 11, 19, 20, 30)),
        ("2026-07-01 21:30:15", utc(2026, 7, 1, 19, 30, 15)),
        ("2026-11-19", utc(2026, 11, 18, 23, 0)),
        ("  2026-11-19   21:30  ", utc(2026, 11, 19, 20, 30)),
    ],
)
def test_absolute_forms(text: str, expected: datetime) -> None:
    result = parse_time(text, now=NOW, tz=BERLIN)
    assert result == expected
    assert result.tzinfo is UTC


def test_now_is_now_in_utc() -> None:
    for text in ("now", " NOW ", "Now"):
        result = parse_time(text, now=NOW, tz=NEW_YORK)
        assert result == utc(2026, 11, 19, 21, 0)
        assert result.tzinfo is UTC


def test_command_line_times_are_in_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The zone is resolved at the edge (the CLI's time_arg) and passed in.
    monkeypatch.setenv("TZ", "America/New_York")
    assert time_arg("2026-11-19 21:30", NOW) == utc(2026, 11, 20, 2, 30)
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert time_arg("2026-11-19 21:30", NOW) == utc(2026, 11, 19, 20, 30)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_time("now", now=datetime(2026, 11, 19, 22, 0), tz=BERLIN)


# --- relative forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("-2h", timedelta(hours=2)),
        ("-90s", timedelta(seconds=90)),
        ("-15m", timedelta(minutes=15)),
        ("-1d", timedelta(days=1)),
        ("-1w", timedelta(weeks=1)),
        ("-1h30m", timedelta(hours=1, minutes=30)),
        ("- 2h", timedelta(hours=2)),
        ("2h ago", timedelta(hours=2)),
        ("90 s ago", timedelta(seconds=90)),
        ("1h30m ago", timedelta(hours=1, minutes=30)),
        ("1 hour 30 mins ago", timedelta(hours=1, minutes=30)),
        ("2D12H AGO", timedelta(days=2, hours=12)),
    ],
)
def test_relative_forms(text: str, ago: timedelta) -> None:
    result = parse_time(text, now=NOW, tz=BERLIN)
    assert result == NOW - ago
    assert result.tzinfo is UTC


def test_relative_days_are_exact_24_hours_across_dst() -> None:
    # Monday 09:00 after the spring-forward: '-1d' is Sunday 09:00 CEST, but '-2d' is
    # Saturday 08:00 CET, not 09:00, because Sunday had only 23 hours. Days are elapsed time.
    now = datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN)
    assert parse_time("-1d", now=now, tz=BERLIN) == utc(2026, 3, 29, 7, 0)
    assert parse_time("-2d", now=now, tz=BERLIN) == utc(2026, 3, 28, 7, 0)


# --- wall-clock forms -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:30", berlin(2026, 11, 19, 21, 30)),
        ("9:05", berlin(2026, 11, 19, 9, 5)),
        ("21:30:15", berlin(2026, 11, 19, 21, 30, 15)),
        # Later than now (22:00) still means today: an explicit time means today.
        ("23:45", berlin(2026, 11, 19, 23, 45)),
        ("today 23:45", berlin(2026, 11, 19, 23, 45)),
        ("today 21:30", berlin(2026, 11, 19, 21, 30)),
        ("today", berlin(2026, 11, 19, 0, 0)),
        ("yesterday 21:30", berlin(2026, 11, 18, 21, 30)),
        ("Yesterday", berlin(2026, 11, 18, 0, 0)),
        # NOW is a Thursday: today counts when the time is not in the future...
        ("thursday 21:30", berlin(2026, 11, 19, 21, 30)),
        ("thu 21:30", berlin(2026, 11, 19, 21, 30)),
        ("THU", berlin(2026, 11, 19, 0, 0)),
        # ...and the week before when it is.
        ("thursday 23:00", berlin(2026, 11, 12, 23, 0)),
        ("last thursday 21:30", berlin(2026, 11, 12, 21, 30)),
        ("last thu", berlin(2026, 11, 12, 0, 0)),
        ("wednesday 21:30", berlin(2026, 11, 18, 21, 30)),
        ("last wed 21:30", berlin(2026, 11, 18, 21, 30)),
        ("wed", berlin(2026, 11, 18, 0, 0)),
        ("friday 10:00", berlin(2026, 11, 13, 10, 0)),
        ("fri 10:00", berlin(2026, 11, 13, 10, 0)),
        ("monday 08:15:30", berlin(2026, 11, 16, 8, 15, 30)),
        ("tue 1:00", berlin(2026, 11, 17, 1, 0)),
        ("saturday", berlin(2026, 11, 14, 0, 0)),
        ("sun 12:00", berlin(2026, 11, 15, 12, 0)),
        ("  last   Friday   10:00 ", berlin(2026, 11, 13, 10, 0)),
    ],
)
def test_wall_clock_forms(text: str, expected: datetime) -> None:
    result = parse_time(text, now=NOW, tz=BERLIN)
    assert result == expected
    assert result.tzinfo is UTC


def test_today_is_the_date_in_tz_not_in_nows_zone() -> None:
    # 01:00 UTC on Friday is still Thursday evening in New York.
    now = utc(2026, 11, 20, 1, 0)
    assert parse_time("21:30", now=now, tz=NEW_YORK) == utc(2026, 11, 20, 2, 30)
    assert parse_time("today", now=now, tz=BERLIN) == berlin(2026, 11, 20, 0, 0)
    assert parse_time("thursday 20:00", now=now, tz=NEW_YORK) == utc(2026, 11, 20, 1, 0)


@pytest.mark.parametrize("day", range(7))
def test_weekday_is_within_the_last_week(day: int) -> None:
    # Whatever weekday today is, 'thu 12:00' is a Thursday noon at most 7 days before now,
    # and 'last thu 12:00' is a Thursday noon 1 to 7 calendar days before today.
    now = datetime(2026, 11, 16 + day, 15, 0, tzinfo=BERLIN)
    plain = parse_time("thu 12:00", now=now, tz=BERLIN).astimezone(BERLIN)
    last = parse_time("last thu 12:00", now=now, tz=BERLIN).astimezone(BERLIN)
    for result in (plain, last):
        assert result.weekday() == 3
        assert (result.hour, result.minute) == (12, 0)
    assert now - timedelta(days=7) <= plain <= now
    assert 1 <= (now.date() - last.date()).days <= 7


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "garbage",
        "25:99",
        "24:00",
        "21:60",
        "21:30:61",
        "-0h",
        "0s ago",
        "thursday 99:00",
        "-2x",
        "-",
        "ago",
        "2h ago ago",
        "+2h",
        "tomorrow",
        "next thursday",
        "last 21:30",
        "last",
        "thursday yesterday",
        "thurs 21:30",
        "yesterday 13pm",
        "2026-13-01",
        "2026-02-30 10:00",
        "2026-11-19T25:00:00Z",
        "2026-11-19T21:30:00+24:00",
        "2026-11-19T21:30:00+01:60",
        "2026-11-19T21:30:00Z CET",
        "2026-11-19T21:30:00 CST",
        "2026/11/19",
        "19.11.2026",
        "-1h30",
        "-30m1h",
        "-1m30m",
        "0000-01-01",
        "0001-01-01T00:00:00+01:00",
        "99999999999d ago",
        "-999999w",
    ],
)
def test_bad_times_raise_user_error(text: str) -> None:
    with pytest.raises(UserError) as info:
        parse_time(text, now=NOW, tz=BERLIN)
    message = str(info.value)
    assert message
    assert "\n" not in message


def test_error_messages_name_the_accepted_forms() -> None:
    with pytest.raises(UserError, match=r"'-2h'.*'yesterday 21:30'"):
        parse_time("garbage", now=NOW, tz=BERLIN)
    with pytest.raises(UserError, match=r"HH:MM"):
        parse_time("25:99", now=NOW, tz=BERLIN)
    with pytest.raises(UserError, match=r"zero"):
        parse_time("-0h", now=NOW, tz=BERLIN)
    with pytest.raises(UserError, match=r"weekday"):
        parse_time("someday 21:30", now=NOW, tz=BERLIN)


# --- DST ------------------------------------------------------------------------------------


def test_berlin_gap_shifts_forward_by_the_gap() -> None:
    # 2026-03-29: clocks jump 02:00 CET -> 03:00 CEST; 02:30 never happened.
    gap_result = parse_time("2026-03-29 02:30", now=NOW, tz=BERLIN)
    assert gap_result == utc(2026, 3, 29, 1, 30)
    assert format_local(gap_result, BERLIN) == "Sun 2026-03-29 03:30:00 CEST"
    on_that_day = datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN)
    assert parse_time("02:30", now=on_that_day, tz=BERLIN) == gap_result
    assert parse_time("sunday 02:30", now=on_that_day, tz=BERLIN) == gap_result
    # The edges of the gap are exact: 01:59:59 CET and 03:00 CEST are one second apart.
    before = parse_time("2026-03-29 01:59:59", now=NOW, tz=BERLIN)
    after = parse_time("2026-03-29 03:00", now=NOW, tz=BERLIN)
    assert after - before == timedelta(seconds=1)


def test_berlin_ambiguous_time_is_the_first_occurrence() -> None:
    # 2026-10-25: clocks fall back 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    first = parse_time("2026-10-25 02:30", now=NOW, tz=BERLIN)
    assert first == utc(2026, 10, 25, 0, 30)
    assert format_local(first, BERLIN) == "Sun 2026-10-25 02:30:00 CEST"
    later_that_day = datetime(2026, 10, 25, 12, 0, tzinfo=BERLIN)
    assert parse_time("02:30", now=later_that_day, tz=BERLIN) == first
    # An explicit offset still reaches the second occurrence.
    assert parse_time("2026-10-25T02:30+01:00", now=NOW, tz=BERLIN) == utc(2026, 10, 25, 1, 30)


def test_new_york_gap_and_ambiguity() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT. 2026-11-01: 02:00 EDT -> 01:00 EST.
    gap_result = parse_time("2026-03-08 02:30", now=NOW, tz=NEW_YORK)
    assert gap_result == utc(2026, 3, 8, 7, 30)
    assert format_local(gap_result, NEW_YORK) == "Sun 2026-03-08 03:30:00 EDT"
    ambiguous = parse_time("2026-11-01 01:30", now=NOW, tz=NEW_YORK)
    assert ambiguous == utc(2026, 11, 1, 5, 30)
    assert format_local(ambiguous, NEW_YORK) == "Sun 2026-11-01 01:30:00 EDT"


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # Just after Berlin springs forward (03:05 CEST): Saturday 21:30 was CET.
        (BERLIN, datetime(2026, 3, 29, 3, 5, tzinfo=BERLIN), utc(2026, 3, 28, 20, 30)),
        # Just after Berlin falls back (02:10 CET, second pass): Saturday 21:30 was CEST.
        (
            BERLIN,
            datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN),
            utc(2026, 10, 24, 19, 30),
        ),
        # A day after the change, the previous calendar day is the change day itself.
        (BERLIN, datetime(2026, 3, 30, 0, 30, tzinfo=BERLIN), utc(2026, 3, 29, 19, 30)),
        (NEW_YORK, datetime(2026, 3, 8, 3, 1, tzinfo=NEW_YORK), utc(2026, 3, 8, 2, 30)),
        (NEW_YORK, datetime(2026, 11, 1, 1, 5, fold=1, tzinfo=NEW_YORK), utc(2026, 11, 1, 1, 30)),
    ],
)
def test_yesterday_after_dst_change_is_previous_local_date(
    zone: ZoneInfo, now: datetime, expected: datetime
) -> None:
    result = parse_time("yesterday 21:30", now=now, tz=zone)
    assert result == expected
    local = result.astimezone(zone)
    assert (local.hour, local.minute) == (21, 30)
    assert local.date() == now.astimezone(zone).date() - timedelta(days=1)


def test_yesterday_midnight_across_spring_forward() -> None:
    # Monday 2026-03-30 in Berlin: yesterday began at 00:00 CET, and was only 23 h long.
    now = datetime(2026, 3, 30, 12, 0, tzinfo=BERLIN)
    yesterday = parse_time("yesterday", now=now, tz=BERLIN)
    today = parse_time("today", now=now, tz=BERLIN)
    assert yesterday == utc(2026, 3, 28, 23, 0)
    assert today - yesterday == timedelta(hours=23)


# --- properties -----------------------------------------------------------------------------

offsets = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
)
zones = st.one_of(st.timezones(), st.builds(timezone, offsets), st.just(UTC))
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=zones
)


@settings(deadline=None)
@given(aware_datetimes)
def test_isoformat_round_trips(dt: datetime) -> None:
    result = parse_time(dt.isoformat(), now=NOW, tz=BERLIN)
    # Comparing in UTC: PEP 495 makes inter-zone == False for times in a fold or gap.
    assert result == dt.astimezone(UTC)
    assert result.tzinfo is UTC
    assert parse_time(dt.isoformat(sep=" ").upper(), now=NOW, tz=NEW_YORK) == result


@settings(deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)))
def test_naive_iso_is_local_wall_clock(naive: datetime) -> None:
    result = parse_time(naive.isoformat(), now=NOW, tz=NEW_YORK)
    wall = result.astimezone(NEW_YORK).replace(tzinfo=None)
    # Either the same wall clock, or a time in a spring-forward gap moved past it (New York's
    # gaps are one hour long).
    assert wall == naive or wall - naive == timedelta(hours=1)


@settings(deadline=None)
@given(
    st.integers(min_value=1, max_value=10**9),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones),
)
def test_minus_seconds_is_now_minus_seconds(n: int, now: datetime) -> None:
    # Elapsed seconds, so subtract in UTC: Python's aware arithmetic within one zone is
    # wall-clock arithmetic and would be off by any DST change in between.
    expected = now.astimezone(UTC) - timedelta(seconds=n)
    assert parse_time(f"-{n}s", now=now, tz=BERLIN) == expected
    assert parse_time(f"{n} seconds ago", now=now, tz=BERLIN) == expected


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=9999),
    st.integers(min_value=0, max_value=9999),
    st.integers(min_value=0, max_value=9999),
    st.integers(min_value=0, max_value=9999),
    st.integers(min_value=0, max_value=9999),
    st.data(),
)
def test_duration_combinations_sum(
    w: int, d: int, h: int, m: int, s: int, data: st.DataObject
) -> None:
    spellings = {
        "w": ["w", "wk", "week", "weeks"],
        "d": ["d", "day", "days"],
        "h": ["h", "hr", "hour", "hours"],
        "m": ["m", "min", "mins", "minute", "minutes"],
        "s": ["s", "sec", "secs", "second", "seconds"],
    }
    parts = []
    for amount, unit in ((w, "w"), (d, "d"), (h, "h"), (m, "m"), (s, "s")):
        if amount or data.draw(st.booleans()):
            word = data.draw(st.sampled_from(spellings[unit]))
            space = data.draw(st.sampled_from(["", " "]))
            parts.append(f"{amount}{space}{word}")
    text = data.draw(st.sampled_from(["", " "])).join(parts)
    expected = timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    if expected > timedelta(0):
        assert parse_duration(text) == expected
        assert parse_duration(text.upper()) == expected
    else:
        with pytest.raises(UserError):
            parse_duration(text)


# --- parse_duration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d12h", timedelta(days=2, hours=12)),
        ("90 s", timedelta(seconds=90)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("1 sec", timedelta(seconds=1)),
        ("2 secs", timedelta(seconds=2)),
        ("1 second", timedelta(seconds=1)),
        ("3 seconds", timedelta(seconds=3)),
        ("5 min", timedelta(minutes=5)),
        ("5 mins", timedelta(minutes=5)),
        ("1 minute", timedelta(minutes=1)),
        ("10 minutes", timedelta(minutes=10)),
        ("1 hour", timedelta(hours=1)),
        ("4 hours", timedelta(hours=4)),
        ("2hr", timedelta(hours=2)),
        ("1 day", timedelta(days=1)),
        ("3 days", timedelta(days=3)),
        ("1 week", timedelta(weeks=1)),
        ("2 weeks", timedelta(weeks=2)),
        ("1H30M", timedelta(hours=1, minutes=30)),
        ("0h30m", timedelta(minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "0s",
        "0h0m",
        "-1h",
        "+1h",
        "h",
        "90",
        "1.5",
        ".5h",
        "1.h",
        "1x",
        "1 hourz",
        "30m1h",
        "1m30m",
        "1h 30",
        "1h,30m",
        "1h and 30m",
        "١h",
        "99999999999w",
    ],
)
def test_bad_durations_raise_user_error(text: str) -> None:
    with pytest.raises(UserError) as info:
        parse_duration(text)
    assert "\n" not in str(info.value)


def test_duration_error_names_the_forms() -> None:
    with pytest.raises(UserError, match=r"'90s'.*'1h30m'"):
        parse_duration("soon")


# --- format_local ---------------------------------------------------------------------------


class _Nameless(tzinfo):
    """A zone without an abbreviation, as some third-party tzinfo classes are."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=-3, minutes=-30)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    ("dt", "zone", "expected"),
    [
        (utc(2026, 11, 19, 21, 30), BERLIN, "Thu 2026-11-19 22:30:00 CET"),
        (utc(2026, 7, 1, 12, 0, 0, 999999), BERLIN, "Wed 2026-07-01 14:00:00 CEST"),
        (utc(2026, 11, 19, 21, 30), NEW_YORK, "Thu 2026-11-19 16:30:00 EST"),
        (utc(2026, 11, 20, 3, 0), NEW_YORK, "Thu 2026-11-19 22:00:00 EST"),
        (datetime(2026, 11, 19, 21, 30, tzinfo=BERLIN), UTC, "Thu 2026-11-19 20:30:00 UTC"),
        (utc(2026, 11, 19, 21, 30), _Nameless(), "Thu 2026-11-19 18:00:00 -03:30"),
        (utc(2026, 11, 22, 0, 0), ZoneInfo("Asia/Kolkata"), "Sun 2026-11-22 05:30:00 IST"),
    ],
)
def test_format_local(dt: datetime, zone: tzinfo, expected: str) -> None:
    assert format_local(dt, zone) == expected


def test_format_local_in_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert format_local(utc(2026, 11, 19, 21, 30), local_zone()) == "Thu 2026-11-19 22:30:00 CET"


def test_format_local_rejects_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_local(datetime(2026, 11, 19, 21, 30), BERLIN)


def test_format_then_parse_names_the_same_second() -> None:
    moment = utc(2026, 11, 19, 21, 30, 15)
    shown = format_local(moment, BERLIN)  # 'Thu 2026-11-19 22:30:15 CET'
    date_and_time = " ".join(shown.split(" ")[1:3])
    assert parse_time(date_and_time, now=NOW, tz=BERLIN) == moment


# --- local_zone (timetravel.host) -----------------------------------------------------------------------------


def _offsets(zone: tzinfo) -> tuple[timedelta | None, timedelta | None]:
    """(January, July) offsets: a DST-aware Berlin gives (+1 h, +2 h)."""
    return (
        datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset(),
        datetime(2026, 7, 15, 12, tzinfo=zone).utcoffset(),
    )


def _tzif_bytes(key: str) -> bytes:
    import zoneinfo

    for root in zoneinfo.TZPATH:
        candidate = Path(root) / key
        if candidate.is_file():
            return candidate.read_bytes()
    try:
        from importlib.resources import files

        package, _, name = f"tzdata.zoneinfo.{key}".replace("/", ".").rpartition(".")
        return files(package).joinpath(name).read_bytes()
    except (ImportError, OSError):
        pytest.skip("no tz database to copy a TZif file from")


BERLIN_OFFSETS = (timedelta(hours=1), timedelta(hours=2))
NEW_YORK_OFFSETS = (timedelta(hours=-5), timedelta(hours=-4))


@pytest.mark.parametrize(
    ("value", "key", "offsets"),
    [
        ("Europe/Berlin", "Europe/Berlin", BERLIN_OFFSETS),
        (":Europe/Berlin", "Europe/Berlin", BERLIN_OFFSETS),
        (" America/New_York ", "America/New_York", NEW_YORK_OFFSETS),
        ("UTC", "UTC", (timedelta(0), timedelta(0))),
    ],
)
def test_local_zone_honours_tz(
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    key: str,
    offsets: tuple[timedelta, timedelta],
) -> None:
    monkeypatch.setenv("TZ", value)
    zone = local_zone()
    assert str(zone) == key
    assert _offsets(zone) == offsets


def test_local_zone_empty_tz_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "")
    assert _offsets(local_zone()) == (timedelta(0), timedelta(0))


def test_local_zone_tz_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plain = tmp_path / "berlin.tzif"
    plain.write_bytes(_tzif_bytes("Europe/Berlin"))
    monkeypatch.setenv("TZ", f":{plain}")
    assert _offsets(local_zone()) == BERLIN_OFFSETS
    # A path inside a zoneinfo tree is read as its IANA name.
    monkeypatch.setenv("TZ", "/nowhere/zoneinfo/America/New_York")
    assert str(local_zone()) == "America/New_York"


def test_local_zone_unknown_tz_falls_back_to_an_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Not/A_Zone")
    zone = local_zone()
    assert datetime(2026, 1, 1, tzinfo=zone).utcoffset() is not None


def test_local_zone_reads_localtime_symlink_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TZ", raising=False)
    link = tmp_path / "localtime"
    # The target need not exist: its name alone says which zone it is.
    os.symlink("../usr/share/zoneinfo/America/New_York", link)
    monkeypatch.setattr(host, "_LOCALTIME", str(link))
    zone = local_zone()
    assert str(zone) == "America/New_York"
    assert _offsets(zone) == NEW_YORK_OFFSETS


def test_local_zone_reads_localtime_posix_symlink(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TZ", raising=False)
    link = tmp_path / "localtime"
    os.symlink("/usr/share/zoneinfo/posix/Europe/Berlin", link)
    monkeypatch.setattr(host, "_LOCALTIME", str(link))
    assert str(local_zone()) == "Europe/Berlin"


def test_local_zone_reads_localtime_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TZ", raising=False)
    copy = tmp_path / "localtime"
    copy.write_bytes(_tzif_bytes("Europe/Berlin"))
    monkeypatch.setattr(host, "_LOCALTIME", str(copy))
    assert _offsets(local_zone()) == BERLIN_OFFSETS


def test_local_zone_without_localtime_uses_libc_offset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(host, "_LOCALTIME", str(tmp_path / "missing"))
    zone = local_zone()
    probe = datetime.now().astimezone()
    assert probe.replace(tzinfo=zone).utcoffset() == probe.utcoffset()
