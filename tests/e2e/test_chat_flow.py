"""The product owner's flow: a visitor on the demo shop chats with an agent in /app.

Visitor: opens /demo/shop, opens the widget, fills the pre-chat form, writes a question.
Agent 李晓月 (second browser context): logs in, sees the conversation arrive live, replies
(the visitor sees it live), adds an internal note (the visitor never sees it), assigns the
conversation to 陈子豪 and resolves it. The visitor reloads and still sees the history.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kefu.demo import DEMO_PASSWORD
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

QUESTION = "你好，我的订单什么时候发货？"
REPLY = "您好，您的订单今天下午四点前顺丰冷链发出，发货后短信通知单号。"
NOTE = "内部备注：客户是老顾客，优先安排发货"


def shot(page: Page, name: str) -> None:
    """Save a screenshot when KEFU_E2E_SHOTS names a folder (to look at the UI)."""
    folder = os.environ.get("KEFU_E2E_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def agent_login(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/app")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/?(\?.*)?$"))
    expect(page.locator('[data-view="all"]')).to_be_visible()


def open_widget(page: Page) -> None:
    page.click("#kefu-launcher")
    expect(page.locator("#kefu-panel")).to_be_visible()


def test_visitor_chats_with_agent(live_server: LiveServer, new_context: Any) -> None:
    base = live_server.url

    # The agent is watching the list before the visitor writes.
    agent = new_context().new_page()
    agent_login(agent, base, "li@shop.demo")
    agent.click('[data-view="unassigned"]')

    visitor = new_context().new_page()
    visitor.goto(f"{base}/demo/shop")
    open_widget(visitor)
    prechat = visitor.locator("#kefu-prechat")
    expect(prechat).to_be_visible()
    prechat.locator("input[name=name]").fill("赵女士")
    prechat.locator("input[name=phone]").fill("13800001234")
    visitor.click("#kefu-prechat-submit")
    expect(prechat).to_have_count(0)

    shot(visitor, "1-visitor-prechat-done")
    visitor.fill("#kefu-input", QUESTION)
    visitor.click("#kefu-send")
    mine = visitor.locator(".kefu-msg-customer", has=visitor.locator(".kefu-msg-body",
                                                                     has_text=QUESTION))
    expect(mine).to_have_attribute("data-state", "sent")
    expect(mine).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    conv_id = mine.get_attribute("data-conversation-id")
    assert conv_id

    # The conversation arrives in the agent's list without a reload.
    item = agent.locator(f'.conv-item[data-conversation-id="{conv_id}"]')
    expect(item).to_be_visible()
    expect(item).to_contain_text("赵女士")
    item.click()
    expect(agent.locator(".msg-customer .msg-body", has_text=QUESTION)).to_be_visible()

    # Agent typing shows in the widget; the reply arrives live.
    agent.click("#composer")
    agent.keyboard.type("您好")
    expect(visitor.locator("#kefu-typing")).to_be_visible()
    shot(visitor, "2-visitor-agent-typing")
    agent.fill("#composer", REPLY)
    agent.click("#send")
    expect(agent.locator(".msg-agent .msg-body", has_text=REPLY)).to_be_visible()
    reply = visitor.locator(".kefu-msg-agent", has=visitor.locator(".kefu-msg-body",
                                                                   has_text=REPLY))
    expect(reply).to_be_visible()
    expect(reply).to_contain_text("李晓月")
    expect(reply).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(visitor.locator("#kefu-typing")).to_be_hidden()

    # An internal note stays with the agents.
    agent.click("#mode-note")
    agent.fill("#composer", NOTE)
    agent.click("#send")
    expect(agent.locator(".msg-note .msg-body", has_text=NOTE)).to_be_visible()
    agent.click("#mode-reply")
    shot(agent, "3-agent-conversation")

    # Assign to 陈子豪, then resolve.
    chen = agent.locator("#assign-select option", has_text="陈子豪")
    agent.select_option("#assign-select", value=chen.get_attribute("value"))
    api = live_server.api()
    chen_id = next(u["id"] for u in api.get("/api/v1/users").json()["items"]
                   if u["email"] == "chen@shop.demo")
    expect(agent.locator("#assign-select")).to_have_value(chen_id)
    agent.click("#resolve-btn")
    expect(agent.locator("#conv-status")).to_have_attribute("data-status", "resolved")
    expect(visitor.locator(".kefu-ended")).to_be_visible()
    expect(visitor.locator(".kefu-msg", has_text=NOTE)).to_have_count(0)
    shot(visitor, "4-visitor-resolved")
    shot(agent, "5-agent-resolved")

    api = live_server.api()
    conv = api.get(f"/api/v1/conversations/{conv_id}").json()
    assert conv["status"] == "resolved"
    assert conv["assignee_id"] == chen_id
    stored = api.get(f"/api/v1/conversations/{conv_id}/messages").json()
    assert [m["content"] for m in stored if m["sender_type"] == "customer"] == [QUESTION]
    assert any(m["private"] and m["content"] == NOTE for m in stored)

    # After a reload the visitor still has the history (and never the note).
    visitor.reload()
    open_widget(visitor)
    expect(visitor.locator(".kefu-msg-customer .kefu-msg-body", has_text=QUESTION)).to_be_visible()
    expect(visitor.locator(".kefu-msg-agent .kefu-msg-body", has_text=REPLY)).to_be_visible()
    expect(visitor.locator(".kefu-ended")).to_be_visible()
    expect(visitor.locator("#kefu-prechat")).to_have_count(0)
    expect(visitor.locator(".kefu-msg", has_text=NOTE)).to_have_count(0)
    shot(visitor, "6-visitor-after-reload")
    shadow_html = visitor.evaluate("document.getElementById('kefu-widget').shadowRoot.innerHTML")
    assert QUESTION in shadow_html
    assert NOTE not in shadow_html


def test_signed_in_shop_user_is_identified(live_server: LiveServer, new_context: Any) -> None:
    """``/demo/shop?user=…`` embeds the widget with the user id and its HMAC: the visitor is
    the shop's verified user (same contact in every browser), and only missing pre-chat
    fields are asked for."""
    contacts = []
    for _ in range(2):
        page = new_context().new_page()
        page.goto(f"{live_server.url}/demo/shop?user=u2002")
        with page.expect_response(lambda r: r.url.endswith("/sessions")) as session:
            open_widget(page)
        body = session.value.json()
        assert session.value.status == 200
        assert body["contact"]["name"] == "会员 u2002"
        contacts.append(body["contact"]["id"])
        prechat = page.locator("#kefu-prechat")
        expect(prechat.locator("input[name=phone]")).to_be_visible()
        expect(prechat.locator("input[name=name]")).to_have_count(0)
    assert contacts[0] == contacts[1]
    api = live_server.api()
    contact = api.get(f"/api/v1/contacts/{contacts[0]}").json()
    assert any(i["kind"] == "host_user" and i["external_id"] == "u2002"
               for i in contact.get("identities", [])), contact


def test_widget_works_embedded_on_another_site(live_server: LiveServer,
                                               new_context: Any) -> None:
    """A host site on another origin embeds the script: API calls go cross-origin (CORS) to
    the script's own origin, and its own CSS does not leak into the widget."""
    host_page = f"""<!doctype html><html><head><meta charset="utf-8">
<style>* {{ font-size: 40px !important; color: red !important; }}
textarea, button {{ display: none !important; }}</style></head>
<body><h1>另一家店</h1>
<script src="{live_server.url}/widget.js" data-inbox="{live_server.inbox_id}" data-lang="en"
        async></script></body></html>"""
    # The host site: another origin (port 9, served by Playwright). Chrome asks before a
    # page reaches a loopback address like our test server (a real kefu server is public),
    # so that permission is granted here.
    host_url = "http://127.0.0.1:9/product/1"
    page = new_context(permissions=["local-network-access"]).new_page()
    page.route(host_url, lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=host_page))
    page.goto(host_url)
    open_widget(page)
    page.click("#kefu-prechat-skip")
    expect(page.locator("#kefu-input")).to_be_visible()
    page.fill("#kefu-input", "Hello from another site")
    page.click("#kefu-send")
    mine = page.locator(".kefu-msg-customer")
    expect(mine).to_have_attribute("data-state", "sent")
    expect(page.locator("#kefu-panel")).to_have_attribute("data-transport", "ws")
    size = mine.locator(".kefu-msg-body").evaluate("e => getComputedStyle(e).fontSize")
    assert size == "14px"
