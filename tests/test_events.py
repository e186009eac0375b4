"""The typed event catalogue: every event is built, frozen, JSON round-tripped and has a known
realtime audience. A new event type fails here until it gets an entry in ``CASES``."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

import kefu
import kefu.models
from kefu.core.events import Event, EventBus
from kefu.inbox.schemas import ConversationRead, MessageRead
from kefu.realtime import listeners
from kefu.realtime.hub import agents_topic, user_topic, visitor_topic


def _import_event_modules() -> None:
    for mod in pkgutil.walk_packages(kefu.__path__, "kefu."):
        if mod.name.rsplit(".", 1)[-1] == "events":
            importlib.import_module(mod.name)


_import_event_modules()

#: the product's events (tests may define their own Event subclasses elsewhere)
CATALOGUE = {name: cls for name, cls in Event.catalogue.items()
             if cls.__module__.startswith("kefu.")}

WS, INBOX, CONTACT, CONV = "ws0000000000000000000001", "ib0000000000000000000001", \
    "ct0000000000000000000001", "cv0000000000000000000001"
AGENT = "us0000000000000000000001"
T = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)

AGENTS = agents_topic(WS)
VISITOR = visitor_topic(INBOX, CONTACT)


def conv(**kw: Any) -> ConversationRead:
    data: dict[str, Any] = {
        "id": CONV, "workspace_id": WS, "inbox_id": INBOX, "contact_id": CONTACT,
        "contact_name": "赵女士", "status": "open", "priority": "normal",
        "assignee_id": AGENT, "team_id": None, "last_seq": 3,
        "last_message_preview": "您好", "last_activity_at": T, "created_at": T,
        "resolved_at": None}
    return ConversationRead(**{**data, **kw})


def msg(**kw: Any) -> MessageRead:
    data: dict[str, Any] = {
        "id": "ms0000000000000000000001", "conversation_id": CONV, "seq": 3,
        "sender_type": "agent", "sender_id": AGENT, "sender_name": "李晓月", "private": False,
        "content": "您好，请问有什么可以帮您？", "client_msg_id": "c-1", "created_at": T}
    return MessageRead(**{**data, **kw})


@dataclass(frozen=True)
class Case:
    label: str
    build: Callable[[], Event]
    topics: frozenset[str]  # where its realtime frames go


def case(label: str, build: Callable[[], Event], *topics: str) -> Case:
    return Case(label, build, frozenset(topics))


def _ev(type_: str, **kw: Any) -> Event:
    return CATALOGUE[type_](workspace_id=WS, **kw)


CASES: dict[str, list[Case]] = {
    "message.created": [
        case("customer message", lambda: _ev("message.created", conversation=conv(),
             message=msg(sender_type="customer", sender_id=CONTACT)), AGENTS, VISITOR),
        case("agent reply", lambda: _ev("message.created", conversation=conv(),
             message=msg()), AGENTS, VISITOR),
        case("internal note", lambda: _ev("message.created", conversation=conv(),
             message=msg(private=True, content="这位客户是VIP")), AGENTS),
        case("system activity", lambda: _ev("message.created", conversation=conv(),
             message=msg(private=True, sender_type="system", sender_id=None)), AGENTS),
    ],
    "conversation.created": [
        case("new", lambda: _ev("conversation.created", conversation=conv(status="queued")),
             AGENTS),
    ],
    "conversation.updated": [
        case("status", lambda: _ev("conversation.updated", conversation=conv(
             status="resolved", resolved_at=T), changed=["status"], actor_id=AGENT),
             AGENTS, VISITOR),
        case("assignee", lambda: _ev("conversation.updated", conversation=conv(),
             changed=["assignee_id"], actor_id=AGENT), AGENTS),
        case("priority", lambda: _ev("conversation.updated", conversation=conv(),
             changed=["priority"]), AGENTS),
    ],
    "inbox.changed": [case("any", lambda: _ev("inbox.changed", inbox_id=INBOX))],
    "contact.created": [case("any", lambda: _ev("contact.created", contact_id=CONTACT))],
    "contact.updated": [case("any", lambda: _ev("contact.updated", contact_id=CONTACT,
                                                changed=["name", "attributes"]))],
    "user.created": [case("any", lambda: _ev("user.created", user_id=AGENT, role="agent"))],
    "user.updated": [case("any", lambda: _ev("user.updated", user_id=AGENT,
                                             changed=["password"]))],
    "team.changed": [case("any", lambda: _ev("team.changed", team_id="tm01"))],
    "kb.entry_changed": [
        case("edited", lambda: _ev("kb.entry_changed", entry_id="kb01")),
        case("deleted", lambda: _ev("kb.entry_changed", entry_id="kb01", deleted=True)),
    ],
    "kb.dictionary_changed": [case("any", lambda: _ev("kb.dictionary_changed"))],
    "kb.smalltalk_changed": [case("any", lambda: _ev("kb.smalltalk_changed"))],
    "kb.document_changed": [case("any", lambda: _ev("kb.document_changed",
                                                    document_id="dc01"))],
    # QA frames go to the supervisors' topic through qa.listeners, not through realtime
    "qa.rules_changed": [case("any", lambda: _ev("qa.rules_changed"))],
    "qa.alert_raised": [case("any", lambda: _ev(
        "qa.alert_raised", alert_id="qa01", conversation_id=CONV,
        message_id="ms0000000000000000000001", rule_key="ad_law_absolute",
        rule_name="广告法绝对化用语", reason="alert", excerpt="这是全网最低价",
        spans=[[4, 5]]))],
    "qa.inspection_done": [case("any", lambda: _ev(
        "qa.inspection_done", inspection_id="qi01", conversation_id=CONV, score=85.0,
        fatal=False))],
    "notification.created": [case("any", lambda: _ev(
        "notification.created", notification_id="nt01", user_id=AGENT, kind="ticket_dispatch",
        title="新工单 #12 已派给你", body="", link="/app/tickets/tk01"), user_topic(AGENT))],
    "ticket.created": [case("any", lambda: _ev(
        "ticket.created", ticket_id="tk01", number=12, subject="退款没到账", status="new",
        priority="P2", source="portal", team_id=None, assignee_id=None,
        actor_type="customer", actor_id=CONTACT), AGENTS)],
    "ticket.changed": [case("any", lambda: _ev(
        "ticket.changed", ticket_id="tk01", number=12, changes={"status": ["new", "open"]},
        actor_type="user", actor_id=AGENT), AGENTS)],
    "ticket.replied": [case("any", lambda: _ev(
        "ticket.replied", ticket_id="tk01", number=12, event_id="te01", kind="note",
        actor_type="user", actor_id=AGENT), AGENTS)],
}


def test_catalogue_is_found():
    assert {"message.created", "user.created", "contact.created"} <= set(CATALOGUE)


def test_every_case_is_a_real_event_type():
    assert not set(CASES) - set(CATALOGUE), "CASES lists event types that no longer exist"


@pytest.mark.parametrize("type_", sorted(CATALOGUE))
def test_event(type_: str):
    cls = CATALOGUE[type_]
    assert type_ in CASES, (f"{cls.__module__}.{cls.__name__} ({type_!r}) has no entry in "
                            "tests/test_events.py CASES: add how to build it and its audience")
    assert type_.count(".") == 1, "event types are named `x.happened`"
    for c in CASES[type_]:
        ev = c.build()
        assert type(ev) is cls
        assert ev.type == type_

        with pytest.raises(ValidationError):
            ev.workspace_id = "other"  # type: ignore[misc]
        with pytest.raises(ValidationError):
            cls(workspace_id=WS, type="something.else",
                **ev.model_dump(exclude={"type", "workspace_id"}))

        raw = ev.model_dump_json()
        assert cls.model_validate_json(raw) == ev
        data = json.loads(raw)
        assert data["type"] == type_
        assert Event.catalogue[data["type"]].model_validate(data) == ev

        frames = listeners.frames_for(ev)
        assert {topic for topic, _ in frames} == c.topics, c.label
        assert len(frames) == len(c.topics), f"{c.label}: one frame per topic"
        for topic, frame in frames:
            json.dumps(frame)  # a frame is plain JSON
            if topic.startswith("visitor:"):
                _check_visitor_frame(frame)


def _check_visitor_frame(frame: dict[str, Any]) -> None:
    text = json.dumps(frame, ensure_ascii=False)
    assert AGENT not in text, "a visitor never sees an agent's internal id"
    assert WS not in text
    assert "这位客户是VIP" not in text
    if "message" in frame:
        assert frame["message"]["sender_type"] != "customer" or frame["message"][
            "sender_name"] == ""


def test_private_message_never_reaches_the_visitor():
    ev = _ev("message.created", conversation=conv(), message=msg(private=True))
    assert all(not topic.startswith("visitor:") for topic, _ in listeners.frames_for(ev))


class _Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.sent.append((topic, message))

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        raise NotImplementedError


@pytest.mark.parametrize(("type_", "label"),
                         [(t, c.label) for t, cs in sorted(CASES.items()) for c in cs])
def test_bus_delivers_each_event_to_its_audience(type_: str, label: str):
    """The realtime listener is subscribed to every event type that has an audience."""
    c = next(c for c in CASES[type_] if c.label == label)
    bus, broker = EventBus(), _Broker()
    listeners.register(bus, broker)
    ev = c.build()
    bus.publish([ev])
    assert broker.sent == listeners.frames_for(ev)
    assert {t for t, _ in broker.sent} == c.topics
