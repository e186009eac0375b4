"""Review probes (second reviewer): NUL characters from customers (PostgreSQL refuses them in
text and JSON) never make a 500."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.config import Settings
from kefu.core.uow import UowFactory
from kefu.tickets import portal
from kefu.tickets.actions import do_create_ticket
from kefu.tickets.models import Ticket, TicketEvent, TicketSubmission
from kefu.tickets.schemas import ContactRef, TicketCreate
from kefu.tickets.templates import TemplateCreate, do_create_template
from tests.conftest import World, login


def test_inbound_email_with_nul_characters(app_client: TestClient, world: World,
                                           uows: UowFactory) -> None:
    login(app_client, "wang@a.example.com")
    raw = (b"From: Kehu\x00 <kehu@example.com>\r\nSubject: \xe9\x80\x80\x00\xe6\xac\xbe\r\n"
           b"Message-ID: <nul-1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"\r\nhello\x00world\r\n")
    r = app_client.post("/api/v1/tickets/inbound-email", content=raw,
                        headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 201, r.text
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, r.json()["ticket_id"])
        assert t is not None and t.subject == "退款" and "\x00" not in t.description


def test_portal_reply_with_a_nul_character(app_client: TestClient, world: World,
                                           uows: UowFactory, settings: Settings) -> None:
    with uows() as uow:
        t = do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                             data=TicketCreate(subject="发票",
                                               contact=ContactRef(email="kehu@example.com")),
                             source="api")
    page = app_client.get(portal.path_for(settings, t))
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce
    r = app_client.post("/portal/reply", data={"token": portal.token_for(settings, t.id,
                                                                         t.contact_id),
                                               "nonce": nonce.group(1), "body": "好的\x00谢谢"})
    assert r.status_code in (200, 303), r.text
    with uows(readonly=True) as uow:
        bodies = list(uow.session.scalars(select(TicketEvent.body).where(
            TicketEvent.ticket_id == t.id, TicketEvent.actor_type == "customer")))
        assert "好的谢谢" in bodies


def test_self_service_form_with_nul_characters(app_client: TestClient, world: World,
                                               uows: UowFactory) -> None:
    with uows() as uow:
        tpl = do_create_template(uow, world.admin_wang, TemplateCreate(
            name="咨询", public=True,
            fields=[{"key": "order_no", "label": "订单号", "type": "text"}]))
    page = app_client.get("/support/shop-a")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    r = app_client.post("/support/submit", data={
        "slug": "shop-a", "form_token": token.group(1), "template_id": tpl.id,
        "subject": "退\x00款", "description": "d\x00", "email": "kehu@example.com",
        "name": "张\x00三", "f_order_no": "A\x001"})
    assert r.status_code == 200, r.text
    with uows(readonly=True) as uow:
        sub = uow.session.scalar(select(TicketSubmission))
        assert sub is not None
        assert sub.payload["subject"] == "退款" and sub.payload["fields"] == {"order_no": "A1"}
        assert sub.payload["name"] == "张三" and sub.payload["description"] == "d"


def test_inbound_email_from_an_address_with_a_nul_is_refused(app_client: TestClient,
                                                             world: World) -> None:
    login(app_client, "wang@a.example.com")
    raw = b"From: <ke\x00hu@example.com>\r\nSubject: x\r\n\r\nhi\r\n"
    r = app_client.post("/api/v1/tickets/inbound-email", content=raw,
                        headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "email_no_sender"
