"""Table-driven tests of the pure SLA arithmetic (``kefu.tickets.sla``): weekends, a Friday
evening, holidays (国庆), a 调休 Saturday, pause/resume across a weekend, 24/7, DST days in
Europe/Berlin and America/New_York, a DST-free zone (Asia/Shanghai), zero and huge targets."""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu.core.calendar import BusinessCalendar
from kefu.core.clock import FixedClock
from kefu.tickets.sla import ALWAYS, Clock, add_business, business_seconds, calendar_from

H = 3600
M = 60

WEEKDAYS_CN = {d: ["09:00-12:00", "13:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
CN = calendar_from("Asia/Shanghai", WEEKDAYS_CN,
                   holidays=[f"2026-10-0{i}" for i in range(1, 9)],
                   workdays=["2026-10-10"])
EVERY_DAY = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
BERLIN = calendar_from("Europe/Berlin", EVERY_DAY, [], [])
NEW_YORK = calendar_from("America/New_York", EVERY_DAY, [], [])
BERLIN_ALLDAY = calendar_from("Europe/Berlin", {d: ["00:00-24:00"] for d in EVERY_DAY}, [], [])
CALS: dict[str, BusinessCalendar] = {"cn": CN, "berlin": BERLIN, "ny": NEW_YORK,
                                     "berlin_allday": BERLIN_ALLDAY, "24/7": ALWAYS}


def local(cal: str, text: str) -> datetime:
    zone = ZoneInfo(CALS[cal].timezone if CALS[cal].enabled else "Asia/Shanghai")
    return datetime.fromisoformat(text).replace(tzinfo=zone)


ADD_CASES = [
    # (name, calendar, start (local), business seconds, expected (local))
    ("same morning", "cn", "2026-11-09 10:00", 1 * H, "2026-11-09 11:00"),
    ("over lunch", "cn", "2026-11-09 11:30", 1 * H, "2026-11-09 13:30"),
    ("ends exactly at close", "cn", "2026-11-09 17:00", 1 * H, "2026-11-09 18:00"),
    ("overnight", "cn", "2026-11-09 17:00", 2 * H, "2026-11-10 10:00"),
    ("weekend", "cn", "2026-11-13 17:00", 2 * H, "2026-11-16 10:00"),
    ("friday evening start", "cn", "2026-11-13 20:00", 1 * H, "2026-11-16 10:00"),
    ("saturday start", "cn", "2026-11-14 10:00", 30 * M, "2026-11-16 09:30"),
    ("before opening", "cn", "2026-11-10 07:00", 15 * M, "2026-11-10 09:15"),
    ("a full week", "cn", "2026-11-09 09:00", 40 * H, "2026-11-13 18:00"),
    ("国庆 holidays", "cn", "2026-09-30 17:00", 2 * H, "2026-10-09 10:00"),
    ("调休 saturday", "cn", "2026-10-09 17:00", 2 * H, "2026-10-10 10:00"),
    ("调休 saturday to monday", "cn", "2026-10-10 17:00", 2 * H, "2026-10-12 10:00"),
    ("zero target", "cn", "2026-11-14 10:00", 0, "2026-11-14 10:00"),
    ("24/7 overnight", "24/7", "2026-11-13 20:00", 10 * H, "2026-11-14 06:00"),
    ("24/7 a day", "24/7", "2026-10-01 00:00", 24 * H, "2026-10-02 00:00"),
    ("berlin spring forward day", "berlin", "2026-03-28 16:00", 2 * H, "2026-03-29 10:00"),
    ("berlin spring forward: 8h", "berlin", "2026-03-29 09:00", 8 * H, "2026-03-29 17:00"),
    ("berlin fall back: 8h", "berlin", "2026-10-25 09:00", 8 * H, "2026-10-25 17:00"),
    ("berlin fall back day", "berlin", "2026-10-24 16:00", 10 * H, "2026-10-26 10:00"),
    ("new york spring forward", "ny", "2026-03-08 09:00", 8 * H, "2026-03-08 17:00"),
    ("new york fall back", "ny", "2026-10-31 16:30", 1 * H, "2026-11-01 09:30"),
    ("berlin all day: 23h day", "berlin_allday", "2026-03-29 00:00", 23 * H,
     "2026-03-30 00:00"),
    ("berlin all day: 25h day", "berlin_allday", "2026-10-25 00:00", 25 * H,
     "2026-10-26 00:00"),
]


@pytest.mark.parametrize(("name", "cal", "start", "seconds", "expected"), ADD_CASES,
                         ids=[c[0] for c in ADD_CASES])
def test_add_business(name: str, cal: str, start: str, seconds: int, expected: str) -> None:
    got = add_business(CALS[cal], local(cal, start), seconds)
    assert got == local(cal, expected), name
    assert got.tzinfo is not None
    # the inverse: the business time between start and the result is what was asked
    assert business_seconds(CALS[cal], local(cal, start), got) == seconds


SECONDS_CASES = [
    # (name, calendar, a, b, business seconds)
    ("inside one span", "cn", "2026-11-09 09:30", "2026-11-09 11:00", 90 * M),
    ("lunch not counted", "cn", "2026-11-09 11:00", "2026-11-09 14:00", 2 * H),
    ("a working day", "cn", "2026-11-09 00:00", "2026-11-10 00:00", 8 * H),
    ("weekend is zero", "cn", "2026-11-14 00:00", "2026-11-16 09:00", 0),
    ("friday evening to monday", "cn", "2026-11-13 17:00", "2026-11-16 10:00", 2 * H),
    ("国庆 week is zero", "cn", "2026-10-01 00:00", "2026-10-09 00:00", 0),
    ("调休 saturday counts", "cn", "2026-10-10 00:00", "2026-10-11 00:00", 8 * H),
    ("four weeks", "cn", "2026-11-02 00:00", "2026-11-30 00:00", 20 * 8 * H),
    ("reversed is zero", "cn", "2026-11-10 12:00", "2026-11-09 12:00", 0),
    ("24/7 is real time", "24/7", "2026-11-13 20:00", "2026-11-16 08:00", 60 * H),
    ("berlin spring forward day", "berlin", "2026-03-29 00:00", "2026-03-30 00:00", 8 * H),
    ("berlin fall back day", "berlin", "2026-10-25 00:00", "2026-10-26 00:00", 8 * H),
    ("new york spring forward day", "ny", "2026-03-08 00:00", "2026-03-09 00:00", 8 * H),
    ("new york fall back day", "ny", "2026-11-01 00:00", "2026-11-02 00:00", 8 * H),
    ("berlin all day: spring 23h", "berlin_allday", "2026-03-29 00:00", "2026-03-30 00:00",
     23 * H),
    ("berlin all day: fall 25h", "berlin_allday", "2026-10-25 00:00", "2026-10-26 00:00",
     25 * H),
]


@pytest.mark.parametrize(("name", "cal", "a", "b", "expected"), SECONDS_CASES,
                         ids=[c[0] for c in SECONDS_CASES])
def test_business_seconds(name: str, cal: str, a: str, b: str, expected: int) -> None:
    assert business_seconds(CALS[cal], local(cal, a), local(cal, b)) == expected, name


def test_24_7_across_dst_counts_real_elapsed_time() -> None:
    a = datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    b = datetime(2026, 3, 29, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert business_seconds(ALWAYS, a, b) == 23 * H
    assert add_business(ALWAYS, a, 23 * H) == b


def test_shanghai_has_no_dst_so_every_day_is_the_same() -> None:
    # the dates Berlin and New York change their clocks are ordinary days in Shanghai
    for day in ("2026-03-09", "2026-03-30", "2026-10-26", "2026-11-02"):
        a = local("cn", f"{day} 00:00")
        assert business_seconds(CN, a, a + timedelta(days=1)) == 8 * H


def test_huge_targets_stay_fast() -> None:
    start = local("cn", "2026-01-05 09:00")
    began = _time.perf_counter()
    year = 365 * 24 * H
    due = add_business(CN, start, year)
    assert business_seconds(CN, start, due) == year
    assert due.year >= 2030  # 8 business hours a day: more than four calendar years
    assert add_business(ALWAYS, start, year) == start + timedelta(days=365)
    assert _time.perf_counter() - began < 1.0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_seconds(CN, datetime(2026, 1, 1), datetime(2026, 1, 2))  # noqa: DTZ001


def test_a_calendar_without_hours_cannot_give_a_due_time() -> None:
    with pytest.raises(ValueError, match="no opening hours"):
        add_business(calendar_from("Asia/Shanghai", {}, [], []), local("cn", "2026-11-09 10:00"),
                     H)


# -- the Clock value ------------------------------------------------------------------------


def test_clock_pause_and_resume_across_a_weekend() -> None:
    clock = FixedClock(local("cn", "2026-11-13 17:00").astimezone(UTC))  # Friday 17:00
    c = Clock.start(CN, 2 * H, clock.now())
    assert c.due() == local("cn", "2026-11-16 10:00")
    clock.advance(minutes=30)
    c = c.pause(CN, clock.now())  # pending: waiting on the customer
    assert c.paused and not c.running and c.due() is None and c.elapsed_s == 30 * M
    clock.advance(days=2, hours=17)  # Monday 10:30: the customer answered
    c = c.resume(CN, clock.now())
    assert c.due() == local("cn", "2026-11-16 12:00")
    assert not c.breached(clock.now())
    clock.advance(hours=1, minutes=29)  # 11:59
    assert c.used_s(CN, clock.now()) == 2 * H - 60
    assert c.ratio(CN, clock.now()) > 0.75
    clock.advance(minutes=2)
    assert c.breached(clock.now())
    c = c.stop(CN, clock.now())
    assert c.stopped and c.breached_at == local("cn", "2026-11-16 12:00")


CLOCK_CASES = [
    # (name, steps, expected due (local) or None, breached)
    ("met in time", [("start", "2026-11-09 10:00"), ("stop", "2026-11-09 10:30")], None, False),
    ("stopped late", [("start", "2026-11-09 10:00"), ("stop", "2026-11-09 13:30")], None, True),
    ("paused while due passes", [("start", "2026-11-09 10:00"), ("pause", "2026-11-09 14:00"),
                                 ("resume", "2026-11-10 09:00")], "2026-11-10 09:00", True),
    ("reopened resumes elapsed", [("start", "2026-11-09 10:00"), ("stop", "2026-11-09 10:30"),
                                  ("resume", "2026-11-10 09:00")], "2026-11-10 10:30", False),
    ("retarget keeps elapsed", [("start", "2026-11-09 10:00"), ("target", "2026-11-09 10:30"),
                                ], "2026-11-09 15:00", False),
]


@pytest.mark.parametrize(("name", "steps", "due", "breached"), CLOCK_CASES,
                         ids=[c[0] for c in CLOCK_CASES])
def test_clock_steps(name: str, steps: list[tuple[str, str]], due: str | None,
                     breached: bool) -> None:
    c: Clock | None = None
    last = local("cn", steps[-1][1])
    for op, at_text in steps:
        at = local("cn", at_text)
        if op == "start":
            c = Clock.start(CN, 2 * H, at)
            continue
        assert c is not None
        c = {"pause": c.pause, "resume": c.resume, "stop": c.stop}[op](CN, at) \
            if op != "target" else c.retarget(CN, 4 * H, at)
    assert c is not None
    assert c.due() == (local("cn", due) if due else None), name
    assert c.breached(last) is breached, name
    # the JSON form round-trips
    assert Clock.from_dict(c.to_dict()) == c


def test_zero_target_is_due_at_once() -> None:
    at = local("cn", "2026-11-09 10:00")
    c = Clock.start(CN, 0, at)
    assert c.due() == at
    assert not c.breached(at)
    assert c.breached(at + timedelta(seconds=1))
    assert c.ratio(CN, at) == 1.0


def test_clock_json_matches_the_documented_shape() -> None:
    c = Clock.start(ALWAYS, 4 * H, datetime(2026, 11, 11, 2, 0, tzinfo=UTC))
    d = c.to_dict()
    assert set(d) >= {"target_s", "elapsed_s", "running_since", "paused_at", "due_at",
                      "stopped_at", "breached_at"}
    assert d["due_at"] == "2026-11-11T06:00:00+00:00"
    assert d["target_s"] == 4 * H and d["elapsed_s"] == 0
