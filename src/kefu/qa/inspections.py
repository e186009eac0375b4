"""Stored inspections: a conversation inspected and scored (on resolve, or by a batch run).

``inspect_conversation`` runs the workspace's compiled rules over a conversation's messages
and stores ONE ``QaInspection`` per conversation with its ``QaHit`` rows. Re-inspecting
replaces the hits (idempotent); with ``rule_key`` only that rule's hits are replaced. The work
is split in two so that a batch can do the slow part outside the write lock:
``prepare_inspection`` (reads + the engine, no writes) and ``store_inspection`` (writes).

A resolved conversation is inspected by the durable ``qa_inspect`` job, enqueued in the same
transaction as the status change (``register``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from kefu.core.errors import DomainError, Invalid, NotFound
from kefu.core.events import Event, EventBus
from kefu.core.ids import new_id
from kefu.core.jobs import JobQueue
from kefu.core.uow import UnitOfWork
from kefu.inbox.events import ConversationUpdated
from kefu.inbox.models import Conversation, Inbox
from kefu.inbox.models import Message as MessageRow
from kefu.qa.engine import (
    OTHER_GROUP,
    CompiledRules,
    Hit,
    Score,
    Scorecard,
    ScoreItem,
    inspect,
    score,
)
from kefu.qa.events import InspectionDone
from kefu.qa.models import QaHit, QaInspection, QaRule
from kefu.qa.registry import QaRegistry, rule_channel
from kefu.qa.rules import ConversationFacts, Message, Role

log = logging.getLogger(__name__)

#: a conversation with more inspected messages than this is refused (nothing stored)
MAX_MESSAGES = 10_000
#: an agent may appeal for this long after the inspection
APPEAL_WINDOW = timedelta(days=3)
#: below this score an inspection goes to the review queue
LOW_SCORE = 60.0
#: this share of the other inspections is sampled at random (deterministically, by id)
RANDOM_SAMPLE_PERCENT = 5
#: another conversation of the same customer this long before counts as a repeat contact
REPEAT_WINDOW = timedelta(hours=24)
ROLES: Mapping[str, Role] = {"customer": "customer", "agent": "agent", "bot": "bot"}
REVIEW_FIELDS = ("review", "review_comment", "reviewed_by", "reviewed_at")


@dataclass(frozen=True)
class Prepared:
    """The engine's verdict on one conversation, ready to be stored (no row written yet)."""

    conversation_id: str
    workspace_id: str
    inbox_id: str
    team_id: str | None
    agent_id: str | None
    conversation_at: datetime
    message_ids: tuple[str, ...]
    hits: tuple[Hit, ...]
    scorecard_id: str | None
    scorecard: Scorecard
    rules_version: str
    rule_key: str | None
    #: rule mode: the rule and the combinations that use it (their hits are replaced)
    rule_keys: frozenset[str] = frozenset()


def _card_item(item: ScoreItem) -> dict[str, Any]:
    return {"deduction": item.deduction, "per_hit": item.per_hit, "cap": item.cap,
            "fatal": item.fatal, "group": item.group}


def card_snapshot(card: Scorecard, rule_keys: Iterable[str]) -> dict[str, Any]:
    """The stored form of a scorecard: base, weights and the items of ``rule_keys``."""
    return {"base": card.base, "group_weights": dict(card.group_weights),
            "items": {k: _card_item(card.items[k]) for k in sorted(set(rule_keys))
                      if k in card.items}}


def card_from_snapshot(card: Mapping[str, Any]) -> Scorecard:
    items = {}
    for key, raw in (card.get("items") or {}).items():
        cap = raw.get("cap")
        items[str(key)] = ScoreItem(deduction=float(raw.get("deduction", 0.0)),
                                    per_hit=bool(raw.get("per_hit", False)),
                                    cap=None if cap is None else float(cap),
                                    fatal=bool(raw.get("fatal", False)),
                                    group=str(raw.get("group", OTHER_GROUP)))
    return Scorecard(items=items, base=float(card.get("base", 100.0)),
                     group_weights={str(k): float(v)
                                    for k, v in (card.get("group_weights") or {}).items()})


