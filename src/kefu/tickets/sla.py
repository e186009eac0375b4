"""SLA arithmetic (pure: no database, the time is always passed in).

Business time is counted over a :class:`~kefu.core.calendar.BusinessCalendar`'s open spans,
one local day at a time: each span of a local day is turned into two instants (UTC) and the
work is interval arithmetic on those instants, so a 09:00–17:00 day is 8 business hours even
on a day the clocks change (DST), and a disabled (24/7) calendar counts real elapsed time.
Spans never cross midnight (``core.calendar.parse_span`` refuses an end before the start);
``24:00`` ends a span at the next local midnight. A span that contains a DST change counts
the real elapsed time (a 00:00–24:00 day is 23 or 25 hours long then). A wall time that does
not exist (skipped by a spring-forward) is read with ``fold=0``, as ``zoneinfo`` does.

:class:`Clock` is one SLA metric's timer (first response, next response, resolution): a
value that is started, paused, resumed, stopped and re-targeted, serialised as the dict
documented in :mod:`kefu.tickets.clocks`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from kefu.core.calendar import BusinessCalendar

#: how far (in local days) the arithmetic looks before giving up: a calendar that never
#: opens again cannot give a due time
HORIZON_DAYS = 366 * 30
#: the share of a target after which a clock is in "warning"
WARN_RATIO = 0.75

Interval = tuple[datetime, datetime]


def _instant(day: date, at: time, cal: BusinessCalendar) -> datetime:
    zone = cal.zone
    if at == time.max:  # "24:00": the next local midnight
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def open_intervals(cal: BusinessCalendar, day: date) -> list[Interval]:
    """The open spans of one local day as sorted, merged UTC intervals."""
    spans = sorted(cal.spans_on(day))
    out: list[Interval] = []
    for a, b in spans:
        start, end = _instant(day, a, cal), _instant(day, b, cal)
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _has_hours(cal: BusinessCalendar) -> bool:
    return any(cal.weekly) or bool(cal.workdays and (cal.workday_hours or any(cal.weekly)))


def _week_seconds(cal: BusinessCalendar, day: date) -> float | None:
    """Business seconds of the 7 local days from ``day`` when none of them is a holiday or a
    make-up workday (a plain week, so it can be skipped whole); None otherwise."""
    days = [day + timedelta(days=i) for i in range(7)]
    if any(d in cal.holidays or d in cal.workdays for d in days):
        return None
    return sum((b - a).total_seconds() for d in days for a, b in open_intervals(cal, d))


def add_business(cal: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The instant at which ``seconds`` of business time have passed after ``start``.

    ``seconds <= 0`` gives ``start``. Raises ``ValueError`` if the calendar does not open
    enough within :data:`HORIZON_DAYS`."""
    _aware(start)
    start = start.astimezone(UTC)
    if seconds <= 0:
        return start
    if not cal.enabled:
        return start + timedelta(seconds=seconds)
    if not _has_hours(cal):
        raise ValueError("the calendar has no opening hours")
    left = float(seconds)
    day = start.astimezone(cal.zone).date()
    end_day = day + timedelta(days=HORIZON_DAYS)
    first = True
    while day < end_day:
        if not first and left > 7 * 86400:
            # far from the end: skip plain weeks whole (a year of target stays fast)
            week = _week_seconds(cal, day)
            if week is not None and 0 < week < left:
                left -= week
                day += timedelta(days=7)
                continue
        first = False
        for x, b in open_intervals(cal, day):
            a = max(x, start)
            if b <= a:
                continue
            length = (b - a).total_seconds()
            if left <= length:
                return a + timedelta(seconds=left)
            left -= length
        day += timedelta(days=1)
    raise ValueError("the calendar does not open enough within the horizon")


def business_seconds(cal: BusinessCalendar, a: datetime, b: datetime) -> int:
    """Business seconds between ``a`` and ``b`` (0 if ``b <= a``), rounded down."""
    _aware(a)
    _aware(b)
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b <= a:
        return 0
    if not cal.enabled:
        return int((b - a).total_seconds())
    total = 0.0
    day = a.astimezone(cal.zone).date()
    last = b.astimezone(cal.zone).date()
    while day <= last:
        if (last - day).days > 8:
            week = _week_seconds(cal, day)
            if week is not None and day > a.astimezone(cal.zone).date():
                total += week
                day += timedelta(days=7)
                continue
        for x, y in open_intervals(cal, day):
            lo, hi = max(x, a), min(y, b)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return int(total)


