"""Business calendars: open/closed and the next opening, with holidays, 调休 and timezones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from kefu.core.calendar import BusinessCalendar, parse_span

NINE_SIX = ((time(9), time(18)),)
WEEKDAYS_9_18 = (NINE_SIX,) * 5 + ((), ())
CAL = BusinessCalendar(
    timezone="Asia/Shanghai", weekly=WEEKDAYS_9_18,
    holidays=frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
    workdays=frozenset({date(2026, 10, 10)}))  # a Saturday worked (调休)


def sh(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time as UTC."""
    return datetime(y, mo, d, h - 8, mi, tzinfo=UTC) if h >= 8 else \
        datetime(y, mo, d - 1, h + 16, mi, tzinfo=UTC)


@pytest.mark.parametrize(("at", "is_open", "next_open"), [
    (sh(2026, 11, 11, 10), True, sh(2026, 11, 11, 10)),          # Wednesday morning
    (sh(2026, 11, 11, 18), False, sh(2026, 11, 12, 9)),          # closing time is closed
    (sh(2026, 11, 11, 17, 59), True, sh(2026, 11, 11, 17, 59)),
    (sh(2026, 11, 13, 20), False, sh(2026, 11, 16, 9)),          # Friday night → Monday
    (sh(2026, 11, 14, 12), False, sh(2026, 11, 16, 9)),          # Saturday
    (sh(2026, 10, 1, 10), False, sh(2026, 10, 5, 9)),            # holiday Thu/Fri, weekend
    (sh(2026, 10, 9, 19), False, sh(2026, 10, 10, 9)),           # make-up Saturday opens
    (sh(2026, 10, 10, 10), True, sh(2026, 10, 10, 10)),
    (sh(2026, 11, 11, 7), False, sh(2026, 11, 11, 9)),           # before opening
])
def test_open_and_next_open(at: datetime, is_open: bool, next_open: datetime):
    assert CAL.is_open(at) is is_open
    assert CAL.next_open(at) == next_open


def test_disabled_calendar_is_always_open():
    cal = BusinessCalendar(enabled=False)
    at = datetime(2026, 11, 14, 3, tzinfo=UTC)
    assert cal.is_open(at) and cal.next_open(at) == at


def test_dst_zone_uses_local_wall_clock():
    berlin = BusinessCalendar(timezone="Europe/Berlin", weekly=WEEKDAYS_9_18)
    # 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST)
    assert berlin.is_open(datetime(2026, 1, 14, 8, 0, tzinfo=UTC))
    assert not berlin.is_open(datetime(2026, 1, 14, 7, 30, tzinfo=UTC))
    assert berlin.is_open(datetime(2026, 7, 15, 7, 0, tzinfo=UTC))
    assert berlin.next_open(datetime(2026, 3, 27, 20, tzinfo=UTC)) == \
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # Monday after the switch to CEST


def test_no_opening_hours_at_all():
    assert BusinessCalendar(weekly=((),) * 7).next_open(datetime(2026, 1, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize("bad", ["9-18", "18:00-09:00", "09:00", "aa:bb-cc:dd"])
def test_bad_spans(bad: str):
    with pytest.raises(ValueError, match="bad time span"):
        parse_span(bad)


def test_end_of_day_span():
    assert parse_span("20:00-24:00")[1] == time.max


@pytest.mark.parametrize("bad", ["09:00Z-18:00Z", "09:00+08:00-18:00"])
def test_spans_with_a_timezone_are_refused(bad: str):
    with pytest.raises(ValueError, match="local times only"):
        parse_span(bad)


def test_next_open_on_the_day_clocks_go_back_is_never_in_the_past():
    # Berlin, 25 Oct 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice
    cal = BusinessCalendar(timezone="Europe/Berlin", weekly=(((time(2, 30), time(4)),),) * 7)
    at = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, after the first 02:30 (00:30Z)
    assert cal.next_open(at) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the second 02:30