def score_inspection(inspection: QaInspection, hits: Iterable[QaHit]) -> Score:
    """Score an inspection again with the scorecard stored with it (``inspection.card``),
    counting only the hits that are not overruled (``review == "overruled"`` is left out).

    Pure: nothing is written. Review and appeal call it after a hit changes, then store
    ``score``/``fatal`` themselves (or call ``apply_score``)."""
    card = card_from_snapshot(inspection.card or {})
    active = [Hit(h.rule_key, h.rule_name, h.kind,  # type: ignore[arg-type]
                  h.message_index,
                  None if h.span_start is None or h.span_end is None
                  else (h.span_start, h.span_end), h.deduction)
              for h in hits if h.review != "overruled"]
    return score(active, card)


def apply_score(inspection: QaInspection, hits: Sequence[QaHit]) -> Score:
    """``score_inspection``, written to the inspection (``score``, ``fatal``, ``hit_count``:
    the hits not overruled)."""
    result = score_inspection(inspection, hits)
    inspection.score = result.total
    inspection.fatal = result.fatal
    inspection.hit_count = sum(1 for h in hits if h.review != "overruled")
    return result


def sample_reason(conversation_id: str, score_total: float, fatal: bool) -> str | None:
    """Why an inspection goes to the review queue: ``fatal``, ``low_score`` (< 60), or
    ``random`` for a deterministic 5 % of the rest (by a hash of the conversation id)."""
    if fatal:
        return "fatal"
    if score_total < LOW_SCORE:
        return "low_score"
    bucket = int.from_bytes(hashlib.sha256(conversation_id.encode()).digest()[:8], "big") % 100
    return "random" if bucket < RANDOM_SAMPLE_PERCENT else None


def too_large(count: int) -> Invalid:
    return Invalid(f"会话消息过多（{count} 条，上限 {MAX_MESSAGES} 条），未质检 / "
                   f"The conversation has too many messages to inspect ({count}, at most "
                   f"{MAX_MESSAGES}); nothing was stored",
                   code="qa_conversation_too_large", count=count, max_messages=MAX_MESSAGES)


def _transfers(rows: Sequence[Any]) -> int:
    """Times the conversation moved from one agent to another: an assignment recorded in the
    thread (an activity line) after someone already handled it."""
    handled = False
    count = 0
    for m in rows:
        if m.sender_type == "agent" and not m.private:
            handled = True
        elif m.sender_type == "system":
            meta = m.meta or {}
            if meta.get("activity") == "assign" or " assigned it to " in m.content:
                if handled:
                    count += 1
                handled = True
    return count


def _repeat_contact(session: Session, conv: Conversation) -> bool:
    since = conv.created_at - REPEAT_WINDOW
    return session.scalar(
        select(Conversation.id).where(
            Conversation.contact_id == conv.contact_id, Conversation.id != conv.id,
            Conversation.created_at >= since,
            or_(Conversation.created_at < conv.created_at,
                (Conversation.created_at == conv.created_at) & (Conversation.id < conv.id)))
        .limit(1)) is not None


def conversation_facts(session: Session, conv: Conversation,
                       rows: Sequence[Any] | None = None) -> ConversationFacts:
    """What the ``fact`` rules know of a conversation: ``transfers`` (assignments recorded in
    the thread after someone already handled it), ``repeat_contact`` (the customer's other
    conversation created in the 24 h before) and ``bot_failed_handoff`` (a bot message
    handing off because it could not answer: its ``meta`` says ``kind: handoff`` with a
    reason other than the customer asking for a person). ``csat`` is not known yet (no
    surveys). ``rows``: the conversation's messages in order, every kind (read when not
    given)."""
    if rows is None:
        rows = session.execute(
            select(MessageRow.sender_type, MessageRow.private, MessageRow.content,
                   MessageRow.meta)
            .where(MessageRow.conversation_id == conv.id).order_by(MessageRow.seq)).all()
    return ConversationFacts(transfers=_transfers(rows),
                             repeat_contact=_repeat_contact(session, conv),
                             bot_failed_handoff=_bot_failed(rows))