def _aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError("aware datetimes only")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    parsed = datetime.fromisoformat(str(value))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """One metric's timer. Business seconds used = ``elapsed_s`` plus, while running, the
    business time since ``running_since``. ``started_at`` is when this cycle began (a new
    next-response cycle starts a new clock): reminders are keyed by it."""

    target_s: int
    elapsed_s: int = 0
    running_since: datetime | None = None
    paused_at: datetime | None = None
    due_at: datetime | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    started_at: datetime | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    # -- transitions (each returns a new Clock) -------------------------------------------

    @staticmethod
    def start(cal: BusinessCalendar, target_s: int, at: datetime, *,
              elapsed_s: int = 0, paused: bool = False) -> Clock:
        clock = Clock(target_s=max(0, int(target_s)), elapsed_s=max(0, int(elapsed_s)),
                      paused_at=at if paused else None, started_at=at)
        return clock if paused else clock.resume(cal, at)

    def _note_breach(self, at: datetime) -> Clock:
        if self.breached_at is None and self.due_at is not None and at > self.due_at:
            return replace(self, breached_at=self.due_at)
        return self

    def used_s(self, cal: BusinessCalendar, now: datetime) -> int:
        if self.running_since is None:
            return self.elapsed_s
        return self.elapsed_s + business_seconds(cal, self.running_since, now)

    def pause(self, cal: BusinessCalendar, at: datetime) -> Clock:
        if self.running_since is None:
            return self
        c = self._note_breach(at)
        return replace(c, elapsed_s=c.used_s(cal, at), running_since=None, paused_at=at,
                       due_at=None)

    def resume(self, cal: BusinessCalendar, at: datetime) -> Clock:
        """Run again (from paused, or from stopped: a reopened ticket), time used kept."""
        if self.running_since is not None:
            return self
        due = add_business(cal, at, max(0, self.target_s - self.elapsed_s))
        c = replace(self, running_since=at, paused_at=None, stopped_at=None, due_at=due)
        if self.breached_at is None and self.elapsed_s > self.target_s:
            c = replace(c, breached_at=at)
        return c

    def stop(self, cal: BusinessCalendar, at: datetime) -> Clock:
        if self.stopped_at is not None:
            return self
        c = self._note_breach(at)
        return replace(c, elapsed_s=c.used_s(cal, at), running_since=None, paused_at=None,
                       due_at=None, stopped_at=at)

    def retarget(self, cal: BusinessCalendar, target_s: int, at: datetime) -> Clock:
        """A new target (the priority changed): the time used is kept."""
        target_s = max(0, int(target_s))
        if target_s == self.target_s:
            return self
        if self.running_since is None:
            return replace(self, target_s=target_s)
        used = self.used_s(cal, at)
        due = add_business(cal, at, max(0, target_s - used))
        return replace(self, target_s=target_s, elapsed_s=used, running_since=at, due_at=due)

    def mark_breached(self, at: datetime) -> Clock:
        return self if self.breached_at is not None else replace(self, breached_at=at)

    # -- questions -----------------------------------------------------------------------

    def due(self) -> datetime | None:
        """When it breaches, if running."""
        return self.due_at if self.running_since is not None else None

    def breached(self, now: datetime) -> bool:
        if self.breached_at is not None:
            return True
        return self.running_since is not None and self.due_at is not None and now > self.due_at

    def ratio(self, cal: BusinessCalendar, now: datetime) -> float:
        """Share of the target used (≥ 1.0 once breached; 1.0 for a zero target)."""
        if self.target_s <= 0:
            return 1.0
        return self.used_s(cal, now) / self.target_s

    def warn_at(self, cal: BusinessCalendar) -> datetime | None:
        """When a running clock reaches :data:`WARN_RATIO` of its target."""
        if self.running_since is None:
            return None
        left = WARN_RATIO * self.target_s - self.elapsed_s
        return add_business(cal, self.running_since, max(0.0, left))

    # -- JSON ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"target_s": self.target_s, "elapsed_s": self.elapsed_s,
                "running_since": _iso(self.running_since), "paused_at": _iso(self.paused_at),
                "due_at": _iso(self.due_at), "stopped_at": _iso(self.stopped_at),
                "breached_at": _iso(self.breached_at), "started_at": _iso(self.started_at)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Clock:
        return Clock(target_s=int(data.get("target_s") or 0),
                     elapsed_s=int(data.get("elapsed_s") or 0),
                     running_since=_dt(data.get("running_since")),
                     paused_at=_dt(data.get("paused_at")), due_at=_dt(data.get("due_at")),
                     stopped_at=_dt(data.get("stopped_at")),
                     breached_at=_dt(data.get("breached_at")),
                     started_at=_dt(data.get("started_at")))


def calendar_from(timezone: str, weekly: dict[str, list[str]], holidays: list[str],
                  workdays: list[str], *, enabled: bool = True) -> BusinessCalendar:
    """A :class:`BusinessCalendar` from the stored form (``{"mon": ["09:00-18:00"], …}``,
    ISO dates). Make-up workdays (调休) use Monday's hours (the first weekday with hours)."""
    from kefu.core.calendar import WEEKDAYS, parse_span

    week = tuple(tuple(sorted(parse_span(s) for s in weekly.get(name, [])))
                 for name in WEEKDAYS)
    return BusinessCalendar(timezone=timezone, weekly=week,
                            holidays=frozenset(date.fromisoformat(d) for d in holidays),
                            workdays=frozenset(date.fromisoformat(d) for d in workdays),
                            enabled=enabled)


#: a 24/7 calendar (a policy without a calendar)
ALWAYS = BusinessCalendar(timezone="UTC", enabled=False)
