"""Real-time inspection: draft checks, live alerts from stored messages (idempotent, customer
anger raising the priority), overrides (audited) and acknowledgement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kefu.app import Services
from kefu.core.audit import AuditEntry
from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.core.events import Event
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.events import ConversationUpdated, MessageCreated
from kefu.inbox.models import Conversation
from kefu.qa import live
from kefu.qa.models import QaAlert, QaRule
from kefu.qa.rules import KeywordRule
from kefu.qa.spec import rule_to_dict
from tests.conftest import World, customer_says

ANGRY = "你们这是什么破服务，我要投诉！骗子！"


@pytest.fixture
def frames(svc: Services) -> list[tuple[str, dict[str, Any]]]:
    """Bind the live inspector to the test's transaction; collect what it publishes."""
    got: list[tuple[str, dict[str, Any]]] = []
    inspector = live.inspector(svc.bus)
    inspector.uows = svc.uows
    inspector.publish = lambda topic, frame: got.append((topic, frame))
    return got


@pytest.fixture
def events(svc: Services) -> list[Event]:
    seen: list[Event] = []
    svc.bus.subscribe_all(seen.append)
    return seen


def alerts(uows: UowFactory, **where: Any) -> list[QaAlert]:
    with uows(readonly=True) as uow:
        stmt = select(QaAlert).order_by(QaAlert.created_at, QaAlert.rule_key)
        for k, v in where.items():
            stmt = stmt.where(getattr(QaAlert, k) == v)
        return list(uow.session.scalars(stmt))


def reply(uows: UowFactory, world: World, conv: str, text: str) -> str:
    with uows() as uow:
        return inbox_actions.do_agent_reply(uow, world.agent_li, conv, content=text).message.id


# -- drafts -----------------------------------------------------------------------------------

def test_check_draft_splits_blocking_from_other_hits(svc, world, uows, frames):
    conv, _ = customer_says(uows, world.inbox_a, "你好")
    draft = "我保证明天到，你烦不烦"
    with uows(readonly=True) as uow:
        check = live.check_draft(uow, svc.qa, world.agent_li, conv, draft)
    assert check.blocked
    assert [(h.rule_id, draft[h.span[0]:h.span[1]]) for h in check.blocking if h.span] == [
        ("agent_abuse", "你烦不烦")]
    assert [(h.rule_id, h.alert, h.block) for h in check.other] == [("risky_promise", True,
                                                                      False)]
    with uows(readonly=True) as uow:
        clean = live.check_draft(uow, svc.qa, world.agent_li, conv, "您好，今天下午发货")
        pii = live.check_draft(uow, svc.qa, world.agent_li, conv, "请打 13812345678 联系我")
    assert not clean.blocked and not clean.other
    assert [h.rule_id for h in pii.blocking] == ["pii_agent"]
    assert pii.as_dict()["blocking"][0]["span"] == [3, 14]


def test_check_draft_of_another_workspace_is_not_found(svc, world, uows):
    conv, _ = customer_says(uows, world.inbox_b, "hello")
    with uows(readonly=True) as uow, pytest.raises(NotFound):
        live.check_draft(uow, svc.qa, world.agent_li, conv, "滚")
    with uows(readonly=True) as uow, pytest.raises(PermissionDenied):
        live.check_draft(uow, svc.qa, world.inspector_sun, conv, "滚")


def test_stored_rules_with_block_and_channel_apply(svc, world, uows, frames):
    rule = KeywordRule(id="no_refund_word", name="禁说退款", terms=("退款",), block=True,
                       channels=frozenset({"web"}))
    other_channel = KeywordRule(id="email_only", name="仅邮件", terms=("发货",), block=True,
                                channels=frozenset({"email"}))
    now = svc.clock.now()
    with uows() as uow:
        for r in (rule, other_channel):
            d = rule_to_dict(r)
            uow.session.add(QaRule(id=r.id[:24], workspace_id=world.ws_a, key=r.id, name=r.name,
                                   kind=r.kind, definition=d, created_at=now, updated_at=now))
    conv, _ = customer_says(uows, world.inbox_a, "你好")
    with uows(readonly=True) as uow:
        check = live.check_draft(uow, svc.qa, world.agent_li, conv, "可以退款，今天发货")
    # the web chat inbox is the "web" channel: the email-only rule does not apply
    assert [h.rule_id for h in check.blocking] == ["no_refund_word"]
    assert not check.other  # stored rules replace the defaults