#: bot handoff reasons that mean the bot failed (not: the customer asked for a person)
BOT_FAILURES = frozenset({"no_match", "low_confidence", "negative_feedback", "error"})


def _bot_failed(rows: Sequence[Any]) -> bool:
    for m in rows:
        meta = m.meta or {}
        if (m.sender_type == "bot" and meta.get("kind") in ("handoff", "leave_message")
                and meta.get("reason") in BOT_FAILURES):
            return True
    return False


def _masked_hits(compiled: CompiledRules, kept: Sequence[Any], found: Sequence[Hit]
                 ) -> list[Hit]:
    """Personal data masked when the agent sent it (``meta.qa_masked``): the stored text no
    longer shows it, so the hits noted at send time count — for rules still in force."""
    seen = {(h.rule_id, h.message_index, h.span) for h in found}
    out: list[Hit] = []
    for index, row in enumerate(kept):
        for noted in (row.meta or {}).get("qa_masked") or ():
            rule = compiled.rule(str(noted.get("rule_id")))
            span = noted.get("span")
            if rule is None or not isinstance(span, list) or len(span) != 2:
                continue
            hit = Hit(rule.id, rule.name, rule.kind, index, (int(span[0]), int(span[1])),
                      rule.deduction)
            if (hit.rule_id, hit.message_index, hit.span) not in seen:
                seen.add((hit.rule_id, hit.message_index, hit.span))
                out.append(hit)
    return out


