"""The notification bell in a real browser: a ticket dispatched to an agent shows up at once
as a toast and in the unread count, on the workspace page (its socket is app.js's) and on the
knowledge base page (the bell opens its own socket there)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer
from tests.e2e.test_chat_flow import agent_login

pytestmark = pytest.mark.e2e


def _dispatch(live: LiveServer, subject: str) -> None:
    admin = live.api("admin@shop.demo")
    chen = next(u for u in admin.get("/api/v1/users").json()["items"]
                if u["email"] == "chen@shop.demo")
    r = admin.post("/api/v1/tickets", json={"subject": subject, "assignee_id": chen["id"]})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("path", ["/app", "/app/kb"])
def test_a_dispatched_ticket_reaches_the_bell(live_server: LiveServer, new_context: Any,
                                              path: str) -> None:
    page = new_context().new_page()
    agent_login(page, live_server.url, "chen@shop.demo")
    if path != "/app":
        page.goto(live_server.url + path)
    count = page.locator("#notify-count")
    expect(page.locator("#notify-bell")).to_be_visible()
    page.wait_for_timeout(1500)  # the socket is open and the first count loaded
    before = int(count.text_content() or 0) if count.is_visible() else 0
    subject = f"冰箱不制冷 {path}"
    _dispatch(live_server, subject)
    toast = page.locator(".nt-toast", has_text="派单提醒")
    expect(toast.first).to_be_visible(timeout=5000)
    expect(count).to_have_text(str(before + 1), timeout=5000)
    assert page.locator("script[src*='notifications.js']").count() == 1
