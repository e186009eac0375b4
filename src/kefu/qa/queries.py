"""QA reports: stored inspection results summed per agent / team / inbox, hits per rule, the
score trend by day or week, and the drill-down from any of those numbers to the conversations
and their highlighted hits.

Every figure is about conversations *held* in the range (``QaInspection.conversation_at``),
not when they were inspected: a batch re-inspection must not move last month's results to
today. Overruled hits never count. An actor with ``qa.read`` but not ``qa.review`` (an agent)
sees only their own results, whatever filter they pass. Sums are done by the database
(``GROUP BY``); the trend groups by UTC hour in SQL and folds the hours into the workspace's
local days or weeks in Python, which is exact for every zone and portable (SQLite,
PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, func, literal_column, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team, User, Workspace
from kefu.core.errors import Invalid
from kefu.inbox.models import Inbox, Message
from kefu.qa.models import QaHit, QaInspection

GroupBy = Literal["agent", "team", "inbox"]
Bucket = Literal["day", "week"]
GROUP_BY: tuple[str, ...] = ("agent", "team", "inbox")
BUCKETS: tuple[str, ...] = ("day", "week")
MAX_DAYS = 366
DEFAULT_TZ = "Asia/Shanghai"
#: stands for "no agent" / "no team" in filters and row keys of the web layer
NONE_KEY = "none"
EXCERPT_CONTEXT = 30
HITS_PER_ROW = 8


# -- parameters ------------------------------------------------------------------------------

def workspace_zone(session: Session, workspace_id: str) -> ZoneInfo:
    """The workspace's timezone (``Workspace.timezone``), Asia/Shanghai when unset or unknown."""
    name = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def local_range(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local days ``first``..``last`` (inclusive) as a half-open aware UTC range."""
    if not (date(1971, 1, 1) <= first and last <= date(9998, 12, 31)):
        raise Invalid("日期超出范围 / Date out of range", code="qa_report_bad_date",
                      first=first.isoformat(), last=last.isoformat())
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(),
                             tzinfo=zone).astimezone(UTC)
    return since, until


def check_range(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("时间必须带时区 / Times must carry a timezone", code="qa_report_naive_time")
    if since >= until:
        raise Invalid("开始时间必须早于结束时间 / The start must be before the end",
                      code="qa_report_bad_range", since=since.isoformat(),
                      until=until.isoformat())
    if until - since > timedelta(days=MAX_DAYS, hours=1):  # +1 h: a DST day is 25 h long
        raise Invalid(f"时间范围最多 {MAX_DAYS} 天 / The range is at most {MAX_DAYS} days",
                      code="qa_report_range_too_long", max_days=MAX_DAYS)


def check_group_by(group_by: str) -> None:
    if group_by not in GROUP_BY:
        raise Invalid("分组只能是 agent、team 或 inbox / group_by must be agent, team or inbox",
                      code="qa_report_bad_group_by", group_by=group_by[:32])


def check_bucket(bucket: str) -> None:
    if bucket not in BUCKETS:
        raise Invalid("粒度只能是 day 或 week / bucket must be day or week",
                      code="qa_report_bad_bucket", bucket=bucket[:32])


@dataclass(frozen=True, slots=True)
class Scope:
    """Who asks and which inspections: the WHERE clause every report shares."""

    workspace_id: str
    since: datetime
    until: datetime
    inbox_id: str | None = None
    team_id: str | None = None
    agent_id: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        i = QaInspection
        out: list[ColumnElement[bool]] = [
            i.workspace_id == self.workspace_id,
            i.conversation_at >= self.since, i.conversation_at < self.until]
        for col, value in ((i.inbox_id, self.inbox_id), (i.team_id, self.team_id),
                           (i.agent_id, self.agent_id)):
            if value == NONE_KEY and col is not i.inbox_id:
                out.append(col.is_(None))
            elif value:
                out.append(col == value)
        return out


def scope_for(actor: Actor, *, since: datetime, until: datetime, inbox_id: str | None = None,
              team_id: str | None = None, agent_id: str | None = None) -> Scope:
    """Check the permission and the range; an agent (no ``qa.review``) is held to their own
    results."""
    actor.require("qa.read")
    check_range(since, until)
    if not actor.can("qa.review"):
        agent_id = actor.user_id
    return Scope(actor.workspace_id, since.astimezone(UTC), until.astimezone(UTC),
                 inbox_id or None, team_id or None, agent_id or None)


def _not_overruled() -> ColumnElement[bool]:
    return QaHit.review != "overruled"


# -- summary per agent / team / inbox ----------------------------------------------------------

@dataclass(slots=True)
class ReportRow:
    key: str | None
    label: str
    inspections: int = 0
    avg_score: float | None = None
    min_score: float | None = None
    fatal_count: int = 0
    hit_count: int = 0

    @property
    def hits_per_conversation(self) -> float:
        return self.hit_count / self.inspections if self.inspections else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "inspections": self.inspections,
                "avg_score": None if self.avg_score is None else round(self.avg_score, 2),
                "min_score": None if self.min_score is None else round(self.min_score, 2),
                "fatal_count": self.fatal_count, "hit_count": self.hit_count,
                "hits_per_conversation": round(self.hits_per_conversation, 3)}


@dataclass(slots=True)
class Report:
    group_by: str
    since: datetime
    until: datetime
    rows: list[ReportRow]
    totals: ReportRow

    def as_dict(self) -> dict[str, Any]:
        return {"group_by": self.group_by, "since": self.since.isoformat(),
                "until": self.until.isoformat(), "rows": [r.as_dict() for r in self.rows],
                "totals": self.totals.as_dict()}


def _group_col(group_by: str) -> Any:
    """The grouping expression. ``coalesce(col, '')`` rather than the bare column: SQLite
    would otherwise walk the (workspace_id, agent_id) index to skip the sort and pay one
    random table lookup per row (2-3x slower than scanning and sorting)."""
    col = {"agent": QaInspection.agent_id, "team": QaInspection.team_id,
           "inbox": QaInspection.inbox_id}[group_by]
    return func.coalesce(col, literal_column("''"))


def labels(session: Session, workspace_id: str, group_by: str,
           keys: set[str]) -> dict[str, str]:
    """Names of users / teams / inboxes of one workspace, by id."""
    if not keys:
        return {}
    model: Any = {"agent": User, "team": Team, "inbox": Inbox}[group_by]
    rows = session.execute(select(model.id, model.name).where(
        model.workspace_id == workspace_id, model.id.in_(sorted(keys))))
    return {r[0]: r[1] for r in rows}


def report(session: Session, actor: Actor, *, since: datetime, until: datetime,
           group_by: str = "agent", inbox_id: str | None = None, team_id: str | None = None,
           agent_id: str | None = None) -> Report:
    """Inspections, average / lowest score, fatal count and (not overruled) hits per agent,
    team or inbox, worst average first; ``totals`` over the whole scope (the average of all
    inspections, not of the rows)."""
    check_group_by(group_by)
    scope = scope_for(actor, since=since, until=until, inbox_id=inbox_id, team_id=team_id,
                      agent_id=agent_id)
    i = QaInspection
    col = _group_col(group_by)
    measures = (func.count(), func.avg(i.score), func.min(i.score),
                func.coalesce(func.sum(case((i.fatal.is_(True), 1), else_=0)), 0))
    rows: dict[str | None, ReportRow] = {}
    for raw, n, avg, low, fatal in session.execute(
            select(col, *measures).where(*scope.where()).group_by(col)):
        key = raw or None
        rows[key] = ReportRow(key=key, label="", inspections=int(n),
                              avg_score=float(avg) if avg is not None else None,
                              min_score=float(low) if low is not None else None,
                              fatal_count=int(fatal))
    totals = ReportRow(key=None, label="")
    if rows:
        for key, hits in session.execute(
                select(col, func.count()).select_from(QaHit)
                .join(i, QaHit.inspection_id == i.id)
                .where(*scope.where(), _not_overruled()).group_by(col)):
            if (key or None) in rows:
                rows[key or None].hit_count = int(hits)
        totals.inspections = sum(r.inspections for r in rows.values())
        totals.fatal_count = sum(r.fatal_count for r in rows.values())
        totals.hit_count = sum(r.hit_count for r in rows.values())
        totals.avg_score = sum((r.avg_score or 0.0) * r.inspections
                               for r in rows.values()) / totals.inspections
        totals.min_score = min(r.min_score for r in rows.values() if r.min_score is not None)
    names = labels(session, scope.workspace_id, group_by, {k for k in rows if k})
    for key, row in rows.items():
        row.label = names.get(key, key) if key else ""
    ordered = sorted(rows.values(), key=lambda r: (r.avg_score if r.avg_score is not None
                                                   else 0.0, -r.inspections, r.label))
    return Report(group_by=group_by, since=scope.since, until=scope.until, rows=ordered,
                  totals=totals)


# -- hits per rule ------------------------------------------------------------------------------

@dataclass(slots=True)
class RuleRow:
    rule_key: str
    rule_name: str
    kind: str
    hits: int
    conversations: int
    share: float

    def as_dict(self) -> dict[str, Any]:
        return {"rule_key": self.rule_key, "rule_name": self.rule_name, "kind": self.kind,
                "hits": self.hits, "conversations": self.conversations,
                "share": round(self.share, 4)}


def hits_by_rule(session: Session, actor: Actor, *, since: datetime, until: datetime,
                 inbox_id: str | None = None, team_id: str | None = None,
                 agent_id: str | None = None, limit: int = 50) -> list[RuleRow]:
    """Hits (not overruled) per rule, most hits first: how many, in how many conversations,
    and the rule's share of all hits in scope."""
    scope = scope_for(actor, since=since, until=until, inbox_id=inbox_id, team_id=team_id,
                      agent_id=agent_id)
    i = QaInspection
    stmt = (select(QaHit.rule_key, func.max(QaHit.rule_name), func.max(QaHit.kind),
                   func.count(), func.count(func.distinct(QaHit.inspection_id)))
            .select_from(QaHit).join(i, QaHit.inspection_id == i.id)
            .where(*scope.where(), _not_overruled()).group_by(QaHit.rule_key))
    rows = [RuleRow(rule_key=k, rule_name=str(name or k), kind=str(kind or ""), hits=int(n),
                    conversations=int(c), share=0.0)
            for k, name, kind, n, c in session.execute(stmt)]
    total = sum(r.hits for r in rows)
    for r in rows:
        r.share = r.hits / total if total else 0.0
    rows.sort(key=lambda r: (-r.hits, r.rule_key))
    return rows[:limit]


# -- trend ------------------------------------------------------------------------------------

@dataclass(slots=True)
class TrendPoint:
    start: date
    inspections: int = 0
    score_sum: float = 0.0
    fatal: int = 0

    @property
    def avg_score(self) -> float | None:
        return self.score_sum / self.inspections if self.inspections else None

    def as_dict(self) -> dict[str, Any]:
        avg = self.avg_score
        return {"start": self.start.isoformat(), "inspections": self.inspections,
                "avg_score": None if avg is None else round(avg, 2), "fatal": self.fatal}


def bucket_start(day: date, bucket: str) -> date:
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def _buckets(since: datetime, until: datetime, zone: ZoneInfo, bucket: str) -> list[date]:
    first = bucket_start(since.astimezone(zone).date(), bucket)
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    step = timedelta(days=7 if bucket == "week" else 1)
    out, day = [], first
    while day <= last:
        out.append(day)
        day += step
    return out


def _hour_expr(session: Session, shift_minutes: int) -> Any:
    """The UTC hour of ``conversation_at + shift_minutes`` as SQL, per dialect (no bound
    parameters inside, so the same text can be grouped by)."""
    col = QaInspection.conversation_at
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.strftime(literal_column("'%Y-%m-%d %H'"), col,
                             literal_column(f"'{int(shift_minutes):+d} minutes'"))
    if dialect == "postgresql":
        return func.date_trunc(literal_column("'hour'"), func.timezone(
            literal_column("'UTC'"), col + literal_column(f"interval '{int(shift_minutes)} "
                                                          "minutes'")))
    return None


def _shift_minutes(zone: ZoneInfo, at: datetime) -> int:
    """The part of the zone's UTC offset below a whole hour (30 for India, 45 for Nepal)."""
    offset = at.astimezone(zone).utcoffset() or timedelta()
    return int(offset.total_seconds() // 60) % 60


def trend(session: Session, actor: Actor, *, since: datetime, until: datetime,
          bucket: str = "day", tz: ZoneInfo | None = None, inbox_id: str | None = None,
          team_id: str | None = None, agent_id: str | None = None) -> list[TrendPoint]:
    """Average score, inspections and fatal count per local day or week (Monday first), every
    bucket of the range included (an empty one has ``avg_score`` None)."""
    check_bucket(bucket)
    scope = scope_for(actor, since=since, until=until, inbox_id=inbox_id, team_id=team_id,
                      agent_id=agent_id)
    zone = tz or workspace_zone(session, scope.workspace_id)
    points = {d: TrendPoint(start=d) for d in _buckets(scope.since, scope.until, zone, bucket)}
    i = QaInspection
    shift = _shift_minutes(zone, scope.since)
    hour = _hour_expr(session, shift)
    fatal = func.coalesce(func.sum(case((i.fatal.is_(True), 1), else_=0)), 0)
    if hour is not None:
        label = hour.label("h")
        rows: list[tuple[datetime, int, float, int]] = []
        for h, n, total, f in session.execute(
                select(label, func.count(), func.sum(i.score), fatal)
                .where(*scope.where()).group_by(label)):
            at = (datetime.strptime(h + " +0000", "%Y-%m-%d %H %z") if isinstance(h, str)
                  else h.replace(tzinfo=UTC))
            # the shifted hour back to a UTC instant inside that hour
            rows.append((at - timedelta(minutes=shift), int(n),
                         float(total or 0.0), int(f)))
    else:  # another dialect: bucket each row in Python
        rows = [(at, 1, float(s), int(bool(fl))) for at, s, fl in session.execute(
            select(i.conversation_at, i.score, i.fatal).where(*scope.where()))]
    for at, n, total, f in rows:
        start = bucket_start(at.astimezone(zone).date(), bucket)
        point = points.get(start)
        if point is None:  # cannot happen inside the range; kept safe
            continue
        point.inspections += n
        point.score_sum += total
        point.fatal += f
    return [points[d] for d in sorted(points)]


# -- drill-down -------------------------------------------------------------------------------

@dataclass(slots=True)
class DrillHit:
    id: str
    rule_key: str
    rule_name: str
    kind: str
    message_id: str | None
    message_index: int | None
    deduction: float
    fatal: bool
    review: str
    #: a window of the message text around the hit, and the hit's span inside it
    excerpt: str = ""
    span: tuple[int, int] | None = None
    cut_left: bool = False
    cut_right: bool = False

    def segments(self) -> list[tuple[str, bool]]:
        """The excerpt as (text, highlighted) pieces, for templates (no HTML built here)."""
        if not self.excerpt:
            return []
        if self.span is None:
            return [(self.excerpt, False)]
        a, b = self.span
        return [(p, m) for p, m in ((self.excerpt[:a], False), (self.excerpt[a:b], True),
                                    (self.excerpt[b:], False)) if p]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "rule_key": self.rule_key, "rule_name": self.rule_name,
                "kind": self.kind, "message_id": self.message_id,
                "message_index": self.message_index, "deduction": self.deduction,
                "fatal": self.fatal, "review": self.review, "excerpt": self.excerpt,
                "span": list(self.span) if self.span else None,
                "cut_left": self.cut_left, "cut_right": self.cut_right}


@dataclass(slots=True)
class DrillItem:
    inspection_id: str
    conversation_id: str
    conversation_at: datetime
    inbox_id: str
    inbox_name: str
    team_id: str | None
    team_name: str
    agent_id: str | None
    agent_name: str
    score: float
    fatal: bool
    status: str
    hit_count: int
    hits: list[DrillHit] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"inspection_id": self.inspection_id, "conversation_id": self.conversation_id,
                "conversation_at": self.conversation_at.isoformat(),
                "inbox_id": self.inbox_id, "inbox_name": self.inbox_name,
                "team_id": self.team_id, "team_name": self.team_name,
                "agent_id": self.agent_id, "agent_name": self.agent_name,
                "score": round(self.score, 2), "fatal": self.fatal, "status": self.status,
                "hit_count": self.hit_count, "hits": [h.as_dict() for h in self.hits],
                "url": f"/app/qa/inspections/{self.inspection_id}"}