def prepare_inspection(session: Session, registry: QaRegistry, conversation_id: str, *,
                       now: datetime, rule_key: str | None = None) -> Prepared:
    """Read a conversation and run the engine over it; writes nothing. Raises ``NotFound``
    for a missing conversation and ``Invalid`` (``qa_conversation_too_large``) for one with
    more than ``MAX_MESSAGES`` messages."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound("会话不存在 / No such conversation", code="conversation_not_found",
                       id=conversation_id)
    count = int(session.scalar(
        select(func.count(MessageRow.id)).where(
            MessageRow.conversation_id == conv.id, MessageRow.private.is_(False),
            MessageRow.sender_type.in_(tuple(ROLES)))) or 0)
    if count > MAX_MESSAGES:
        raise too_large(count)
    rows = session.execute(
        select(MessageRow.id, MessageRow.sender_type, MessageRow.private, MessageRow.content,
               MessageRow.meta, MessageRow.created_at)
        .where(MessageRow.conversation_id == conv.id).order_by(MessageRow.seq)).all()
    kept = [r for r in rows if not r.private and r.sender_type in ROLES]
    messages = [Message(role=ROLES[r.sender_type], text=r.content, ts=r.created_at)
                for r in kept]
    channel = session.scalar(select(Inbox.channel_type).where(Inbox.id == conv.inbox_id))
    facts = conversation_facts(session, conv, rows)
    wr = registry.get(session, conv.workspace_id)
    compiled = wr.compiled(conv.inbox_id, rule_channel(channel))
    hits = inspect(compiled, messages, now=conv.resolved_at or now, facts=facts)
    hits += _masked_hits(compiled, kept, hits)
    keys: frozenset[str] = frozenset()
    if rule_key is not None:
        keys = _with_dependents(session, conv.workspace_id, rule_key)
        hits = [h for h in hits if h.rule_id in keys]
    choice = wr.scorecard(conv.inbox_id, conv.team_id)
    return Prepared(conversation_id=conv.id, workspace_id=conv.workspace_id,
                    inbox_id=conv.inbox_id, team_id=conv.team_id, agent_id=conv.assignee_id,
                    conversation_at=conv.created_at,
                    message_ids=tuple(r.id for r in kept), hits=tuple(hits),
                    scorecard_id=choice.scorecard_id, scorecard=choice.scorecard,
                    rules_version=wr.version, rule_key=rule_key, rule_keys=keys)


def _hit_row(p: Prepared, inspection_id: str, h: Hit, card: Scorecard) -> QaHit:
    item = card.items.get(h.rule_id)
    return QaHit(
        id=new_id(), workspace_id=p.workspace_id, inspection_id=inspection_id,
        conversation_id=p.conversation_id,
        message_id=None if h.message_index is None else p.message_ids[h.message_index],
        message_index=h.message_index, rule_key=h.rule_id, rule_name=h.rule_name[:200],
        kind=h.kind, span_start=None if h.span is None else h.span[0],
        span_end=None if h.span is None else h.span[1],
        deduction=item.deduction if item is not None else h.deduction,
        fatal=item.fatal if item is not None else False,
        group=item.group if item is not None else OTHER_GROUP,
        review="open", review_comment="")


def _identity(h: QaHit) -> tuple[Any, ...]:
    return (h.rule_key, h.message_id, h.span_start, h.span_end)


def _with_dependents(session: Session, workspace_id: str, rule_key: str) -> frozenset[str]:
    """``rule_key`` and every stored combination that uses it, directly or through another —
    enabled or not (a combination dropped because its rule was disabled loses its hits)."""
    uses: dict[str, set[str]] = {}
    for key, definition in session.execute(select(QaRule.key, QaRule.definition).where(
            QaRule.workspace_id == workspace_id, QaRule.kind == "combination")):
        d = definition or {}
        refs = [*d.get("all_of", ()), *d.get("any_of", ()), *d.get("none_of", ())]
        if d.get("after"):
            refs.append(d["after"])
        uses[key] = {str(r) for r in refs}
    keys = {rule_key}
    grew = True
    while grew:
        grew = False
        for key, used in uses.items():
            if key not in keys and keys & used:
                keys.add(key)
                grew = True
    return frozenset(keys)


def _merge_card(card: Mapping[str, Any], p: Prepared) -> dict[str, Any]:
    """The stored card with the items of ``p.rule_keys`` taken from the current card (rule
    mode)."""
    assert p.rule_key is not None
    out = dict(card)
    items = dict(out.get("items") or {})
    hit_keys = {h.rule_id for h in p.hits}
    for key in p.rule_keys or {p.rule_key}:
        items.pop(key, None)
        if key in hit_keys and key in p.scorecard.items:
            items[key] = _card_item(p.scorecard.items[key])
    out["items"] = items
    out.setdefault("base", p.scorecard.base)
    out.setdefault("group_weights", dict(p.scorecard.group_weights))
    return out


def store_inspection(uow: UnitOfWork, p: Prepared, *, run_id: str | None = None
                     ) -> QaInspection:
    """Write a prepared inspection: insert it, or update the conversation's row in place and
    replace its hits (all of them, or only those of ``p.rule_keys``). A review decision on a
    hit that is found again unchanged (same rule, message and span) is kept. A result a person
    has reviewed, appealed or decided (status other than ``auto``) is kept as it is: the
    people's decisions stand, and the appeal deadline is set once, when first inspected."""
    session = uow.session
    now = uow.clock.now()
    if session.get_bind().dialect.name == "postgresql":
        # one inspection per conversation: concurrent inspections of it queue here
        session.execute(select(Conversation.id).where(Conversation.id == p.conversation_id)
                        .with_for_update())
    inspection = session.scalar(select(QaInspection).where(
        QaInspection.conversation_id == p.conversation_id))
    if inspection is not None and inspection.status != "auto":
        return inspection
    partial = p.rule_key is not None and inspection is not None
    if inspection is None:
        inspection = QaInspection(id=new_id(), workspace_id=p.workspace_id,
                                  conversation_id=p.conversation_id, status="auto",
                                  score=0.0, card={}, appeal_deadline=now + APPEAL_WINDOW)
        old: list[QaHit] = []
    else:
        stmt = select(QaHit).where(QaHit.inspection_id == inspection.id)
        if partial:
            stmt = stmt.where(QaHit.rule_key.in_(sorted(p.rule_keys or {p.rule_key or ""})))
        old = list(session.scalars(stmt))
    inspection.inbox_id = p.inbox_id
    inspection.team_id = p.team_id
    inspection.agent_id = p.agent_id
    inspection.message_count = len(p.message_ids)
    inspection.conversation_at = p.conversation_at
    inspection.inspected_at = now
    inspection.run_id = run_id
    session.add(inspection)
    session.flush()  # the row exists before its hits (no ORM relationship orders them)
    reviews = {_identity(h): {f: getattr(h, f) for f in REVIEW_FIELDS}
               for h in old if h.review != "open"}
    if old:
        session.execute(delete(QaHit).where(QaHit.id.in_([h.id for h in old])))
        for h in old:
            session.expunge(h)
    if partial:
        inspection.card = _merge_card(inspection.card or {}, p)
        scoring = card_from_snapshot(inspection.card)
    else:
        inspection.card = card_snapshot(p.scorecard, (h.rule_id for h in p.hits))
        inspection.scorecard_id = p.scorecard_id
        inspection.rules_version = p.rules_version
        inspection.base = p.scorecard.base
        scoring = p.scorecard
    new_rows = [_hit_row(p, inspection.id, h, scoring) for h in p.hits]
    for row in new_rows:
        for field_, value in reviews.get(_identity(row), {}).items():
            setattr(row, field_, value)
    session.add_all(new_rows)
    session.flush()
    every = list(session.scalars(select(QaHit).where(QaHit.inspection_id == inspection.id)))
    result = apply_score(inspection, every)
    inspection.sampled = sample_reason(p.conversation_id, result.total, result.fatal)
    session.flush()
    uow.emit(InspectionDone(workspace_id=p.workspace_id, inspection_id=inspection.id,
                            conversation_id=p.conversation_id, score=result.total,
                            fatal=result.fatal))
    return inspection


