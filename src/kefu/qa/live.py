"""Real-time inspection: alerts on stored messages, interception of agent drafts.

* ``check_draft`` — an agent's draft against the workspace's compiled rules, before it is
  stored: hits of rules with ``block`` stop the send (the agent sees the words and rephrases),
  other hits are returned for information.
* ``record_override`` — the agent sent a blocked draft anyway: the reason is audited
  (``qa.override``) and supervisors get an alert with reason ``override``.
* the inline listener on ``message.created`` — every stored, customer-visible message is
  checked with its sender's role; hits of rules with ``alert`` become ``QaAlert`` rows (one per
  message and rule: a replayed event never alerts twice) and an ``AlertRaised`` event. Customer
  anger (a sentiment rule with ``alert``) has reason ``anger`` and raises the conversation's
  priority to ``high``.
* the inline listener on ``qa.alert_raised`` — publishes a ``qa.alert`` frame to the
  supervisors' topic (users with ``qa.alerts``), after the alert committed.
* ``acknowledge_alert`` and ``list_alerts`` — the wallboard's writes and reads.

Inline listeners run in the thread that committed the message; they never raise (errors are
logged) and cost one cached rule lookup plus ``check_message`` (tens of microseconds) for a
message without an alert hit. Only an alert hit opens a write.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import User
from kefu.contacts.models import Contact
from kefu.core import audit
from kefu.core.errors import Invalid, NotFound
from kefu.core.events import Event, EventBus
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork, UowFactory
from kefu.inbox.access import access_conversation
from kefu.inbox.events import ConversationUpdated, MessageCreated
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.inbox.queries import conversation_read
from kefu.nlp import sentiment
from kefu.qa.engine import Hit, check_message, fold
from kefu.qa.events import AlertRaised
from kefu.qa.models import QaAlert
from kefu.qa.pii import mask_pii
from kefu.qa.registry import QaRegistry, WorkspaceRules, rule_channel
from kefu.qa.rules import AnyRule, PiiRule, Role

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], None]

#: an inbox's ``channel_type`` → the channel name rules use (``Rule.channels``)
#: characters of a message kept in an alert (spans beyond are dropped)
MAX_EXCERPT = 1000
MAX_REASON = 500
PRIORITY_ORDER = ("low", "normal", "high", "urgent")
#: customer anger raises a conversation's priority to at least this
ANGER_PRIORITY = "high"
ROLES: frozenset[str] = frozenset({"customer", "agent", "bot"})


# -- drafts ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DraftHit:
    rule_id: str
    rule_name: str
    kind: str
    span: tuple[int, int] | None
    block: bool
    alert: bool

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "rule_name": self.rule_name, "kind": self.kind,
                "span": list(self.span) if self.span is not None else None,
                "block": self.block, "alert": self.alert}


@dataclass(frozen=True, slots=True)
class DraftCheck:
    """The hits of a draft: ``blocking`` (rules with ``block``: not sent without an override)
    and ``other`` (everything else, for information)."""

    text: str
    blocking: tuple[DraftHit, ...]
    other: tuple[DraftHit, ...]
    #: the text with personal data masked, when a masking rule hit (same length as ``text``)
    masked: str | None = None
    #: the hits of masking rules (stored in the message's meta as ``qa_masked``)
    masked_hits: tuple[DraftHit, ...] = ()

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)

    def as_dict(self) -> dict[str, Any]:
        return {"blocked": self.blocked, "blocking": [h.as_dict() for h in self.blocking],
                "other": [h.as_dict() for h in self.other]}


def _rules_by_id(rules: WorkspaceRules) -> dict[str, AnyRule]:
    return {r.id: r for r in rules.rules}


def _draft_hits(hits: Iterable[Hit], by_id: dict[str, AnyRule]) -> list[DraftHit]:
    out = []
    for h in hits:
        rule = by_id.get(h.rule_id)
        out.append(DraftHit(h.rule_id, h.rule_name, h.kind, h.span,
                            block=bool(rule is not None and rule.block),
                            alert=bool(rule is not None and rule.alert)))
    return out


def _channel_of(session: Session, inbox_id: str) -> str | None:
    return rule_channel(session.scalar(select(Inbox.channel_type).where(Inbox.id == inbox_id)))


def check_draft(uow: UnitOfWork, registry: QaRegistry, actor: Actor, conversation_id: str,
                text: str) -> DraftCheck:
    """What the workspace's rules say about an agent's draft reply (nothing is stored)."""
    actor.require("conversation.reply")
    conv = access_conversation(actor, conversation_id, session=uow.session)
    rules = registry.get(uow.session, conv.workspace_id)
    compiled = rules.compiled(conv.inbox_id, _channel_of(uow.session, conv.inbox_id))
    by_id = _rules_by_id(rules)
    hits = _draft_hits(check_message(compiled, "agent", text), by_id)
    maskers = {h.rule_id: rule for h in hits
               if isinstance(rule := by_id.get(h.rule_id), PiiRule) and rule.mask}
    masking = tuple(h for h in hits if h.rule_id in maskers and h.span is not None)
    masked = None
    if masking:
        masked = mask_pii(text, frozenset(k for r in maskers.values() for k in r.kinds))
    return DraftCheck(text, tuple(h for h in hits if h.block),
                      tuple(h for h in hits if not h.block), masked, masking)


def _spans(hits: Iterable[DraftHit | Hit], limit: int) -> list[list[int]]:
    out = sorted({(h.span[0], min(h.span[1], limit)) for h in hits
                  if h.span is not None and h.span[0] < limit})
    return [list(s) for s in out]


def record_override(uow: UnitOfWork, actor: Actor, conversation_id: str, message_id: str,
                    hits: Sequence[DraftHit], reason: str) -> list[QaAlert]:
    """The agent sent a blocked message anyway: audit it and alert supervisors (one alert per
    blocked rule, reason ``override``, the agent's reason as its note)."""
    actor.require("conversation.reply")
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise Invalid(f"请填写 1–{MAX_REASON} 字的发送理由 / Give a reason of 1–{MAX_REASON} "
                      "characters", code="bad_override_reason", field="qa_override_reason")
    conv = access_conversation(actor, conversation_id, session=uow.session)
    msg = uow.session.get(Message, message_id)
    if msg is None or msg.conversation_id != conv.id:
        raise NotFound("消息不存在 / No such message", code="message_not_found", id=message_id)
    audit.record(uow, workspace_id=conv.workspace_id, actor_id=actor.user_id,
                 action="qa.override", object_type="message", object_id=msg.id,
                 data={"conversation_id": conv.id, "reason": reason,
                       "hits": [h.as_dict() for h in hits]})
    by_rule: dict[str, list[DraftHit]] = {}
    for h in hits:
        by_rule.setdefault(h.rule_id, []).append(h)
    existing = set(uow.session.scalars(select(QaAlert.rule_key).where(
        QaAlert.message_id == msg.id)))
    excerpt = msg.content[:MAX_EXCERPT]
    alerts = []
    for key, rule_hits in by_rule.items():
        if key in existing:
            continue
        alert = QaAlert(id=new_id(), workspace_id=conv.workspace_id, conversation_id=conv.id,
                        message_id=msg.id, rule_key=key, rule_name=rule_hits[0].rule_name,
                        kind=rule_hits[0].kind, reason="override", sender_type="agent",
                        sender_id=actor.user_id, spans=_spans(rule_hits, len(excerpt)),
                        excerpt=excerpt, note=reason, created_at=uow.clock.now())
        uow.session.add(alert)
        alerts.append(alert)
    uow.session.flush()
    for alert in alerts:
        _emit_raised(uow, alert)
    return alerts


def _emit_raised(uow: UnitOfWork, alert: QaAlert) -> None:
    uow.emit(AlertRaised(workspace_id=alert.workspace_id, alert_id=alert.id,
                         conversation_id=alert.conversation_id, message_id=alert.message_id,
                         rule_key=alert.rule_key, rule_name=alert.rule_name,
                         reason=alert.reason, excerpt=alert.excerpt, spans=alert.spans))


# -- alerts: reads and acknowledgement --------------------------------------------------------

def alert_dict(alert: QaAlert, *, contact_name: str = "", agent_id: str | None = None,
               agent_name: str = "") -> dict[str, Any]:
    """An alert as the API and the ``qa.alert`` frame show it."""
    return {
        "id": alert.id, "conversation_id": alert.conversation_id,
        "message_id": alert.message_id, "rule_key": alert.rule_key,
        "rule_name": alert.rule_name, "kind": alert.kind, "reason": alert.reason,
        "sender_type": alert.sender_type, "sender_id": alert.sender_id,
        "spans": [list(s) for s in alert.spans or []], "excerpt": alert.excerpt,
        "note": alert.note, "contact_name": contact_name, "agent_id": agent_id,
        "agent_name": agent_name, "created_at": alert.created_at.isoformat(),
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": (alert.acknowledged_at.isoformat()
                            if alert.acknowledged_at is not None else None),
    }


