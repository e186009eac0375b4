"""Inbox actions: receiving, replying, notes, assignment, status, priority."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.models import Conversation, Message


def count_messages(uows, conv_id: str) -> int:
    with uows(readonly=True) as uow:
        return uow.session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == conv_id))


def test_first_message_opens_a_queued_conversation(visitor_says, events):
    posted = visitor_says("你好，我的订单什么时候发货？", client_msg_id="m1")
    assert posted.created
    assert posted.conversation.status == "queued"
    assert posted.conversation.assignee_id is None
    assert posted.message.seq == 1
    assert posted.message.sender_type == "customer"
    assert [e.type for e in events] == ["contact.created", "conversation.created",
                                        "message.created"]


def test_replayed_client_msg_id_is_stored_once(uows, visitor_says, events):
    first = visitor_says("发货了吗", client_msg_id="same-id")
    events.clear()
    again = visitor_says("发货了吗", client_msg_id="same-id")
    assert not again.created
    assert again.message.id == first.message.id
    assert count_messages(uows, first.conversation.id) == 1
    assert events == []


def test_seq_increases_by_one_per_message(uows, visitor_says, world):
    conv = visitor_says("一").conversation
    visitor_says("二")
    with uows() as uow:
        reply = inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="三")
    assert reply.message.seq == 3
    with uows(readonly=True) as uow:
        seqs = [m.seq for m in inbox_queries.list_messages(uow.session, conv.id)]
    assert seqs == [1, 2, 3]


@pytest.mark.parametrize(("text", "code"),
                         [("   ", "empty_message"), ("长" * 4001, "message_too_long")])
def test_bad_text_is_refused(visitor_says, text, code):
    with pytest.raises(Invalid) as exc:
        visitor_says(text)
    assert exc.value.code == code


def test_message_of_exactly_4000_chars_is_accepted(visitor_says):
    assert len(visitor_says("字" * 4000).message.content) == 4000


def test_agent_reply_takes_and_opens_the_conversation(uows, visitor_says, world, events):
    conv = visitor_says("在吗").conversation
    events.clear()
    with uows() as uow:
        posted = inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="在的")
    assert posted.conversation.assignee_id == world.agent_li.user_id
    assert posted.conversation.status == "open"
    assert posted.message.sender_type == "agent"
    assert [e.type for e in events] == ["conversation.updated", "message.created"]


def test_agent_reply_is_idempotent(uows, visitor_says, world):
    conv = visitor_says("在吗").conversation
    with uows() as uow:
        a = inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="在",
                                         client_msg_id="r1")
    with uows() as uow:
        b = inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="在",
                                         client_msg_id="r1")
    assert a.message.id == b.message.id and not b.created
    assert count_messages(uows, conv.id) == 2


def test_note_is_private_and_does_not_change_preview(uows, visitor_says, world):
    conv = visitor_says("我要退货").conversation
    with uows() as uow:
        note = inbox_actions.do_add_note(uow, world.agent_li, conv.id, content="老客户，优先处理")
    assert note.message.private
    with uows(readonly=True) as uow:
        row = uow.session.get(Conversation, conv.id)
        assert row.last_message_preview == "我要退货"
        visible = inbox_queries.list_messages(uow.session, conv.id, include_private=False)
    assert [m.content for m in visible] == ["我要退货"]


def test_inspector_can_read_but_not_reply(uows, visitor_says, world):
    conv = visitor_says("你好").conversation
    with uows() as uow, pytest.raises(PermissionDenied):
        inbox_actions.do_agent_reply(uow, world.inspector_sun, conv.id, content="hi")
    with uows() as uow, pytest.raises(PermissionDenied):
        inbox_actions.do_add_note(uow, world.inspector_sun, conv.id, content="hi")
    with uows(readonly=True) as uow:
        page = inbox_queries.list_conversations(uow.session, world.inspector_sun)
    assert page.total == 1


def test_other_workspace_cannot_touch_conversation(uows, visitor_says, world):
    conv = visitor_says("你好").conversation
    for act in (
        lambda uow: inbox_actions.do_agent_reply(uow, world.agent_b, conv.id, content="x"),
        lambda uow: inbox_actions.do_add_note(uow, world.agent_b, conv.id, content="x"),
        lambda uow: inbox_actions.do_assign(uow, world.admin_b, conv.id,
                                            assignee_id=world.agent_b.user_id),
        lambda uow: inbox_actions.do_set_status(uow, world.admin_b, conv.id, status="resolved"),
        lambda uow: inbox_actions.do_set_priority(uow, world.admin_b, conv.id, priority="high"),
    ):
        with uows() as uow, pytest.raises(NotFound):
            act(uow)
    assert count_messages(uows, conv.id) == 1


def test_assign_transfer_and_unassign(uows, visitor_says, world, events):
    conv = visitor_says("你好").conversation
    with uows() as uow:
        c = inbox_actions.do_assign(uow, world.agent_li, conv.id,
                                    assignee_id=world.agent_chen.user_id)
        assert (c.assignee_id, c.status) == (world.agent_chen.user_id, "open")
    with uows() as uow:
        c = inbox_actions.do_assign(uow, world.agent_chen, conv.id, assignee_id=None)
        assert (c.assignee_id, c.status) == (None, "queued")
    with uows(readonly=True) as uow:
        system = [m for m in inbox_queries.list_messages(uow.session, conv.id)
                  if m.sender_type == "system"]
    assert len(system) == 2 and all(m.private for m in system)
    assert "陈子豪" in system[0].content


@pytest.mark.parametrize("who", ["inspector_sun", "agent_b"])
def test_cannot_assign_to_inspector_or_foreigner(uows, visitor_says, world, who):
    conv = visitor_says("你好").conversation
    target = getattr(world, who).user_id
    with uows() as uow, pytest.raises((Invalid, NotFound)):
        inbox_actions.do_assign(uow, world.admin_wang, conv.id, assignee_id=target)


def test_resolve_then_new_message_opens_a_new_conversation(uows, visitor_says, world):
    first = visitor_says("你好").conversation
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, first.id, status="resolved")
    with uows(readonly=True) as uow:
        row = uow.session.get(Conversation, first.id)
        assert row.status == "resolved" and row.resolved_at is not None
    second = visitor_says("还有一个问题").conversation
    assert second.id != first.id
    assert second.status == "queued"
    # reopening the old one now conflicts with the newer open conversation
    with uows() as uow, pytest.raises(Conflict) as exc:
        inbox_actions.do_set_status(uow, world.agent_li, first.id, status="open")
    assert exc.value.code == "newer_conversation_open"


def test_reopen_and_pending(uows, visitor_says, world):
    conv = visitor_says("你好").conversation
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, conv.id, status="resolved")
    with uows() as uow:
        c = inbox_actions.do_set_status(uow, world.agent_li, conv.id, status="open")
        assert c.status == "open" and c.resolved_at is None
        assert c.assignee_id == world.agent_li.user_id
    with uows() as uow:
        c = inbox_actions.do_set_status(uow, world.agent_li, conv.id, status="pending")
        assert c.status == "pending"
    # the customer answering moves a pending conversation back to open
    assert visitor_says("好的").conversation.status == "open"


def test_bad_status_and_priority(uows, visitor_says, world):
    conv = visitor_says("你好").conversation
    with uows() as uow, pytest.raises(Invalid):
        inbox_actions.do_set_status(uow, world.agent_li, conv.id, status="bot")
    with uows() as uow:
        c = inbox_actions.do_set_priority(uow, world.agent_li, conv.id, priority="urgent")
        assert c.priority == "urgent"


def test_views_unassigned_mine_all(uows, visitor_says, world):
    a = visitor_says("甲", visitor="va").conversation
    visitor_says("乙", visitor="vb")
    with uows() as uow:
        inbox_actions.do_agent_reply(uow, world.agent_li, a.id, content="好")
    with uows(readonly=True) as uow:
        def ids(actor, view):
            return {c.id for c in inbox_queries.list_conversations(uow.session, actor,
                                                                    view=view).items}
        assert ids(world.agent_li, "mine") == {a.id}
        assert a.id not in ids(world.agent_li, "unassigned")
        assert len(ids(world.agent_li, "unassigned")) == 1
        assert len(ids(world.agent_chen, "all")) == 2
        assert ids(world.agent_b, "all") == set()


def test_events_are_not_published_when_the_transaction_fails(uows, world, events):
    from kefu.contacts import actions as contact_actions
    from kefu.inbox.models import Inbox

    def attempt() -> None:
        with uows() as uow:
            inbox = uow.session.get(Inbox, world.inbox_a)
            contact = contact_actions.do_resolve_contact(
                uow, workspace_id=world.ws_a, kind="webchat_visitor", external_id="vx")
            inbox_actions.do_receive_inbound(uow, inbox=inbox, contact=contact, content="")

    with pytest.raises(Invalid):
        attempt()
    # the contact created inside the failed unit of work is gone too, and nothing was published
    assert events == []
    with uows(readonly=True) as uow:
        assert contact_actions.find_by_identity(uow, workspace_id=world.ws_a,
                                                kind="webchat_visitor", external_id="vx") is None


def test_agent_reply_to_resolved_conversation(uows, visitor_says, world):
    conv = visitor_says("你好", visitor="v-r").conversation
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, conv.id, status="resolved")
    with uows() as uow:
        posted = inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="补充一句")
        assert posted.conversation.status == "open"
    with uows(readonly=True) as uow:
        lines = [m.content for m in inbox_queries.list_messages(uow.session, conv.id)
                 if m.sender_type == "system"]
    assert any("reopened" in line for line in lines)
    # once the customer has a newer conversation, the old one can't come back
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, conv.id, status="resolved")
    visitor_says("新问题", visitor="v-r")
    for status in ("open", "pending"):
        with uows() as uow, pytest.raises(Conflict):
            inbox_actions.do_set_status(uow, world.agent_li, conv.id, status=status)
    with uows() as uow, pytest.raises(Conflict):
        inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="还在吗")


def test_same_client_msg_id_from_customer_and_agent_are_different_messages(
        uows, visitor_says, world):
    conv = visitor_says("一", client_msg_id="1").conversation
    with uows() as uow:
        posted = inbox_actions.do_agent_reply(uow, world.agent_li, conv.id, content="二",
                                              client_msg_id="1")
    assert posted.created
    assert count_messages(uows, conv.id) == 2


def test_customer_replay_is_found_in_an_older_conversation(uows, visitor_says, world):
    first = visitor_says("旧消息", visitor="v-old", client_msg_id="old-1")
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, first.conversation.id,
                                    status="resolved")
    visitor_says("新会话", visitor="v-old", client_msg_id="new-1")
    again = visitor_says("旧消息", visitor="v-old", client_msg_id="old-1")
    assert not again.created and again.message.id == first.message.id


def test_setting_the_team_keeps_the_agent_and_none_clears(uows, visitor_says, world):
    from kefu.accounts import actions as account_actions
    from kefu.accounts.schemas import TeamCreate

    conv = visitor_says("你好").conversation
    with uows() as uow:
        team = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(name="售后组"))
    with uows() as uow:
        inbox_actions.do_assign(uow, world.agent_li, conv.id, assignee_id=world.agent_li.user_id)
    with uows() as uow:
        c = inbox_actions.do_assign(uow, world.agent_li, conv.id, team_id=team.id)
        assert (c.assignee_id, c.team_id) == (world.agent_li.user_id, team.id)
    with uows() as uow:
        c = inbox_actions.do_assign(uow, world.agent_li, conv.id, team_id=None)
        assert (c.assignee_id, c.team_id) == (world.agent_li.user_id, None)
    with uows() as uow:
        c = inbox_actions.do_assign(uow, world.agent_li, conv.id, assignee_id=None)
        assert (c.assignee_id, c.status) == (None, "queued")