# -- the listener -----------------------------------------------------------------------------

def test_agent_risky_promise_raises_one_alert_and_a_frame(svc, world, uows, frames, events):
    conv, _ = customer_says(uows, world.inbox_a, "什么时候到？")
    text = "放心，我保证明天一定到"
    msg = reply(uows, world, conv, text)
    got = alerts(uows, message_id=msg)
    assert [(a.rule_key, a.reason, a.sender_type, a.sender_id) for a in got] == [
        ("risky_promise", "alert", "agent", world.agent_li.user_id)]
    assert [text[s:e] for s, e in got[0].spans] == ["保证", "明天一定到"]
    assert got[0].excerpt == text
    raised = [e for e in events if e.type == "qa.alert_raised"]
    assert len(raised) == 1 and raised[0].workspace_id == world.ws_a
    topic, frame = frames[-1]
    assert topic == f"supervisors:{world.ws_a}"
    assert frame["type"] == "qa.alert" and frame["id"] == got[0].id
    assert frame["conversation_id"] == conv and frame["contact_name"] == "visitor_zhao"
    assert frame["agent_name"] == "李晓月" and frame["spans"] == [[4, 6], [6, 11]]
    assert frame["rule_name"] == "风险承诺"


def test_listener_is_idempotent_per_message_and_rule(svc, world, uows, frames):
    conv, _ = customer_says(uows, world.inbox_a, "在吗")
    captured: list[MessageCreated] = []
    svc.bus.subscribe("message.created",
                      lambda e: captured.append(e) if isinstance(e, MessageCreated) else None)
    msg = reply(uows, world, conv, "我保证今天发货")
    event = next(e for e in captured if e.message.id == msg)
    assert live.inspector(svc.bus).inspect_message(event) == []  # already alerted
    svc.bus.publish([event])  # the event delivered again
    assert len(alerts(uows, message_id=msg)) == 1
    assert len([f for _, f in frames if f["message_id"] == msg]) == 1


def test_clean_messages_notes_and_system_lines_raise_nothing(svc, world, uows, frames):
    conv, _ = customer_says(uows, world.inbox_a, "你好，请问发货了吗")
    reply(uows, world, conv, "您好，已经发货了")
    with uows() as uow:
        inbox_actions.do_add_note(uow, world.agent_li, conv, content="我保证会跟进，滚")
        inbox_actions.do_set_status(uow, world.agent_li, conv, status="resolved")
    assert alerts(uows) == []
    assert frames == []


def test_angry_customer_alerts_and_raises_priority(svc, world, uows, frames, events):
    conv, _ = customer_says(uows, world.inbox_a, ANGRY)
    got = alerts(uows, conversation_id=conv)
    assert [(a.rule_key, a.reason, a.sender_type) for a in got] == [
        ("customer_angry", "anger", "customer")]
    marked = [ANGRY[s:e] for s, e in got[0].spans]
    assert "投诉" in marked and "骗子" in marked
    with uows(readonly=True) as uow:
        c = uow.session.get(Conversation, conv)
        assert c is not None and c.priority == "high"
    updated = [e for e in events if isinstance(e, ConversationUpdated)
               and e.changed == ["priority"]]
    assert len(updated) == 1 and updated[0].conversation.priority == "high"
    assert updated[0].actor_id is None
    assert frames[-1][1]["reason"] == "anger"


def test_anger_never_lowers_an_urgent_conversation(svc, world, uows, frames):
    conv, _ = customer_says(uows, world.inbox_a, "你好")
    with uows() as uow:
        inbox_actions.do_set_priority(uow, world.supervisor_zhao, conv, priority="urgent")
    customer_says(uows, world.inbox_a, ANGRY)
    with uows(readonly=True) as uow:
        c = uow.session.get(Conversation, conv)
        assert c is not None and c.priority == "urgent"
    assert len(alerts(uows, conversation_id=conv)) == 1


def test_calm_customer_is_not_an_alert(svc, world, uows, frames):
    customer_says(uows, world.inbox_a, "我不是要投诉，就想问问什么时候发货")
    assert alerts(uows) == []


