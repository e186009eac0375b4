"""Delivery of public replies (e-mail with threading, into the conversation) and the
acknowledgement of customer-opened tickets, asserted on a real SMTP server."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from kefu.config import Settings
from kefu.core.uow import UowFactory
from kefu.inbox.models import Message
from kefu.tickets import email_in, portal
from kefu.tickets.actions import do_create_ticket, do_reply
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.schemas import ContactRef, TicketCreate
from tests.conftest import SmtpSink, World, customer_says

FIX = Path(__file__).parent / "fixtures"
ORIGINAL = "<20261111095810.3381@mail.example.cn>"


def _email_ticket(uows: UowFactory, world: World) -> Ticket:
    with uows() as uow:
        r = email_in.receive_email(uow, workspace_id=world.ws_a,
                                   raw=(FIX / "new_utf8_qp.eml").read_bytes())
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, r.ticket_id)
        assert t is not None
        return t


def test_email_ticket_ack_and_threaded_reply(world: World, uows: UowFactory,
                                             smtp_sink: SmtpSink, settings: Settings) -> None:
    t = _email_ticket(uows, world)
    ack = smtp_sink.to("zhangwei@example.cn")
    assert len(ack) == 1
    assert str(ack[0]["Subject"]) == f"Re: [#{t.number}] 订单还没发货，请帮忙查一下"
    assert ack[0]["In-Reply-To"] == ORIGINAL
    assert portal.link_for(settings, t) in ack[0].get_content()

    with uows() as uow:
        do_reply(uow, world.agent_li, t.id, body="内部备注：仓库缺货", public=False)
        do_reply(uow, world.agent_li, t.id, body="您好，包裹今天已发出，单号 SF1234567890。",
                 public=True)
    mails = smtp_sink.to("zhangwei@example.cn")
    assert len(mails) == 2  # the note is not sent
    reply = mails[1]
    text = reply.get_content()
    assert "SF1234567890" in text and "内部备注" not in text
    assert portal.link_for(settings, t) in text
    assert str(reply["Subject"]) == f"Re: [#{t.number}] 订单还没发货，请帮忙查一下"
    assert reply["In-Reply-To"] == ORIGINAL
    assert ORIGINAL in str(reply["References"])
    sent_id = str(reply["Message-ID"])
    with uows(readonly=True) as uow:
        fresh = uow.session.get(Ticket, t.id)
        assert fresh is not None and fresh.email_thread is not None
        assert sent_id in fresh.email_thread["message_ids"]
        lines = list(uow.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == t.id, TicketEvent.kind == "email_sent")))
        assert {e.data["cause"] for e in lines} == {"acknowledgement", "reply"}
        assert not any(e.public for e in lines)

    # the customer answers our reply: it threads back by In-Reply-To
    answer = (f"From: zhangwei@example.cn\r\nSubject: Re: shipped\r\n"
              f"Message-ID: <answer-1@example.cn>\r\nIn-Reply-To: {sent_id}\r\n"
              f"References: {ORIGINAL} {sent_id}\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n收到了，谢谢！\r\n").encode()
    with uows() as uow:
        r = email_in.receive_email(uow, workspace_id=world.ws_a, raw=answer)
    assert r.action == "replied" and r.ticket_id == t.id


def test_reply_is_posted_into_the_conversation(world: World, uows: UowFactory,
                                               smtp_sink: SmtpSink) -> None:
    conv_id, _contact = customer_says(uows, world.inbox_a, "我的订单怎么还没到？")
    with uows() as uow:
        t = do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                             data=TicketCreate(subject="物流查询", conversation_id=conv_id),
                             source="conversation")
        do_reply(uow, world.agent_li, t.id, body="已帮您催促快递，预计明天送达。", public=True)
        do_reply(uow, world.agent_li, t.id, body="备注：联系顺丰", public=False)
    with uows(readonly=True) as uow:
        msgs = list(uow.session.scalars(select(Message).where(
            Message.conversation_id == conv_id).order_by(Message.seq)))
    agent = [m for m in msgs if m.sender_type == "agent"]
    assert [m.content for m in agent] == ["已帮您催促快递，预计明天送达。"]
    assert agent[0].sender_id == world.agent_li.user_id and not agent[0].private
    assert "备注" not in " ".join(m.content for m in msgs)
    assert smtp_sink.messages == []  # no address, and it went through the conversation


def test_portal_ticket_reply_by_email_with_link(world: World, uows: UowFactory,
                                                smtp_sink: SmtpSink,
                                                settings: Settings) -> None:
    with uows() as uow:
        t = do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                             data=TicketCreate(subject="退款进度",
                                               contact=ContactRef(email="buyer@example.com")),
                             source="api")
    assert smtp_sink.messages == []  # no acknowledgement for agent/API tickets
    with uows() as uow:
        do_reply(uow, world.agent_li, t.id, body="退款已原路退回。", public=True)
    [mail] = smtp_sink.to("buyer@example.com")
    assert str(mail["Subject"]) == f"[#{t.number}] 退款进度"
    assert mail["In-Reply-To"] is None
    assert "退款已原路退回。" in mail.get_content()
    assert portal.link_for(settings, t) in mail.get_content()


def test_auto_submitted_mail_gets_no_acknowledgement(world: World, uows: UowFactory,
                                                     smtp_sink: SmtpSink) -> None:
    raw = (b"From: mailer-daemon@example.org\r\nSubject: Out of office\r\n"
           b"Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.org>\r\n\r\n"
           b"I am away.\r\n")
    with uows() as uow:
        r = email_in.receive_email(uow, workspace_id=world.ws_a, raw=raw)
    assert r.action == "created"
    assert smtp_sink.messages == []
