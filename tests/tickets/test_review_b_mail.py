"""Review probes (second reviewer): e-mails built from customer text stay sendable."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kefu.config import Settings
from kefu.core.uow import UowFactory
from kefu.tickets.actions import do_create_ticket, do_reply
from kefu.tickets.schemas import ContactRef, TicketCreate
from kefu.tickets.templates import TemplateCreate, do_create_template
from tests.conftest import SmtpSink, World


def test_reply_to_a_ticket_whose_subject_has_a_line_break_is_mailed(
        uows: UowFactory, world: World, smtp_sink: SmtpSink) -> None:
    with uows() as uow:
        t = do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                             data=TicketCreate(subject="发票\r\nBcc: evil@x.example",
                                               contact=ContactRef(email="kehu@example.com")),
                             source="api")
    with uows() as uow:
        do_reply(uow, world.agent_li, t.id, body="您好，已处理。", public=True)
    got = smtp_sink.to("kehu@example.com")
    assert got, "the reply was never mailed"
    subject = str(got[-1]["Subject"])
    assert "\n" not in subject and "\r" not in subject
    assert f"[#{t.number}]" in subject and "发票" in subject
    assert got[-1]["Bcc"] is None


def test_self_service_subject_with_a_line_break_still_sends_the_link(
        app_client: TestClient, uows: UowFactory, world: World, smtp_sink: SmtpSink,
        settings: Settings) -> None:
    import re

    with uows() as uow:
        tpl = do_create_template(uow, world.admin_wang, TemplateCreate(name="咨询", public=True))
    page = app_client.get("/support/shop-a")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    r = app_client.post("/support/submit", data={
        "slug": "shop-a", "form_token": token.group(1), "template_id": tpl.id,
        "subject": "退款\nX-Evil: 1", "description": "d", "email": "kehu@example.com"})
    assert r.status_code == 200, r.text
    got = smtp_sink.to("kehu@example.com")
    assert got, "the verification e-mail was never sent"
    assert "\n" not in str(got[-1]["Subject"]) and got[-1]["X-Evil"] is None


def test_automation_notice_titled_with_a_multi_line_subject_is_mailed(
        uows: UowFactory, world: World, smtp_sink: SmtpSink) -> None:
    from kefu.tickets import automation

    with uows() as uow:
        automation.do_create_trigger(uow, world.admin_wang, automation.TriggerIn(
            name="新工单通知", event="create", conditions=[],
            actions=[{"type": "notify", "to": ["supervisors"], "title": "新工单 {subject}"}]))
    with uows() as uow:
        do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                         data=TicketCreate(subject="冰箱\n不制冷"), source="agent")
    got = smtp_sink.to("zhao@a.example.com")
    assert got, "the automation's notice was never mailed"
    assert str(got[-1]["Subject"]) == "新工单 冰箱 不制冷"