@dataclass(slots=True)
class DrillPage:
    total: int
    limit: int
    offset: int
    items: list[DrillItem]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "limit": self.limit, "offset": self.offset,
                "items": [i.as_dict() for i in self.items]}


def excerpt(text: str, span: tuple[int, int] | None, context: int = EXCERPT_CONTEXT
            ) -> tuple[str, tuple[int, int] | None, bool, bool]:
    """A window of ``text`` around ``span`` (the span re-based into it), and whether text was
    cut on the left / right. No span: the start of the text."""
    if span is None:
        cut = len(text) > 2 * context
        return text[:2 * context], None, False, cut
    a, b = max(0, min(span[0], len(text))), max(0, min(span[1], len(text)))
    if b < a:
        a, b = b, a
    left, right = max(0, a - context), min(len(text), b + context)
    return text[left:right], (a - left, b - left), left > 0, right < len(text)


def drill_down(session: Session, actor: Actor, *, since: datetime, until: datetime,
               inbox_id: str | None = None, team_id: str | None = None,
               agent_id: str | None = None, rule_key: str | None = None,
               day: date | None = None, bucket: str = "day", fatal: bool | None = None,
               tz: ZoneInfo | None = None, limit: int = 20, offset: int = 0) -> DrillPage:
    """The inspections behind a number: lowest score first, with their (not overruled) hits
    (only ``rule_key``'s when given) and an excerpt of each hit message. ``day`` narrows the
    range to that local day (or, with ``bucket="week"``, the week starting that Monday)."""
    check_bucket(bucket)
    scope = scope_for(actor, since=since, until=until, inbox_id=inbox_id, team_id=team_id,
                      agent_id=agent_id)
    if day is not None:
        zone = tz or workspace_zone(session, scope.workspace_id)
        first = bucket_start(day, bucket)
        last = first + timedelta(days=6 if bucket == "week" else 0)
        a, b = local_range(first, last, zone)
        scope = Scope(scope.workspace_id, max(a, scope.since), min(b, scope.until),
                      scope.inbox_id, scope.team_id, scope.agent_id)
    limit = max(1, min(int(limit), 500))
    offset = max(0, int(offset))
    i = QaInspection
    conds = scope.where()
    if fatal is not None:
        conds.append(i.fatal.is_(fatal))
    if rule_key:
        conds.append(select(QaHit.id).where(
            QaHit.inspection_id == i.id, QaHit.rule_key == rule_key,
            QaHit.workspace_id == scope.workspace_id, _not_overruled()).exists())
    if scope.since >= scope.until:
        return DrillPage(total=0, limit=limit, offset=offset, items=[])
    total = session.scalar(select(func.count()).select_from(i).where(*conds)) or 0
    rows = list(session.scalars(select(i).where(*conds).order_by(
        i.score, i.conversation_at.desc(), i.id).limit(limit).offset(offset)))
    items = [DrillItem(inspection_id=r.id, conversation_id=r.conversation_id,
                       conversation_at=r.conversation_at, inbox_id=r.inbox_id, inbox_name="",
                       team_id=r.team_id, team_name="", agent_id=r.agent_id, agent_name="",
                       score=r.score, fatal=r.fatal, status=r.status, hit_count=0)
             for r in rows]
    _fill_names(session, scope.workspace_id, items)
    _fill_hits(session, scope.workspace_id, items, rule_key)
    return DrillPage(total=int(total), limit=limit, offset=offset, items=items)


