"""Ticket reports (``ticket.reports``), aggregated in SQL.

- :func:`backlog`: unresolved tickets (new / open / pending) now, per team × state and per
  team × age bucket (< 1 d, 1–3 d, 3–7 d, > 7 d since creation).
- :func:`sla_compliance`: per SLA policy, team or agent (assignee), for tickets **created**
  in the range: each clock of ``Ticket.sla`` counts as breached (``breached_at`` set), met
  (``stopped_at`` set, never breached) or running; ``% met = met / (met + breached)``.
- :func:`distribution`: first response time (``first_response_at - created_at``, tickets
  first answered in the range) and resolution time (``resolved_at - created_at``, tickets
  resolved in the range), in **wall-clock time**: histogram buckets plus p50 / p90
  (nearest rank).
- :func:`top_categories`: counts and share of the values of one select field of a template
  (tickets of that template created in the range).
- :func:`trend`: tickets created and resolved per local day.

Ranges are half-open UTC instants made from local days of the workspace's timezone
(:func:`local_range`). Filters: ``team_id`` (``"none"``: no team) and ``template_id``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.orm import Session

from kefu.accounts.models import Team, User, Workspace
from kefu.core.errors import Invalid, NotFound
from kefu.tickets.models import SLA_METRICS, SlaPolicy, Ticket, TicketTemplate

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor

DEFAULT_TZ = "Asia/Shanghai"
MAX_DAYS = 366
NONE_KEY = "none"
BACKLOG_STATUSES = ("new", "open", "pending")
#: (key, lower bound in days, upper bound in days or None)
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("lt1d", 0, 1), ("d1_3", 1, 3), ("d3_7", 3, 7), ("gt7d", 7, None))
#: (key, lower bound in seconds, upper bound or None)
DURATION_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("lt1h", 0, 3600), ("h1_4", 3600, 4 * 3600), ("h4_24", 4 * 3600, 86400),
    ("d1_3", 86400, 3 * 86400), ("d3_7", 3 * 86400, 7 * 86400), ("gt7d", 7 * 86400, None))
GROUPS = ("policy", "team", "agent")
DURATION_METRICS = ("first_response", "resolution")


def _bad(code: str, zh: str, en: str, **details: Any) -> Invalid:
    return Invalid(f"{zh} / {en}", code=code, **details)


# -- ranges and scope ------------------------------------------------------------------------

def workspace_zone(session: Session, workspace_id: str) -> ZoneInfo:
    """The workspace's timezone (Asia/Shanghai when unset or unknown)."""
    name = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def local_range(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local days ``first``..``last`` (inclusive) as a half-open aware UTC range."""
    if not (date(1971, 1, 1) <= first and last <= date(9998, 12, 31)):
        raise _bad("ticket_report_bad_date", "日期超出范围", "Date out of range",
                   first=first.isoformat(), last=last.isoformat())
    if first > last:
        raise _bad("ticket_report_bad_range", "开始日期晚于结束日期", "since is after until",
                   since=first.isoformat(), until=last.isoformat())
    if (last - first).days + 1 > MAX_DAYS:
        raise _bad("ticket_report_range_too_long", f"时间范围最多 {MAX_DAYS} 天",
                   f"The range is at most {MAX_DAYS} days", max_days=MAX_DAYS)
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(),
                             tzinfo=zone).astimezone(UTC)
    return since, until


@dataclass(frozen=True, slots=True)
class Scope:
    workspace_id: str
    team_id: str | None = None
    template_id: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [Ticket.workspace_id == self.workspace_id]
        if self.team_id == NONE_KEY:
            out.append(Ticket.team_id.is_(None))
        elif self.team_id:
            out.append(Ticket.team_id == self.team_id)
        if self.template_id:
            out.append(Ticket.template_id == self.template_id)
        return out


def scope_for(actor: Actor, *, team_id: str | None = None,
              template_id: str | None = None) -> Scope:
    actor.require("ticket.reports")
    return Scope(actor.workspace_id, team_id or None, template_id or None)


def _names(session: Session, model: Any, workspace_id: str, ids: set[str]) -> dict[str, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {str(i): str(n) for i, n in session.execute(select(model.id, model.name).where(
        model.workspace_id == workspace_id, model.id.in_(ids))).all()}


# -- backlog ---------------------------------------------------------------------------------

@dataclass(slots=True)
class BacklogRow:
    team_id: str | None
    label: str
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BACKLOG_STATUSES,
                                                                            0))
    by_age: dict[str, int] = field(default_factory=lambda: {k: 0 for k, _, _ in AGE_BUCKETS})

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def as_dict(self) -> dict[str, Any]:
        return {"team_id": self.team_id, "label": self.label, "by_status": self.by_status,
                "by_age": self.by_age, "total": self.total}


@dataclass(slots=True)
class Backlog:
    rows: list[BacklogRow]
    totals: BacklogRow

    def as_dict(self) -> dict[str, Any]:
        return {"rows": [r.as_dict() for r in self.rows], "totals": self.totals.as_dict(),
                "statuses": list(BACKLOG_STATUSES),
                "age_buckets": [k for k, _, _ in AGE_BUCKETS]}


def backlog(session: Session, actor: Actor, *, now: datetime, team_id: str | None = None,
            template_id: str | None = None) -> Backlog:
    """Unresolved tickets now, per team: by state and by age (biggest team first)."""
    scope = scope_for(actor, team_id=team_id, template_id=template_id)
    whens = [(Ticket.created_at > now - timedelta(days=hi), key)
             for key, _, hi in AGE_BUCKETS if hi is not None]
    age = case(*whens, else_=AGE_BUCKETS[-1][0]).label("age_bucket")
    stmt = (select(Ticket.team_id, Ticket.status, age, func.count())
            .where(*scope.where(), Ticket.status.in_(BACKLOG_STATUSES))
            .group_by(Ticket.team_id, Ticket.status, literal_column("age_bucket")))
    rows: dict[str | None, BacklogRow] = {}
    totals = BacklogRow(None, "")
    for team, status, bucket, n in session.execute(stmt):
        row = rows.setdefault(team, BacklogRow(team, ""))
        for target in (row, totals):
            target.by_status[status] = target.by_status.get(status, 0) + int(n)
            target.by_age[bucket] = target.by_age.get(bucket, 0) + int(n)
    names = _names(session, Team, scope.workspace_id, {k for k in rows if k})
    for key, row in rows.items():
        row.label = names.get(key, key) if key else ""
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.team_id is None, r.label))
    return Backlog(ordered, totals)


# -- SLA compliance --------------------------------------------------------------------------

@dataclass(slots=True)
class SlaCounts:
    met: int = 0
    breached: int = 0
    running: int = 0

    @property
    def pct_met(self) -> float | None:
        done = self.met + self.breached
        return None if done == 0 else self.met / done

    def add(self, other: SlaCounts) -> None:
        self.met += other.met
        self.breached += other.breached
        self.running += other.running

    def as_dict(self) -> dict[str, Any]:
        pct = self.pct_met
        return {"met": self.met, "breached": self.breached, "running": self.running,
                "pct_met": None if pct is None else round(pct * 100, 1)}


@dataclass(slots=True)
class SlaRow:
    key: str | None
    label: str
    tickets: int = 0
    metrics: dict[str, SlaCounts] = field(
        default_factory=lambda: {m: SlaCounts() for m in SLA_METRICS})

    @property
    def all(self) -> SlaCounts:
        out = SlaCounts()
        for c in self.metrics.values():
            out.add(c)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "tickets": self.tickets,
                "all": self.all.as_dict(),
                "metrics": {m: c.as_dict() for m, c in self.metrics.items()}}


@dataclass(slots=True)
class SlaReport:
    group_by: str
    rows: list[SlaRow]
    totals: SlaRow

    def as_dict(self) -> dict[str, Any]:
        return {"group_by": self.group_by, "rows": [r.as_dict() for r in self.rows],
                "totals": self.totals.as_dict(), "metrics": list(SLA_METRICS)}


def check_group(group_by: str) -> None:
    if group_by not in GROUPS:
        raise _bad("ticket_report_bad_group", "分组只能是 policy、team 或 agent",
                   "group_by must be policy, team or agent", group_by=group_by[:40])


def sla_compliance(session: Session, actor: Actor, *, since: datetime, until: datetime,
                   group_by: str = "policy", team_id: str | None = None,
                   template_id: str | None = None) -> SlaReport:
    """Met / breached / running clocks per policy, team or agent, tickets created in the
    range; rows sorted by % met (worst first). Counts the ``sla_<metric>`` outcome columns
    that ``clocks.store`` keeps (a breach is counted once the tick or an action saw it)."""
    check_group(group_by)
    scope = scope_for(actor, team_id=team_id, template_id=template_id)
    col = {"policy": Ticket.sla_policy_id, "team": Ticket.team_id,
           "agent": Ticket.assignee_id}[group_by]
    sums: list[Any] = []
    for m in SLA_METRICS:
        state = getattr(Ticket, f"sla_{m}")
        sums += [func.coalesce(func.sum(case((state == v, 1), else_=0)), 0)
                 for v in ("met", "breached", "running")]
    stmt = (select(col, func.count(), *sums)
            .where(*scope.where(), Ticket.created_at >= since, Ticket.created_at < until,
                   Ticket.sla_policy_id.is_not(None))
            .group_by(col))
    rows: list[SlaRow] = []
    totals = SlaRow(None, "")
    for rec in session.execute(stmt):
        key, n, *vals = rec
        row = SlaRow(key, "", tickets=int(n))
        for i, m in enumerate(SLA_METRICS):
            row.metrics[m] = SlaCounts(int(vals[3 * i]), int(vals[3 * i + 1]),
                                       int(vals[3 * i + 2]))
            totals.metrics[m].add(row.metrics[m])
        totals.tickets += row.tickets
        rows.append(row)
    model = {"policy": SlaPolicy, "team": Team, "agent": User}[group_by]
    names = _names(session, model, scope.workspace_id, {r.key for r in rows if r.key})
    for row in rows:
        row.label = names.get(row.key, row.key) if row.key else ""

    def order(r: SlaRow) -> tuple[float, str]:
        pct = r.all.pct_met
        return (2.0 if pct is None else pct, r.label)

    rows.sort(key=order)
    return SlaReport(group_by, rows, totals)


# -- time distributions ------------------------------------------------------------------------

@dataclass(slots=True)
class Distribution:
    metric: str
    n: int
    buckets: list[tuple[str, int]]
    p50_s: float | None
    p90_s: float | None
    avg_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "n": self.n, "time": "wall",
                "buckets": [{"key": k, "count": c,
                             "share": round(c / self.n, 4) if self.n else 0.0}
                            for k, c in self.buckets],
                "p50_s": self.p50_s, "p90_s": self.p90_s, "avg_s": self.avg_s}


def _seconds(session: Session, end: Any, start: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    # julianday is a double: rounded to whole milliseconds (SQLite keeps time in ms)
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def check_metric(metric: str) -> None:
    if metric not in DURATION_METRICS:
        raise _bad("ticket_report_bad_metric", "指标只能是 first_response 或 resolution",
                   "metric must be first_response or resolution", metric=metric[:40])


def distribution(session: Session, actor: Actor, *, metric: str, since: datetime,
                 until: datetime, team_id: str | None = None,
                 template_id: str | None = None) -> Distribution:
    """Histogram and percentiles of first response or resolution time (wall clock)."""
    check_metric(metric)
    scope = scope_for(actor, team_id=team_id, template_id=template_id)
    end_col = Ticket.first_response_at if metric == "first_response" else Ticket.resolved_at
    dur = _seconds(session, end_col, Ticket.created_at)
    where = [*scope.where(), end_col.is_not(None), end_col >= since, end_col < until]
    whens = [(dur < literal_column(str(hi)), key) for key, _, hi in DURATION_BUCKETS
             if hi is not None]
    bucket = case(*whens, else_=DURATION_BUCKETS[-1][0]).label("b")
    counts = {k: 0 for k, _, _ in DURATION_BUCKETS}
    n, total = 0, 0.0
    for key, c, s in session.execute(select(bucket, func.count(), func.sum(dur))
                                     .where(*where).group_by(literal_column("b"))):
        counts[key] = int(c)
        n += int(c)
        total += float(s or 0.0)

    def pct(p: float) -> float | None:
        if n == 0:
            return None
        k = max(0, math.ceil(p * n) - 1)
        v = session.scalar(select(dur).where(*where).order_by(dur).limit(1).offset(k))
        return None if v is None else round(max(0.0, float(v)), 1)

    return Distribution(metric, n, list(counts.items()), pct(0.5), pct(0.9),
                        round(total / n, 1) if n else None)


# -- top categories ----------------------------------------------------------------------------

@dataclass(slots=True)
class Category:
    value: str | None
    label: str
    count: int
    share: float

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "count": self.count,
                "share": round(self.share, 4)}


@dataclass(slots=True)
class Categories:
    template_id: str
    field_key: str
    field_label: str
    total: int
    rows: list[Category]

    def as_dict(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "field_key": self.field_key,
                "field_label": self.field_label, "total": self.total,
                "rows": [r.as_dict() for r in self.rows]}


def select_fields(template: TicketTemplate) -> list[dict[str, Any]]:
    """The template's select / multi-select fields (what categories can be counted by)."""
    return [f for f in (template.fields or []) if isinstance(f, dict)
            and f.get("type") in ("select", "multiselect") and isinstance(f.get("key"), str)]


def _option_labels(spec: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for opt in spec.get("options") or []:
        if isinstance(opt, dict):
            value = opt.get("value", opt.get("key"))
            if value is not None:
                out[str(value)] = str(opt.get("label") or value)
        elif opt is not None:
            out[str(opt)] = str(opt)
    return out


def top_categories(session: Session, actor: Actor, *, template_id: str, field_key: str,
                   since: datetime, until: datetime, team_id: str | None = None,
                   limit: int = 20) -> Categories:
    """The most frequent values of a template's select field (tickets of the template
    created in the range; ``value`` None = left empty). Multi-select values count once per
    value chosen; shares are of the tickets."""
    scope = scope_for(actor, team_id=team_id, template_id=template_id)
    template = session.get(TicketTemplate, template_id)
    if template is None or template.workspace_id != actor.workspace_id:
        raise NotFound("模板不存在 / No such template", code="template_not_found",
                       id=template_id)
    spec = next((f for f in select_fields(template) if f["key"] == field_key), None)
    if spec is None:
        raise _bad("ticket_report_bad_field", "该模板没有这个单选/多选字段",
                   "The template has no select field with this key", field=field_key[:64])
    labels = _option_labels(spec)
    where = [*scope.where(), Ticket.created_at >= since, Ticket.created_at < until]
    counts: dict[str | None, int] = {}
    total = 0
    if spec.get("type") == "select":
        value = Ticket.fields[field_key].as_string().label("v")
        for v, c in session.execute(select(value, func.count()).where(*where)
                                    .group_by(literal_column("v"))):
            key = None if v in (None, "") else str(v)
            counts[key] = counts.get(key, 0) + int(c)
            total += int(c)
    else:  # multi-select: a JSON list per ticket, counted here
        for (values,) in session.execute(select(Ticket.fields[field_key]).where(*where)):
            total += 1
            chosen = [str(v) for v in values] if isinstance(values, list) else []
            for key in dict.fromkeys(chosen) or [None]:
                counts[key] = counts.get(key, 0) + 1
    rows = [Category(k, labels.get(k, k) if k is not None else "", c,
                     c / total if total else 0.0) for k, c in counts.items()]
    rows.sort(key=lambda r: (-r.count, r.value is None, r.label))
    return Categories(template.id, field_key, str(spec.get("label") or field_key), total,
                      rows[:limit])


# -- daily trend ---------------------------------------------------------------------------------

@dataclass(slots=True)
class TrendPoint:
    day: date
    created: int = 0
    resolved: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "created": self.created,
                "resolved": self.resolved}


def _hour_expr(session: Session, col: Any, shift_minutes: int) -> Any:
    """The UTC hour of ``col + shift_minutes`` as SQL (no bound parameters: grouped by)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(literal_column("'hour'"), func.timezone(
            literal_column("'UTC'"), col + literal_column(f"interval '{int(shift_minutes)} "
                                                          "minutes'")))
    return func.strftime(literal_column("'%Y-%m-%d %H'"), col,
                         literal_column(f"'{int(shift_minutes):+d} minutes'"))


def trend(session: Session, actor: Actor, *, since: datetime, until: datetime,
          zone: ZoneInfo, team_id: str | None = None,
          template_id: str | None = None) -> list[TrendPoint]:
    """Tickets created and resolved per local day (every day of the range, zeros kept).
    Counted per UTC hour in SQL, then put in local days (right across DST changes)."""
    scope = scope_for(actor, team_id=team_id, template_id=template_id)
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    points = {first + timedelta(days=i): TrendPoint(first + timedelta(days=i))
              for i in range((last - first).days + 1)}
    offset = since.astimezone(zone).utcoffset() or timedelta()
    shift = int(offset.total_seconds() // 60) % 60
    for name, col in (("created", Ticket.created_at), ("resolved", Ticket.resolved_at)):
        hour = _hour_expr(session, col, shift).label("h")
        stmt = (select(hour, func.count()).where(*scope.where(), col >= since, col < until)
                .group_by(literal_column("h")))
        for h, n in session.execute(stmt):
            at = (datetime.strptime(h + " +0000", "%Y-%m-%d %H %z") if isinstance(h, str)
                  else h.replace(tzinfo=UTC))
            day = (at - timedelta(minutes=shift)).astimezone(zone).date()
            point = points.get(day)
            if point is not None:
                setattr(point, name, getattr(point, name) + int(n))
    return [points[d] for d in sorted(points)]
