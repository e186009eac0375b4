"""Reads of review and appeal: permission-checked loads, the review queue, result lists, one
inspection with its transcript (hits mapped onto message spans), appeals and the audit
timeline.

Who sees what: a user who may review, manage or decide (inspectors, supervisors, admins) sees
every result of the workspace; anyone else holding ``qa.read`` (agents) sees only the results
where they are the inspected agent. Another workspace's object, and a result an agent may not
see, are simply missing (``NotFound``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.queries import user_names
from kefu.core.audit import AuditEntry
from kefu.core.errors import Invalid, NotFound
from kefu.core.pagination import Page
from kefu.inbox.models import Inbox, Message
from kefu.qa.engine import Score
from kefu.qa.inspections import score_inspection
from kefu.qa.models import QaAppeal, QaHit, QaInspection

SAMPLED_REASONS = ("fatal", "low_score", "low_csat", "random")
#: the object type of every audit entry of review and appeal (object_id: the inspection)
AUDIT_OBJECT = "qa_inspection"


def sees_all(actor: Actor) -> bool:
    """Inspectors, supervisors and admins see every result; agents only their own."""
    return any(actor.can(p) for p in ("qa.review", "qa.manage", "qa.decide"))


def _missing(inspection_id: str) -> NotFound:
    return NotFound("质检结果不存在 / No such inspection result", code="qa_inspection_not_found",
                    id=inspection_id)


def access_inspection(actor: Actor, inspection_id: str, *, session: Session,
                      for_update: bool = False) -> QaInspection:
    actor.require("qa.read")
    stmt = select(QaInspection).where(QaInspection.id == inspection_id)
    if for_update:
        stmt = stmt.with_for_update()
    insp = session.scalar(stmt)
    if insp is None or insp.workspace_id != actor.workspace_id:
        raise _missing(inspection_id)
    if not sees_all(actor) and insp.agent_id != actor.user_id:
        raise _missing(inspection_id)
    return insp


def access_hit(actor: Actor, hit_id: str, *, session: Session) -> QaHit:
    actor.require("qa.read")
    hit = session.get(QaHit, hit_id)
    if hit is None or hit.workspace_id != actor.workspace_id:
        raise NotFound("命中记录不存在 / No such rule hit", code="qa_hit_not_found", id=hit_id)
    return hit


def access_appeal(actor: Actor, appeal_id: str, *, session: Session,
                  for_update: bool = False) -> QaAppeal:
    actor.require("qa.read")
    stmt = select(QaAppeal).where(QaAppeal.id == appeal_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None or row.workspace_id != actor.workspace_id or (
            not sees_all(actor) and row.agent_id != actor.user_id):
        raise NotFound("申诉不存在 / No such appeal", code="qa_appeal_not_found", id=appeal_id)
    return row


def inspection_hits(session: Session, inspection_id: str) -> list[QaHit]:
    return list(session.scalars(
        select(QaHit).where(QaHit.inspection_id == inspection_id)
        .order_by(QaHit.message_index.is_(None), QaHit.message_index, QaHit.span_start,
                  QaHit.id)))


# -- scoring ---------------------------------------------------------------------------------

def rescore(inspection: QaInspection, hits: Sequence[QaHit]) -> Score:
    """The score of an inspection over its hits that are not overruled, with the scorecard
    stored on it (``card``): ``kefu.qa.inspections.score_inspection``, so review and appeal
    score exactly like the batch. Pure: nothing is changed (``review.apply_score`` stores
    it)."""
    return score_inspection(inspection, hits)


# -- lists -----------------------------------------------------------------------------------

@dataclass
class InspectionRow:
    id: str
    conversation_id: str
    inbox_id: str
    inbox_name: str
    agent_id: str | None
    agent_name: str
    score: float
    base: float
    fatal: bool
    hit_count: int
    status: str
    sampled: str | None
    conversation_at: datetime
    inspected_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    appeal_deadline: datetime | None
    open_appeals: int = 0
    can_appeal: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_reason(reason: str | None) -> None:
    if reason is not None and reason not in SAMPLED_REASONS:
        raise Invalid("无效的抽样原因 / Invalid sampling reason", code="qa_bad_reason",
                      reason=reason, allowed=list(SAMPLED_REASONS))


def _filtered(stmt: Select[QaInspection], *, inbox_id: str | None, agent_id: str | None,
              since: datetime | None, until: datetime | None) -> Select[QaInspection]:
    if inbox_id:
        stmt = stmt.where(QaInspection.inbox_id == inbox_id)
    if agent_id:
        stmt = stmt.where(QaInspection.agent_id == agent_id)
    if since is not None:
        stmt = stmt.where(QaInspection.conversation_at >= since)
    if until is not None:
        stmt = stmt.where(QaInspection.conversation_at < until)
    return stmt


def _appeal_open(inspection: QaInspection, now: datetime | None) -> bool:
    if inspection.status not in ("auto", "reviewed"):
        return False
    return now is None or inspection.appeal_deadline is None or now <= inspection.appeal_deadline


def _rows(session: Session, actor: Actor, rows: Sequence[QaInspection],
          now: datetime | None) -> list[InspectionRow]:
    names = user_names(session, actor.workspace_id)
    inbox_ids = {r.inbox_id for r in rows}
    inboxes: dict[str, str] = {r[0]: r[1] for r in session.execute(
        select(Inbox.id, Inbox.name).where(Inbox.id.in_(inbox_ids)))} if inbox_ids else {}
    ids = [r.id for r in rows]
    open_appeals: dict[str, int] = {r[0]: r[1] for r in session.execute(
        select(QaAppeal.inspection_id, func.count()).where(
            QaAppeal.inspection_id.in_(ids), QaAppeal.status == "open")
        .group_by(QaAppeal.inspection_id))} if ids else {}
    return [InspectionRow(
        id=r.id, conversation_id=r.conversation_id, inbox_id=r.inbox_id,
        inbox_name=inboxes.get(r.inbox_id, ""), agent_id=r.agent_id,
        agent_name=names.get(r.agent_id or "", ""), score=r.score, base=r.base,
        fatal=r.fatal, hit_count=r.hit_count, status=r.status, sampled=r.sampled,
        conversation_at=r.conversation_at, inspected_at=r.inspected_at,
        reviewed_by=r.reviewed_by, reviewed_at=r.reviewed_at,
        appeal_deadline=r.appeal_deadline, open_appeals=open_appeals.get(r.id, 0),
        can_appeal=r.agent_id == actor.user_id and _appeal_open(r, now))
        for r in rows]


def _page(session: Session, actor: Actor, stmt: Select[QaInspection], *,
          order: Sequence[Any], limit: int, offset: int,
          now: datetime | None) -> Page[InspectionRow]:
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(*order).limit(limit).offset(offset)))
    return Page(items=_rows(session, actor, rows, now), total=total, limit=limit,
                offset=offset)


def review_queue(session: Session, actor: Actor, *, reason: str | None = None,
                 inbox_id: str | None = None, agent_id: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int = 50, offset: int = 0) -> Page[InspectionRow]:
    """Sampled results still waiting for a reviewer (status ``auto``), the longest-waiting
    first. Filters: sampling reason, inbox, agent, conversation date [since, until)."""
    actor.require("qa.review")
    _check_reason(reason)
    stmt = select(QaInspection).where(QaInspection.workspace_id == actor.workspace_id,
                                      QaInspection.sampled.is_not(None),
                                      QaInspection.status == "auto")
    if reason:
        stmt = stmt.where(QaInspection.sampled == reason)
    stmt = _filtered(stmt, inbox_id=inbox_id, agent_id=agent_id, since=since, until=until)
    return _page(session, actor, stmt, order=(QaInspection.inspected_at, QaInspection.id),
                 limit=limit, offset=offset, now=None)


STATUSES = ("auto", "reviewed", "appealed", "final")


def list_inspections(session: Session, actor: Actor, *, status: str | None = None,
                     sampled: str | None = None, inbox_id: str | None = None,
                     agent_id: str | None = None, fatal: bool | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     now: datetime | None = None, limit: int = 50,
                     offset: int = 0) -> Page[InspectionRow]:
    """Inspection results, newest conversation first. An agent gets only their own."""
    actor.require("qa.read")
    _check_reason(sampled)
    if status is not None and status not in STATUSES:
        raise Invalid("无效的状态 / Invalid status", code="qa_bad_status", status=status,
                      allowed=list(STATUSES))
    if not sees_all(actor):
        agent_id = actor.user_id
    stmt = select(QaInspection).where(QaInspection.workspace_id == actor.workspace_id)
    if status:
        stmt = stmt.where(QaInspection.status == status)
    if sampled:
        stmt = stmt.where(QaInspection.sampled == sampled)
    if fatal is not None:
        stmt = stmt.where(QaInspection.fatal.is_(fatal))
    stmt = _filtered(stmt, inbox_id=inbox_id, agent_id=agent_id, since=since, until=until)
    return _page(session, actor, stmt,
                 order=(QaInspection.conversation_at.desc(), QaInspection.id.desc()),
                 limit=limit, offset=offset, now=now)


def my_results(session: Session, actor: Actor, *, now: datetime, limit: int = 50,
               offset: int = 0) -> Page[InspectionRow]:
    """The acting user's own results, newest first, with score, deadline and whether an
    appeal is still possible."""
    actor.require("qa.read")
    stmt = select(QaInspection).where(QaInspection.workspace_id == actor.workspace_id,
                                      QaInspection.agent_id == actor.user_id)
    return _page(session, actor, stmt,
                 order=(QaInspection.conversation_at.desc(), QaInspection.id.desc()),
                 limit=limit, offset=offset, now=now)


# -- appeals ---------------------------------------------------------------------------------

APPEAL_STATUSES = ("open", "accepted", "rejected")


@dataclass
class AppealRow:
    id: str
    inspection_id: str
    conversation_id: str
    hit_id: str | None
    rule_name: str
    agent_id: str
    agent_name: str
    reason: str
    status: str
    score: float
    decided_by: str | None
    decided_by_name: str
    decided_at: datetime | None
    decision_comment: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _appeal_rows(session: Session, actor: Actor, rows: Sequence[QaAppeal]) -> list[AppealRow]:
    names = user_names(session, actor.workspace_id)
    insp_ids = {a.inspection_id for a in rows}
    insps = {i.id: i for i in session.scalars(
        select(QaInspection).where(QaInspection.id.in_(insp_ids)))} if insp_ids else {}
    hit_ids = {a.hit_id for a in rows if a.hit_id}
    rule_names: dict[str, str] = {r[0]: r[1] for r in session.execute(
        select(QaHit.id, QaHit.rule_name).where(QaHit.id.in_(hit_ids)))} if hit_ids else {}
    out = []
    for a in rows:
        insp = insps.get(a.inspection_id)
        out.append(AppealRow(
            id=a.id, inspection_id=a.inspection_id,
            conversation_id=insp.conversation_id if insp else "", hit_id=a.hit_id,
            rule_name=rule_names.get(a.hit_id or "", ""), agent_id=a.agent_id,
            agent_name=names.get(a.agent_id, ""), reason=a.reason, status=a.status,
            score=insp.score if insp else 0.0, decided_by=a.decided_by,
            decided_by_name=names.get(a.decided_by or "", ""), decided_at=a.decided_at,
            decision_comment=a.decision_comment, created_at=a.created_at))
    return out


def list_appeals(session: Session, actor: Actor, *, status: str | None = None,
                 agent_id: str | None = None, limit: int = 50,
                 offset: int = 0) -> Page[AppealRow]:
    """Appeals, open ones first (oldest open first, so none waits forever), then decided
    ones newest first. An agent gets only their own."""
    actor.require("qa.read")
    if status is not None and status not in APPEAL_STATUSES:
        raise Invalid("无效的状态 / Invalid status", code="qa_bad_status", status=status,
                      allowed=list(APPEAL_STATUSES))
    if not sees_all(actor):
        agent_id = actor.user_id
    stmt = select(QaAppeal).where(QaAppeal.workspace_id == actor.workspace_id)
    if status:
        stmt = stmt.where(QaAppeal.status == status)
    if agent_id:
        stmt = stmt.where(QaAppeal.agent_id == agent_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    is_open = case((QaAppeal.status == "open", 0), else_=1)
    # open: oldest first; decided: newest decision first
    decided_order = case((QaAppeal.status == "open", None), else_=QaAppeal.decided_at)
    rows = list(session.scalars(stmt.order_by(
        is_open, decided_order.desc(), QaAppeal.created_at, QaAppeal.id)
        .limit(limit).offset(offset)))
    return Page(items=_appeal_rows(session, actor, rows), total=total, limit=limit,
                offset=offset)


def appeal_row(session: Session, actor: Actor, appeal_id: str) -> AppealRow:
    return _appeal_rows(session, actor, [access_appeal(actor, appeal_id, session=session)])[0]


# -- one inspection --------------------------------------------------------------------------

@dataclass
class Segment:
    text: str
    #: the hits covering this piece of text (empty: plain text)
    hit_ids: list[str] = field(default_factory=list)
    rule_names: list[str] = field(default_factory=list)


def segments(text: str, spans: Sequence[tuple[int, int, str, str]]) -> list[Segment]:
    """Cut ``text`` at every span edge; each piece lists the hits ``(start, end, hit_id,
    rule_name)`` covering it (overlapping spans of several rules are kept apart)."""
    n = len(text)
    clean = [(max(0, s), min(n, e), hid, name) for s, e, hid, name in spans
             if min(n, e) > max(0, s)]
    cuts = sorted({0, n, *(s for s, _, _, _ in clean), *(e for _, e, _, _ in clean)})
    out: list[Segment] = []
    for a, b in pairwise(cuts):
        covering = [(hid, name) for s, e, hid, name in clean if s <= a and b <= e]
        seg = Segment(text=text[a:b], hit_ids=[h for h, _ in covering],
                      rule_names=list(dict.fromkeys(name for _, name in covering)))
        if out and not seg.hit_ids and not out[-1].hit_ids:
            out[-1].text += seg.text
        else:
            out.append(seg)
    return out or [Segment(text=text)]


def _hit_dict(h: QaHit, names: dict[str, str]) -> dict[str, Any]:
    return {"id": h.id, "rule_key": h.rule_key, "rule_name": h.rule_name, "kind": h.kind,
            "message_id": h.message_id, "message_index": h.message_index,
            "span": [h.span_start, h.span_end]
            if h.span_start is not None and h.span_end is not None else None,
            "deduction": h.deduction, "fatal": h.fatal, "group": h.group,
            "review": h.review, "review_comment": h.review_comment,
            "reviewed_by": h.reviewed_by, "reviewed_by_name": names.get(h.reviewed_by or "", ""),
            "reviewed_at": h.reviewed_at}


def audit_timeline(session: Session, inspection: QaInspection) -> list[dict[str, Any]]:
    names = user_names(session, inspection.workspace_id)
    rows = session.scalars(select(AuditEntry).where(
        AuditEntry.workspace_id == inspection.workspace_id,
        AuditEntry.object_type == AUDIT_OBJECT, AuditEntry.object_id == inspection.id)
        .order_by(AuditEntry.at, AuditEntry.id))
    return [{"id": e.id, "action": e.action, "actor_id": e.actor_id,
             "actor_name": names.get(e.actor_id or "", ""), "at": e.at, "data": e.data}
            for e in rows]


def inspection_detail(session: Session, actor: Actor, inspection_id: str, *,
                      now: datetime) -> dict[str, Any]:
    """One result: the inspection, its score per group, the conversation's public messages in
    order with the hits' spans cut into segments, conversation-level hits, appeals, the audit
    timeline and what the actor may do with it."""
    insp = access_inspection(actor, inspection_id, session=session)
    names = user_names(session, actor.workspace_id)
    hits = inspection_hits(session, insp.id)
    result = rescore(insp, hits)
    msgs = list(session.scalars(select(Message).where(
        Message.conversation_id == insp.conversation_id, Message.private.is_(False))
        .order_by(Message.seq)))
    by_id = {m.id: i for i, m in enumerate(msgs)}
    per_message: dict[int, list[QaHit]] = {}
    conversation_hits: list[QaHit] = []
    for h in hits:
        index = by_id.get(h.message_id or "") if h.message_id else None
        if index is None and h.message_index is not None and 0 <= h.message_index < len(msgs):
            index = h.message_index
        if index is None:
            conversation_hits.append(h)
        else:
            per_message.setdefault(index, []).append(h)
    messages = []
    for i, m in enumerate(msgs):
        mh = per_message.get(i, [])
        spans = [(h.span_start, h.span_end, h.id, h.rule_name) for h in mh
                 if h.span_start is not None and h.span_end is not None
                 and h.review != "overruled"]
        messages.append({
            "id": m.id, "index": i, "seq": m.seq, "sender_type": m.sender_type,
            "sender_name": names.get(m.sender_id or "", "") if m.sender_type == "agent" else "",
            "created_at": m.created_at, "content": m.content,
            "segments": segments(m.content, spans),
            "hits": [_hit_dict(h, names) for h in mh]})
    appeals = list_appeals_of(session, actor, insp)
    open_appeals = [a for a in appeals if a.status == "open"]
    deadline_open = _appeal_open(insp, now)
    groups = sorted(result.per_group.items(), key=lambda kv: -abs(kv[1]))
    return {
        "inspection": {
            "id": insp.id, "conversation_id": insp.conversation_id, "inbox_id": insp.inbox_id,
            "agent_id": insp.agent_id, "agent_name": names.get(insp.agent_id or "", ""),
            "score": insp.score, "base": insp.base, "fatal": insp.fatal,
            "hit_count": insp.hit_count, "message_count": insp.message_count,
            "status": insp.status, "sampled": insp.sampled, "reviewed_by": insp.reviewed_by,
            "reviewed_by_name": names.get(insp.reviewed_by or "", ""),
            "reviewed_at": insp.reviewed_at, "appeal_deadline": insp.appeal_deadline,
            "conversation_at": insp.conversation_at, "inspected_at": insp.inspected_at,
            "rules_version": insp.rules_version},
        "per_group": [{"group": g, "deduction": round(d, 4)} for g, d in groups],
        "messages": messages,
        "conversation_hits": [_hit_dict(h, names) for h in conversation_hits],
        "hits": [_hit_dict(h, names) for h in hits],
        "appeals": [a.as_dict() for a in appeals],
        "timeline": audit_timeline(session, insp),
        "can": {
            "review": actor.can("qa.review") and insp.agent_id != actor.user_id
            and insp.status in ("auto", "reviewed"),
            "finish": actor.can("qa.review") and insp.agent_id != actor.user_id
            and insp.status == "auto",
            "appeal": insp.agent_id == actor.user_id and deadline_open
            and not any(a.hit_id is None for a in open_appeals),
            "decide": actor.can("qa.decide") and bool(open_appeals),
        },
    }


def list_appeals_of(session: Session, actor: Actor, inspection: QaInspection) -> list[AppealRow]:
    rows = list(session.scalars(select(QaAppeal).where(
        QaAppeal.inspection_id == inspection.id).order_by(
        case((QaAppeal.status == "open", 0), else_=1), QaAppeal.created_at, QaAppeal.id)))
    return _appeal_rows(session, actor, rows)
