"""E-mail in: new tickets, threaded replies, duplicates, Chinese encodings, HTML, files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from kefu.contacts.models import Contact, ContactIdentity
from kefu.core.errors import Invalid
from kefu.core.uow import UowFactory
from kefu.tickets import email_in
from kefu.tickets.models import Ticket, TicketEvent, TicketFile
from tests.conftest import World

FIX = Path(__file__).parent / "fixtures"


def raw(name: str) -> bytes:
    return (FIX / name).read_bytes()


def receive(uows: UowFactory, ws: str, data: bytes) -> email_in.Result:
    with uows() as uow:
        return email_in.receive_email(uow, workspace_id=ws, raw=data)


def ticket(uows: UowFactory, ticket_id: str | None) -> Ticket:
    assert ticket_id
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None
        return t


def events(uows: UowFactory, ticket_id: str) -> list[TicketEvent]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(TicketEvent)
                                        .where(TicketEvent.ticket_id == ticket_id)
                                        .order_by(TicketEvent.seq)))


def test_new_ticket_from_utf8_quoted_printable(world: World, uows: UowFactory) -> None:
    r = receive(uows, world.ws_a, raw("new_utf8_qp.eml"))
    assert r.action == "created"
    t = ticket(uows, r.ticket_id)
    assert t.source == "email"
    assert t.subject == "订单还没发货，请帮忙查一下"
    assert "订单 #A20261109-3381 到现在还没发货" in t.description
    assert t.external_ref == "<20261111095810.3381@mail.example.cn>"
    assert t.email_thread is not None
    assert t.email_thread["address"] == "zhangwei@example.cn"
    # the customer's message, then our acknowledgement (tickets.delivery)
    assert t.email_thread["message_ids"][0] == "<20261111095810.3381@mail.example.cn>"
    assert len(t.email_thread["message_ids"]) == 2
    with uows(readonly=True) as uow:
        contact = uow.session.get(Contact, t.contact_id)
        assert contact is not None
        assert contact.email == "zhangwei@example.cn"
        assert contact.name == "张伟"
        ident = uow.session.scalar(select(ContactIdentity).where(
            ContactIdentity.contact_id == contact.id, ContactIdentity.kind == "email"))
        assert ident is not None and ident.external_id == "zhangwei@example.cn"


def test_duplicate_message_id_changes_nothing(world: World, uows: UowFactory) -> None:
    first = receive(uows, world.ws_a, raw("new_utf8_qp.eml"))
    again = receive(uows, world.ws_a, raw("new_utf8_qp.eml"))
    assert again.action == "duplicate" and again.ticket_id == first.ticket_id
    with uows(readonly=True) as uow:
        assert len(list(uow.session.scalars(select(Ticket.id).where(
            Ticket.workspace_id == world.ws_a)))) == 1
    # the same message to another workspace is that workspace's business
    other = receive(uows, world.ws_b, raw("new_utf8_qp.eml"))
    assert other.action == "created" and other.ticket_id != first.ticket_id
    # a duplicate customer reply is ignored too
    reply = receive(uows, world.ws_a, raw("reply_in_reply_to.eml"))
    assert reply.action == "replied"
    n = len(events(uows, first.ticket_id or ""))
    assert receive(uows, world.ws_a, raw("reply_in_reply_to.eml")).action == "duplicate"
    assert len(events(uows, first.ticket_id or "")) == n


def test_reply_threads_by_in_reply_to_and_trims_quote(world: World, uows: UowFactory) -> None:
    first = receive(uows, world.ws_a, raw("new_utf8_qp.eml"))
    r = receive(uows, world.ws_a, raw("reply_in_reply_to.eml"))
    assert r.action == "replied" and r.ticket_id == first.ticket_id
    ev = next(e for e in events(uows, r.ticket_id or "") if e.id == r.event_id)
    assert ev.actor_type == "customer" and ev.public
    assert ev.body == "补充一下：收货地址是上海市浦东新区。"
    assert ev.data["message_id"] == "<20261111113000.9911@mail.example.cn>"
    assert ev.data["via"] == "email"


def test_reply_by_ticket_number_in_subject(world: World, uows: UowFactory) -> None:
    first = receive(uows, world.ws_a, raw("new_utf8_qp.eml"))
    t = ticket(uows, first.ticket_id)
    msg = (f"From: zhangwei@example.cn\r\nTo: support@shop-a.example.com\r\n"
           f"Subject: Re: [#{t.number}] =?UTF-8?B?5Y+R6LSn?=\r\nMessage-ID: <num-1@example.cn>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n还没收到。\r\n").encode()
    r = receive(uows, world.ws_a, msg)
    assert r.action == "replied" and r.ticket_id == t.id
    # someone else quoting the number gets a ticket of their own
    msg2 = msg.replace(b"zhangwei@example.cn", b"mallory@example.com").replace(b"num-1", b"num-2")
    r2 = receive(uows, world.ws_a, msg2)
    assert r2.action == "created" and r2.ticket_id != t.id


def test_gbk_base64_body_and_subject(world: World, uows: UowFactory) -> None:
    t = ticket(uows, receive(uows, world.ws_a, raw("gbk_base64.eml")).ticket_id)
    assert t.subject == "水果坏了要退款"
    assert "收到的苹果有三个是烂的" in t.description


def test_gb2312_label_with_gbk_characters(world: World, uows: UowFactory) -> None:
    t = ticket(uows, receive(uows, world.ws_a, raw("gb2312_qp.eml")).ticket_id)
    assert t.subject == "发票问题"
    assert t.description == "好的，我明天再试一下。朱镕"  # quoted 原始邮件 trimmed


def test_html_only_body(world: World, uows: UowFactory) -> None:
    t = ticket(uows, receive(uows, world.ws_a, raw("html_only.eml")).ticket_id)
    assert "优惠券 SAVE50 在结算页显示“不可用”。" in t.description
    assert "color" not in t.description and "<" not in t.description
    assert "上一封邮件" not in t.description  # blockquote dropped


def test_attachments_stored(world: World, uows: UowFactory) -> None:
    r = receive(uows, world.ws_a, raw("with_attachment.eml"))
    t = ticket(uows, r.ticket_id)
    assert t.subject == "发票申请"
    assert t.description == "请按附件信息开具增值税发票。"
    with uows(readonly=True) as uow:
        stored = list(uow.session.scalars(select(TicketFile).where(TicketFile.ticket_id == t.id)
                                          .order_by(TicketFile.name)))
    assert [(f.name, f.content_type) for f in stored] == [
        ("photo.png", "image/png"), ("开票信息.pdf", "application/pdf")]
    assert stored[1].data.startswith(b"%PDF-1.4")
    assert all(f.uploaded_by == t.contact_id for f in stored)
    line = [e for e in events(uows, t.id) if e.kind == "attachments_added"]
    assert line and sorted(line[0].data["file_ids"]) == sorted(f.id for f in stored)


@pytest.mark.parametrize(("data", "code"), [
    (b"", "email_empty"),
    (b"Subject: hi\r\n\r\nno sender\r\n", "email_no_sender"),
    (b"From: not-an-address\r\nSubject: x\r\n\r\nbody\r\n", "email_no_sender"),
])
def test_bad_messages_are_refused(world: World, uows: UowFactory, data: bytes,
                                  code: str) -> None:
    with pytest.raises(Invalid) as err:
        receive(uows, world.ws_a, data)
    assert err.value.code == code
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Ticket.id).where(Ticket.workspace_id == world.ws_a)) \
            is None


def test_message_without_message_id_is_still_idempotent(world: World,
                                                        uows: UowFactory) -> None:
    msg = b"From: a@example.com\r\nSubject: hello\r\n\r\nbody\r\n"
    assert receive(uows, world.ws_a, msg).action == "created"
    assert receive(uows, world.ws_a, msg).action == "duplicate"


def test_out_of_office_answer_does_not_reopen(world: World, uows: UowFactory) -> None:
    from kefu.tickets import actions
    from kefu.tickets.schemas import TicketUpdate

    first = receive(uows, world.ws_a, raw("new_utf8_qp.eml"))
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, first.ticket_id or "",
                                 TicketUpdate(status="resolved"))
    auto = raw("reply_in_reply_to.eml").replace(
        b"Message-ID:", b"Auto-Submitted: auto-replied\r\nMessage-ID:", 1)
    assert auto != raw("reply_in_reply_to.eml")
    r = receive(uows, world.ws_a, auto)
    assert r.action == "auto_reply" and r.ticket_id == first.ticket_id
    t = ticket(uows, r.ticket_id)
    assert t.status == "resolved" and t.last_customer_reply_at is None
    line = events(uows, t.id)[-1]
    assert line.kind == "auto_reply" and not line.public
    assert receive(uows, world.ws_a, auto).action == "duplicate"
