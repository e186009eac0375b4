"""Tickets in a real browser: an agent creates a ticket from a template with a required field
(the first submit shows the field's error), adds an internal note and a public reply, moves
the ticket to pending and sees its due colour in the list. Screenshots of every page go to
/tmp/shots/tickets-*.png."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kefu.tickets.models import Ticket
from tests.e2e.conftest import LiveServer
from tests.e2e.test_chat_flow import agent_login
from tests.tickets.pages_helpers import make_template, set_sla

pytestmark = pytest.mark.e2e
#: where the screenshots go (KEFU_E2E_SHOTS overrides); looked at to check the layout
SHOTS = Path(os.environ.get("KEFU_E2E_SHOTS") or "/tmp/shots")  # noqa: S108


def snap(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"tickets-{name}.png"), full_page=True)


def test_agent_creates_and_works_a_ticket(live_server: LiveServer, new_context: Any) -> None:
    base, svc = live_server.url, live_server.services
    tpl = make_template(svc.uows, live_server.workspace_id, "售后工单 E2E", priority="P2")
    page = new_context().new_page()
    agent_login(page, base, "li@shop.demo")

    page.goto(f"{base}/app/tickets/new?template_id={tpl}")
    expect(page.locator("h1")).to_have_text("新建工单")
    expect(page.locator('label[for="tk-f-order_no"] .tk-req')).to_be_visible()
    page.fill("#tk-subject", "退款一直没到账")
    page.click("#tk-create")
    error = page.locator('[data-error-for="order_no"]')
    expect(error).to_be_visible()
    expect(page.locator("#tk-subject")).to_have_value("退款一直没到账")
    snap(page, "new-errors")

    page.fill("#tk-f-order_no", "E20261111")
    page.select_option("#tk-f-kind", "退款")
    page.fill('input[name="contact_email"]', "qian@example.com")
    page.click("#tk-create")
    page.wait_for_url(re.compile(r".*/app/tickets/[0-9a-f]{24}\?notice=created"))
    expect(page.locator("#form-notice")).to_be_visible()
    ticket_id = page.url.split("/app/tickets/")[1].split("?")[0]
    expect(page.locator('#tk-fields dd[data-field="order_no"]')).to_contain_text("E20261111")

    # an internal note, then a public reply
    page.click("label.tk-mode-note")
    expect(page.locator("#tk-reply-form")).to_have_attribute("data-mode", "note")
    page.fill("#tk-body", "@陈子豪 请查一下退款单")
    page.click("#tk-send")
    expect(page.locator('li[data-kind="note"]')).to_contain_text("请查一下退款单")
    page.click("label.tk-mode-reply")
    page.fill("#tk-body", "您好，退款已在处理中，预计 1-3 个工作日到账。")
    page.click("#tk-send")
    expect(page.locator('li[data-kind="reply"]')).to_contain_text("退款已在处理中")
    expect(page.locator('li[data-kind="reply"] .tk-public-yes')).to_be_visible()
    expect(page.locator('li[data-kind="note"] .tk-public-no')).to_be_visible()

    # the status: only the allowed next ones are offered
    page.click('button[data-status-to="pending"]')
    expect(page.locator("#tk-header .tk-status")).to_have_attribute("data-status", "pending")
    expect(page.locator('button[data-status-to="pending"]')).to_have_count(0)
    expect(page.locator('button[data-status-to="open"]')).to_be_visible()
    snap(page, "detail")

    # the list shows its due time coloured by the time left
    now = svc.clock.now()
    set_sla(svc.uows, ticket_id, status="warning", next_breach_at=now + timedelta(minutes=25))
    page.goto(f"{base}/app/tickets?tab=all")
    row = page.locator(f'tr[data-ticket-id="{ticket_id}"]')
    expect(row.locator(".tk-due")).to_have_class(re.compile(r"tk-due-warning"))
    expect(row.locator(".tk-due-rel")).to_contain_text("分钟后到期")
    snap(page, "list")

    # live: another agent changes the ticket -> the list offers a refresh
    with svc.uows() as uow:
        from kefu.tickets import actions
        from kefu.tickets.schemas import TicketUpdate

        admin = _admin(uow, live_server.workspace_id)
        actions.do_update_ticket(uow, admin, ticket_id, TicketUpdate(priority="P1"))
    expect(page.locator("#tk-live-banner")).to_be_visible()
    expect(row).to_have_class(re.compile(r"tk-row-updated"))

    with svc.uows(readonly=True) as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None and t.status == "pending" and t.fields["order_no"] == "E20261111"

    # a narrow screen: one column, nothing cut off
    narrow = new_context(viewport={"width": 420, "height": 860}).new_page()
    agent_login_narrow(narrow, base)
    narrow.goto(f"{base}/app/tickets/{ticket_id}")
    expect(narrow.locator("#tk-subject")).to_be_visible()
    snap(narrow, "detail-narrow")
    # (the shared top bar is not part of these pages: only the ticket page's own content)
    wide = narrow.evaluate("""() => Array.from(document.querySelectorAll('.tk-main *'))
        .filter(e => e.getBoundingClientRect().right > 421 && e.offsetParent !== null)
        .map(e => e.tagName + '.' + e.className)""")
    assert not wide, wide
    narrow.goto(f"{base}/app/tickets/new?template_id={tpl}")
    snap(narrow, "new-narrow")


def _admin(uow: Any, workspace_id: str) -> Any:
    from sqlalchemy import select

    from kefu.accounts.models import User
    from kefu.accounts.queries import actor_for

    user = uow.session.scalar(select(User).where(User.workspace_id == workspace_id,
                                                 User.role == "admin"))
    return actor_for(user)


def agent_login_narrow(page: Page, base: str) -> None:
    from kefu.demo import DEMO_PASSWORD

    page.goto(f"{base}/app/login?next=/app/tickets")
    page.fill("input[name=email]", "li@shop.demo")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/tickets"))