def test_listener_never_raises(svc, world, uows, frames, monkeypatch, caplog):
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("rules store down")

    monkeypatch.setattr(svc.qa, "get", boom)
    conv, _ = customer_says(uows, world.inbox_a, ANGRY)  # stored despite the failure
    assert conv
    assert alerts(uows) == []
    assert "live inspection of a message failed" in caplog.text


# -- overrides --------------------------------------------------------------------------------

def test_override_is_audited_and_alerted(svc, world, uows, frames):
    conv, _ = customer_says(uows, world.inbox_a, "还没到")
    text = "再问就滚，我保证明天到"
    with uows() as uow:
        check = live.check_draft(uow, svc.qa, world.agent_li, conv, text)
        msg = inbox_actions.do_agent_reply(uow, world.agent_li, conv, content=text).message
        made = live.record_override(uow, world.agent_li, conv, msg.id, check.blocking,
                                    "  客户要求原话转述  ")
        assert [a.rule_key for a in made] == ["agent_abuse"]
    with uows(readonly=True) as uow:
        entry = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "qa.override")).one()
    assert entry.actor_id == world.agent_li.user_id and entry.object_id == msg.id
    assert entry.data["reason"] == "客户要求原话转述"
    assert [h["rule_id"] for h in entry.data["hits"]] == ["agent_abuse"]
    got = {a.rule_key: a for a in alerts(uows, message_id=msg.id)}
    # the override alert, plus the listener's own alert for the risky promise
    assert got["agent_abuse"].reason == "override"
    assert got["agent_abuse"].note == "客户要求原话转述"
    assert [text[s:e] for s, e in got["agent_abuse"].spans] == ["滚"]
    assert got["risky_promise"].reason == "alert"
    assert {f["reason"] for _, f in frames} == {"override", "alert"}


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_override_needs_a_reason(svc, world, uows, reason):
    conv, _ = customer_says(uows, world.inbox_a, "hi")
    with uows() as uow:
        msg = inbox_actions.do_agent_reply(uow, world.agent_li, conv, content="滚").message
        with pytest.raises(Invalid) as exc:
            live.record_override(uow, world.agent_li, conv, msg.id, [], reason)
    assert exc.value.code == "bad_override_reason"


# -- acknowledgement and listing ------------------------------------------------------------

def test_acknowledge_and_list(svc, world, uows, frames, clock):
    conv, _ = customer_says(uows, world.inbox_a, "在吗")
    first = reply(uows, world, conv, "我保证今天发")
    clock.advance(seconds=5)
    second = reply(uows, world, conv, "一定今天发")
    ids = {a.message_id: a.id for a in alerts(uows)}
    with uows(readonly=True) as uow:
        page = live.list_alerts(uow.session, world.supervisor_zhao, limit=1)
        assert [a["message_id"] for a in page.items] == [second]  # newest first
        assert page.unacknowledged == 2 and page.next_cursor == ids[second]
        older = live.list_alerts(uow.session, world.supervisor_zhao, limit=1,
                                 cursor=page.next_cursor)
        assert [a["message_id"] for a in older.items] == [first] and older.next_cursor is None
        with pytest.raises(PermissionDenied):
            live.list_alerts(uow.session, world.agent_li)
        assert live.list_alerts(uow.session, world.admin_b).items == []  # other workspace
    with uows(readonly=True) as uow, pytest.raises(NotFound):
        live.access_alert(world.admin_b, ids[first], session=uow.session)
    with uows() as uow, pytest.raises(PermissionDenied):
        live.acknowledge_alert(uow, world.agent_li, ids[first])
    with uows() as uow:
        acked = live.acknowledge_alert(uow, world.inspector_sun, ids[first])
        at = acked.acknowledged_at
    clock.advance(seconds=5)
    with uows() as uow:
        again = live.acknowledge_alert(uow, world.supervisor_zhao, ids[first])
        assert again.acknowledged_by == world.inspector_sun.user_id
        assert again.acknowledged_at == at
    with uows(readonly=True) as uow:
        open_only = live.list_alerts(uow.session, world.supervisor_zhao, unacknowledged=True)
        assert [a["message_id"] for a in open_only.items] == [second]
        assert open_only.unacknowledged == 1
        later = live.list_alerts(uow.session, world.supervisor_zhao,
                                 since=clock.now() - timedelta(seconds=7))
        assert [a["message_id"] for a in later.items] == [second]
        assert uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "qa.alert_ack")).all()