def inspect_conversation(uow: UnitOfWork, registry: QaRegistry, conversation_id: str, *,
                         run_id: str | None = None, rule_key: str | None = None
                         ) -> QaInspection:
    """Inspect one conversation as the system (no permission check: jobs and the CLI call
    it) and store the result, replacing any earlier one. With ``rule_key`` only that rule's
    hits are replaced (a conversation never inspected gets a full inspection) and the score is
    recomputed from all hits. Raises ``Invalid`` (``qa_conversation_too_large``) for a
    conversation of more than ``MAX_MESSAGES`` messages, before anything is written."""
    session = uow.session
    exists = rule_key is not None and session.scalar(
        select(QaInspection.id).where(QaInspection.conversation_id == conversation_id)) \
        is not None
    prepared = prepare_inspection(session, registry, conversation_id, now=uow.clock.now(),
                                  rule_key=rule_key if exists else None)
    return store_inspection(uow, prepared, run_id=run_id)


# ------------------------------------------------------------------------------- the job


def select_qa_inspect(event: Event) -> tuple[str, dict[str, Any], str | None] | None:
    """A conversation that became resolved is inspected (once per resolution)."""
    if not isinstance(event, ConversationUpdated):
        return None
    conv = event.conversation
    if "status" not in event.changed or conv.status != "resolved":
        return None
    at = conv.resolved_at.isoformat() if conv.resolved_at is not None else ""
    return "qa_inspect", {"conversation_id": conv.id}, f"qa_inspect:{conv.id}:{at}"


def register(bus: EventBus, jobs: JobQueue, registry: QaRegistry) -> None:
    """Job listeners: a resolved conversation is inspected by a durable ``qa_inspect`` job."""

    def qa_inspect(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        conversation_id = str(payload["conversation_id"])
        status = uow.session.scalar(
            select(Conversation.status).where(Conversation.id == conversation_id))
        if status != "resolved":
            return  # reopened (it is inspected when resolved again) or deleted
        try:
            inspect_conversation(uow, registry, conversation_id)
        except DomainError as exc:
            # a user-caused refusal (too many messages): retrying cannot help
            log.warning("qa_inspect %s refused: %s [%s]", conversation_id, exc.message,
                        exc.code)

    jobs.register("qa_inspect", qa_inspect)
    bus.subscribe_job("conversation.updated", select_qa_inspect)
