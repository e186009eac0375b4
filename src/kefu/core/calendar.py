"""Business calendars: opening hours per weekday, holidays and make-up workdays (调休), in a
timezone. Pure interval arithmetic on aware datetimes; used by the bot (are we open? when do we
open next?) and by SLA timers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Span = tuple[time, time]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_span(text: str) -> Span:
    """``"09:00-18:00"`` → (09:00, 18:00); ``"24:00"`` is accepted as the end of the day."""
    try:
        a, b = (p.strip() for p in text.split("-"))
        start = time.fromisoformat(a)
        end = time.max if b == "24:00" else time.fromisoformat(b)
    except ValueError as exc:
        raise ValueError(f"bad time span {text!r}: expected HH:MM-HH:MM") from exc
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError(f"bad time span {text!r}: local times only (the timezone is set once)")
    if end <= start:
        raise ValueError(f"bad time span {text!r}: the end must be after the start")
    return start, end


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "Asia/Shanghai"
    #: opening spans per weekday, Monday = 0
    weekly: tuple[tuple[Span, ...], ...] = field(default_factory=lambda: ((),) * 7)
    holidays: frozenset[date] = frozenset()
    #: make-up workdays (调休): open with ``workday_hours`` even on a weekend
    workdays: frozenset[date] = frozenset()
    workday_hours: tuple[Span, ...] = ()
    #: False: always open (24/7)
    enabled: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.workday_hours or next((s for s in self.weekly if s), ())
        return self.weekly[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        if not self.enabled:
            return True
        local = at.astimezone(self.zone)
        t = local.time()
        return any(a <= t < b for a, b in self.spans_on(local.date()))

    def next_open(self, at: datetime, horizon_days: int = 400) -> datetime | None:
        """The first moment at or after ``at`` when the calendar is open (UTC), or None."""
        if not self.enabled or self.is_open(at):
            return at
        zone = self.zone
        local = at.astimezone(zone)
        for offset in range(horizon_days):
            day = local.date() + timedelta(days=offset)
            for a, _b in sorted(self.spans_on(day)):
                # compared as instants: on the day clocks go back a wall time happens twice
                # (fold 0 and 1), so the second one may still be ahead
                starts = sorted(datetime.combine(day, a, tzinfo=zone).replace(fold=f)
                                .astimezone(UTC) for f in (0, 1))
                for start in starts:
                    if start >= at:
                        return start
        return None