def _fill_names(session: Session, workspace_id: str, items: list[DrillItem]) -> None:
    agents = labels(session, workspace_id, "agent", {x.agent_id for x in items if x.agent_id})
    teams = labels(session, workspace_id, "team", {x.team_id for x in items if x.team_id})
    inboxes = labels(session, workspace_id, "inbox", {x.inbox_id for x in items})
    for x in items:
        x.agent_name = agents.get(x.agent_id, x.agent_id) if x.agent_id else ""
        x.team_name = teams.get(x.team_id, x.team_id) if x.team_id else ""
        x.inbox_name = inboxes.get(x.inbox_id, x.inbox_id)


def _fill_hits(session: Session, workspace_id: str, items: list[DrillItem],
               rule_key: str | None) -> None:
    if not items:
        return
    by_id = {x.inspection_id: x for x in items}
    conds = [QaHit.inspection_id.in_(list(by_id)), QaHit.workspace_id == workspace_id,
             _not_overruled()]
    if rule_key:
        conds.append(QaHit.rule_key == rule_key)
    hits = session.scalars(select(QaHit).where(*conds).order_by(
        QaHit.inspection_id, QaHit.message_index, QaHit.span_start, QaHit.id))
    texts_needed: set[str] = set()
    grouped: dict[str, list[QaHit]] = defaultdict(list)
    for h in hits:
        grouped[h.inspection_id].append(h)
    for iid, hs in grouped.items():
        by_id[iid].hit_count = len(hs)
        texts_needed.update(h.message_id for h in hs[:HITS_PER_ROW] if h.message_id)
    texts = _message_texts(session, workspace_id, texts_needed)
    for iid, hs in grouped.items():
        for h in hs[:HITS_PER_ROW]:
            span = ((h.span_start, h.span_end) if h.span_start is not None
                    and h.span_end is not None else None)
            text = texts.get(h.message_id or "", "")
            ex, ex_span, cut_l, cut_r = excerpt(text, span) if text else ("", None, False,
                                                                          False)
            by_id[iid].hits.append(DrillHit(
                id=h.id, rule_key=h.rule_key, rule_name=h.rule_name, kind=h.kind,
                message_id=h.message_id, message_index=h.message_index,
                deduction=h.deduction, fatal=h.fatal, review=h.review, excerpt=ex,
                span=ex_span, cut_left=cut_l, cut_right=cut_r))


def _message_texts(session: Session, workspace_id: str, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(Message.id, Message.content).where(
        and_(Message.workspace_id == workspace_id, Message.id.in_(sorted(ids)))))
    return {r[0]: r[1] for r in rows}
