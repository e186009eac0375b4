"""Tickets from a conversation (one click) and from the bot's leave-a-message (the real bot
flow: outside business hours, the customer's next message becomes a ticket, once)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kefu.bot.actions import do_update_config
from kefu.bot.schemas import BotConfig, BusinessHours
from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Message
from kefu.inbox.schemas import InboxUpdate, WebchatSettings
from kefu.tickets import intake
from kefu.tickets import queries as tq
from kefu.tickets.models import Ticket
from tests.conftest import World, customer_says
from tests.tickets.test_core_actions import events


def thread(uows: UowFactory, conv_id: str) -> list[Message]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(Message).where(
            Message.conversation_id == conv_id).order_by(Message.seq)))


def test_from_conversation(uows: UowFactory, world: World) -> None:
    conv_id, contact_id = customer_says(uows, world.inbox_a, "你好，我买的榴莲是坏的，"
                                        "想要退款，订单号 20261111-8848，"
                                        "昨天下午收到的，打开就闻到一股酸味，"
                                        "果肉发黑，请尽快处理，谢谢你们")
    customer_says(uows, world.inbox_a, "照片已经拍好了")
    with uows() as uow:
        t = intake.do_create_from_conversation(uow, world.agent_li, conv_id)
    assert (t.source, t.contact_id, t.conversation_id) == ("conversation", contact_id, conv_id)
    assert t.subject.startswith("你好，我买的榴莲是坏的") and t.subject.endswith("…")
    assert len(t.subject) == intake.SUBJECT_CHARS
    assert t.description.endswith("照片已经拍好了")
    last = thread(uows, conv_id)[-1]
    assert (last.sender_type, last.private) == ("system", True)
    assert f"#{t.number}" in last.content and last.meta is not None
    assert last.meta["ticket_id"] == t.id
    with uows(readonly=True) as uow:
        detail = tq.get_detail(uow, world.agent_li, t.id)
    assert [m.content for m in detail.transcript if m.sender_type == "customer"][-1] == \
        "照片已经拍好了"


def test_from_conversation_errors(uows: UowFactory, world: World) -> None:
    conv_id, _ = customer_says(uows, world.inbox_a, "在吗")
    with uows() as uow, pytest.raises(NotFound) as exc:
        intake.do_create_from_conversation(uow, world.agent_b, conv_id)
    assert exc.value.code == "conversation_not_found"
    with uows() as uow, pytest.raises(PermissionDenied):
        intake.do_create_from_conversation(uow, world.inspector_sun, conv_id)
    with uows() as uow, pytest.raises(Invalid) as inv:
        intake.do_create_from_conversation(uow, world.agent_li, conv_id, template_id="nope")
    assert inv.value.code == "template_not_found"
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Ticket.id)) is None


def test_leave_message_through_the_bot(uows: UowFactory, world: World, clock: Any) -> None:
    with uows() as uow:
        inbox_actions.do_update_inbox(uow, world.admin_wang, world.inbox_a, InboxUpdate(
            settings=WebchatSettings(bot_enabled=True)))
        do_update_config(uow, world.admin_wang, world.inbox_a,
                         BotConfig(hours=BusinessHours(enabled=True)))
    clock.advance(days=3)  # Saturday, closed
    conv_id, contact_id = customer_says(uows, world.inbox_a, "转人工")
    customer_says(uows, world.inbox_a, "我的橙子坏了，电话13800138000")
    with uows(readonly=True) as uow:
        tickets = list(uow.session.scalars(select(Ticket).where(
            Ticket.workspace_id == world.ws_a)))
    assert len(tickets) == 1
    t = tickets[0]
    assert (t.source, t.contact_id, t.conversation_id) == ("leave_message", contact_id,
                                                           conv_id)
    assert t.description == "我的橙子坏了，电话13800138000"
    taken = next(m for m in thread(uows, conv_id)
                 if (m.meta or {}).get("kind") == "leave_message_taken")
    assert t.external_ref == f"leave:{taken.id}"
    created = events(uows, t.id)[0]
    assert (created.actor_type, created.actor_id) == ("customer", contact_id)
    # the job again (a retry) makes no second ticket
    with uows() as uow:
        again = intake.do_ticket_from_left_message(uow, taken.id)
    assert again is not None and again.id == t.id
    with uows(readonly=True) as uow:
        assert len(list(uow.session.scalars(select(Ticket.id)))) == 1
    assert any(f"#{t.number}" in m.content for m in thread(uows, conv_id)
               if m.sender_type == "system")


def test_selector_ignores_other_messages(uows: UowFactory, world: World) -> None:
    customer_says(uows, world.inbox_a, "你好")  # no bot: nothing
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Ticket.id)) is None