def describe_alerts(session: Session, alerts: Sequence[QaAlert]) -> list[dict[str, Any]]:
    """Alerts with the customer's and the agent's names (the sender when an agent wrote,
    else the conversation's assignee), in two queries."""
    if not alerts:
        return []
    conv_ids = {a.conversation_id for a in alerts}
    rows = session.execute(
        select(Conversation.id, Conversation.assignee_id, Contact.name)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id.in_(conv_ids))).all()
    convs = {r[0]: (r[1], r[2] or "") for r in rows}
    agent_ids = {a.sender_id for a in alerts if a.sender_type == "agent" and a.sender_id}
    agent_ids |= {c[0] for c in convs.values() if c[0]}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(agent_ids))).all()
                 ) if agent_ids else {}
    out = []
    for a in alerts:
        assignee, contact_name = convs.get(a.conversation_id, (None, ""))
        agent_id = a.sender_id if a.sender_type == "agent" else assignee
        out.append(alert_dict(a, contact_name=contact_name, agent_id=agent_id,
                              agent_name=names.get(agent_id, "") if agent_id else ""))
    return out


def access_alert(actor: Actor, alert_id: str, *, session: Session) -> QaAlert:
    actor.require("qa.alerts")
    alert = session.get(QaAlert, alert_id)
    if alert is None or alert.workspace_id != actor.workspace_id:
        raise NotFound("告警不存在 / No such alert", code="alert_not_found", id=alert_id)
    return alert


def acknowledge_alert(uow: UnitOfWork, actor: Actor, alert_id: str) -> QaAlert:
    """A supervisor has seen the alert. Acknowledging twice keeps the first acknowledgement."""
    alert = access_alert(actor, alert_id, session=uow.session)
    if alert.acknowledged_at is None:
        alert.acknowledged_by = actor.user_id
        alert.acknowledged_at = uow.clock.now()
        audit.record(uow, workspace_id=alert.workspace_id, actor_id=actor.user_id,
                     action="qa.alert_ack", object_type="qa_alert", object_id=alert.id)
    return alert


@dataclass(frozen=True)
class AlertPage:
    items: list[dict[str, Any]]
    next_cursor: str | None
    unacknowledged: int


def list_alerts(session: Session, actor: Actor, *, unacknowledged: bool = False,
                since: datetime | None = None, limit: int = 50,
                cursor: str | None = None) -> AlertPage:
    """The workspace's alerts, newest first; ``cursor`` is the last alert id of the previous
    page. ``unacknowledged`` counts every open alert of the workspace (for the counter)."""
    actor.require("qa.alerts")
    ws = actor.workspace_id
    stmt = select(QaAlert).where(QaAlert.workspace_id == ws)
    if unacknowledged:
        stmt = stmt.where(QaAlert.acknowledged_at.is_(None))
    if since is not None:
        stmt = stmt.where(QaAlert.created_at >= since)
    if cursor:
        last = session.get(QaAlert, cursor)
        if last is None or last.workspace_id != ws:
            raise Invalid("无效的游标 / Invalid cursor", code="bad_cursor", field="cursor")
        stmt = stmt.where(or_(QaAlert.created_at < last.created_at,
                              and_(QaAlert.created_at == last.created_at,
                                   QaAlert.id < last.id)))
    rows = list(session.scalars(stmt.order_by(QaAlert.created_at.desc(), QaAlert.id.desc())
                                .limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    open_count = int(session.scalar(select(func.count(QaAlert.id)).where(
        QaAlert.workspace_id == ws, QaAlert.acknowledged_at.is_(None))) or 0)
    return AlertPage(describe_alerts(session, rows), rows[-1].id if more and rows else None,
                     open_count)


# -- the inline listeners -------------------------------------------------------------------

def _anger_spans(text: str) -> list[list[int]]:
    """Where the anger cues are (for highlighting; the sentiment rule already decided)."""
    folded = fold(text)
    return [[a, b] for a, b in sentiment.anger_spans(folded)]


class LiveInspector:
    """The real-time path of one process. ``uows`` may be replaced (tests bind it to their
    own transaction)."""

    def __init__(self, registry: QaRegistry, uows: UowFactory, publish: Publish,
                 supervisors_topic: Callable[[str], str]) -> None:
        self.registry = registry
        self.uows = uows
        self.publish = publish
        self.supervisors_topic = supervisors_topic
        self._channels: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # message.created → alerts
    def on_message(self, event: Event) -> None:
        try:
            if isinstance(event, MessageCreated):
                self.inspect_message(event)
        except Exception:
            log.exception("qa: live inspection of a message failed")

    def _channel(self, session: Session, inbox_id: str) -> str | None:
        with self._lock:
            if inbox_id in self._channels:
                return self._channels[inbox_id]
        channel_type = session.scalar(select(Inbox.channel_type).where(Inbox.id == inbox_id))
        channel = rule_channel(channel_type)
        if channel_type is not None:
            with self._lock:
                self._channels[inbox_id] = channel
        return channel

    def alert_hits(self, event: MessageCreated) -> list[tuple[AnyRule, list[Hit]]]:
        """The alerting rules a stored message hit, with their hits (no writes)."""
        msg, conv = event.message, event.conversation
        if msg.private or msg.sender_type not in ROLES:
            return []
        with self.uows.sessions() as session:
            rules = self.registry.get(session, event.workspace_id)
            if not any(r.alert for r in rules.rules):
                return []
            compiled = rules.compiled(conv.inbox_id, self._channel(session, conv.inbox_id))
        hits = check_message(compiled, cast(Role, msg.sender_type), msg.content)
        by_id = _rules_by_id(rules)
        # personal data masked when it was sent: the stored text no longer shows it
        for noted in (msg.meta or {}).get("qa_masked") or ():
            rule = by_id.get(str(noted.get("rule_id")))
            span = noted.get("span")
            if rule is not None and isinstance(span, list) and len(span) == 2:
                hits.append(Hit(rule.id, rule.name, rule.kind, None,
                                (int(span[0]), int(span[1])), rule.deduction))
        if not hits:
            return []
        grouped: dict[str, tuple[AnyRule, list[Hit]]] = {}
        for h in hits:
            rule = by_id.get(h.rule_id)
            if rule is not None and rule.alert:
                grouped.setdefault(rule.id, (rule, []))[1].append(h)
        return list(grouped.values())

    def inspect_message(self, event: MessageCreated) -> list[str]:
        """Store the alerts of one stored message; returns the new alert ids."""
        found = self.alert_hits(event)
        if not found:
            return []
        msg = event.message
        with self.uows.sessions() as session:  # a plain read first: nothing to do if gone
            if session.get(Conversation, msg.conversation_id) is None:
                return []
        with self.uows() as uow:
            conv = uow.session.get(Conversation, msg.conversation_id)
            if conv is None:
                return []
            existing = set(uow.session.scalars(select(QaAlert.rule_key).where(
                QaAlert.message_id == msg.id)))
            excerpt = msg.content[:MAX_EXCERPT]
            created: list[QaAlert] = []
            angry = False
            for rule, hits in found:
                if rule.id in existing:
                    continue
                anger = rule.kind == "sentiment" and msg.sender_type == "customer"
                angry = angry or anger
                spans = _anger_spans(excerpt) if anger else _spans(hits, len(excerpt))
                alert = QaAlert(id=new_id(), workspace_id=conv.workspace_id,
                                conversation_id=conv.id, message_id=msg.id, rule_key=rule.id,
                                rule_name=rule.name, kind=rule.kind,
                                reason="anger" if anger else "alert",
                                sender_type=msg.sender_type, sender_id=msg.sender_id,
                                spans=spans, excerpt=excerpt, created_at=uow.clock.now())
                try:  # another process may have stored it already: skip just that one
                    with uow.session.begin_nested():
                        uow.session.add(alert)
                        uow.session.flush()
                except IntegrityError:
                    continue
                created.append(alert)
            if not created:
                return []
            for alert in created:
                _emit_raised(uow, alert)
            if angry:
                _raise_priority(uow, conv, ANGER_PRIORITY, event.conversation.contact_name)
            return [a.id for a in created]

    # qa.alert_raised → a frame for supervisors
    def on_alert(self, event: Event) -> None:
        try:
            if isinstance(event, AlertRaised):
                self.push_alert(event)
        except Exception:
            log.exception("qa: publishing a live alert failed")

    def push_alert(self, event: AlertRaised) -> None:
        with self.uows.sessions() as session:
            alert = session.get(QaAlert, event.alert_id)
            if alert is None:
                return
            described = describe_alerts(session, [alert])
        self.publish(self.supervisors_topic(event.workspace_id),
                     {"type": "qa.alert", **described[0]})


def _raise_priority(uow: UnitOfWork, conv: Conversation, priority: str,
                    contact_name: str) -> None:
    """Raise (never lower) a conversation's priority, as the system (no acting user)."""
    current = PRIORITY_ORDER.index(conv.priority) if conv.priority in PRIORITY_ORDER else 1
    if current >= PRIORITY_ORDER.index(priority):
        return
    conv.priority = priority
    uow.session.flush()
    uow.emit(ConversationUpdated(workspace_id=conv.workspace_id,
                                 conversation=conversation_read(conv, contact_name),
                                 changed=["priority"], actor_id=None))


_INSPECTORS: weakref.WeakKeyDictionary[EventBus, LiveInspector] = weakref.WeakKeyDictionary()


def inspector(bus: EventBus) -> LiveInspector:
    """The real-time inspector registered on a bus (tests rebind its ``uows``)."""
    return _INSPECTORS[bus]


def register(bus: EventBus, registry: QaRegistry, uows: UowFactory, publish: Publish,
             supervisors_topic: Callable[[str], str]) -> None:
    """Inline listeners of the real-time path (message.created → alerts → frames)."""
    live = LiveInspector(registry, uows, publish, supervisors_topic)
    _INSPECTORS[bus] = live
    bus.subscribe("message.created", live.on_message)
    bus.subscribe("qa.alert_raised", live.on_alert)
