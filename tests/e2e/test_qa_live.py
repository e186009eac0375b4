"""Real-time quality inspection in a real browser.

A supervisor (赵主管) watches the live wallboard /app/qa/live. A visitor on the demo shop writes
an angry message: within a second the wallboard shows the alert with the angry words marked.
Agent 李晓月 answers with a risky promise (an alert within a second), then tries to send an
abusive line: the composer shows why, with the words marked, and nothing is sent; she sends it
anyway with a reason, and the wallboard shows the override.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kefu.inbox.models import Message
from tests.e2e.conftest import LiveServer
from tests.e2e.test_chat_flow import agent_login, open_widget, shot

pytestmark = pytest.mark.e2e

ANGRY = "你们就是骗子，我要投诉！"
PROMISE = "非常抱歉，我保证明天一定送到"
RUDE = "你烦不烦，自己看去"


def alert_on(board: Page, conv_id: str, reason: str) -> Any:
    return board.locator(f'.qa-alert[data-conversation-id="{conv_id}"][data-reason="{reason}"]')


def stored(live: LiveServer, conv_id: str, text: str) -> int:
    from sqlalchemy import select

    with live.services.uows(readonly=True) as uow:
        return len(uow.session.scalars(select(Message.id).where(
            Message.conversation_id == conv_id, Message.content == text)).all())


def stored_soon(live: LiveServer, conv_id: str, text: str, *, timeout: float = 5.0) -> int:
    """``stored`` once the reply is committed: the composer shows the sent bubble as soon as
    the post leaves, before the server has answered."""
    deadline = time.monotonic() + timeout
    while (n := stored(live, conv_id, text)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


def test_wallboard_alerts_and_composer_interception(live_server: LiveServer,
                                                    new_context: Any) -> None:
    base = live_server.url
    board = new_context().new_page()
    agent_login(board, base, "supervisor@shop.demo")
    board.goto(f"{base}/app/qa/live")
    expect(board.locator("#qa-conn")).to_have_attribute("data-state", "online")
    expect(board.locator("h1")).to_have_text("实时质检")

    visitor = new_context().new_page()
    visitor.goto(f"{base}/demo/shop")
    open_widget(visitor)
    prechat = visitor.locator("#kefu-prechat")  # the demo inbox asks who is writing
    expect(prechat).to_be_visible()
    prechat.locator("input[name=name]").fill("钱先生")
    prechat.locator("input[name=phone]").fill("13900002222")
    visitor.click("#kefu-prechat-submit")
    expect(prechat).to_have_count(0)
    visitor.fill("#kefu-input", ANGRY)
    sent = time.monotonic()
    visitor.click("#kefu-send")
    mine = visitor.locator(".kefu-msg-customer", has=visitor.locator(".kefu-msg-body",
                                                                     has_text=ANGRY))
    expect(mine).to_have_attribute("data-state", "sent")
    conv_id = mine.get_attribute("data-conversation-id")
    assert conv_id
    angry = alert_on(board, conv_id, "anger")
    expect(angry.locator("mark").first).to_be_visible(timeout=2000)
    assert time.monotonic() - sent < 1.0, "the alert took more than a second"
    marks = angry.locator("mark").all_inner_texts()
    assert "骗子" in marks and "投诉" in marks
    expect(angry).to_contain_text("钱先生")
    expect(angry.locator(".qa-open")).to_have_attribute("href", f"/app#c={conv_id}")
    shot(board, "qa-1-anger")

    # the agent answers with a risky promise: an alert within a second
    agent = new_context().new_page()
    agent_login(agent, base, "li@shop.demo")
    agent.locator(f'.conv-item[data-conversation-id="{conv_id}"]').click()
    expect(agent.locator(".msg-customer .msg-body", has_text=ANGRY)).to_be_visible()
    # customer anger raised the conversation's priority
    expect(agent.locator("#priority-select")).to_have_value("high")
    agent.fill("#composer", PROMISE)
    sent = time.monotonic()
    agent.click("#send")
    promise = alert_on(board, conv_id, "alert")
    expect(promise.locator("mark").first).to_be_visible(timeout=2000)
    assert time.monotonic() - sent < 1.0, "the alert took more than a second"
    assert promise.locator("mark").all_inner_texts() == ["保证", "一定"]
    expect(promise).to_contain_text("李晓月")
    counter = board.locator("#qa-counter")
    expect(counter).not_to_have_attribute("data-count", "0")

    # an abusive line is not sent: the composer says why and marks the words
    agent.fill("#composer", RUDE)
    agent.click("#send")
    block = agent.locator("#qa-block")
    expect(block).to_be_visible()
    expect(block).to_contain_text("未发送")
    expect(block).to_contain_text("辱骂/不文明用语")
    assert block.locator("mark").all_inner_texts() == ["你烦不烦", "自己看去"]
    expect(agent.locator("#composer")).to_have_value(RUDE)  # the draft is kept
    expect(agent.locator(".msg-agent .msg-body", has_text=RUDE)).to_have_count(0)
    assert stored(live_server, conv_id, RUDE) == 0
    shot(agent, "qa-2-blocked")

    # send anyway: a reason is required, then it is sent and supervisors see the override
    agent.click("#qa-send-anyway")
    agent.click("#qa-override-confirm")
    expect(agent.locator("#qa-block-error")).to_contain_text("请填写理由")
    assert stored(live_server, conv_id, RUDE) == 0
    agent.fill("#qa-override-reason", "客户要求按原话回复")
    agent.click("#qa-override-confirm")
    expect(agent.locator(".msg-agent .msg-body", has_text=RUDE)).to_be_visible()
    expect(block).to_have_count(0)
    expect(agent.locator("#composer")).to_have_value("")
    assert stored_soon(live_server, conv_id, RUDE) == 1
    override = alert_on(board, conv_id, "override")
    expect(override).to_contain_text("客户要求按原话回复")
    assert override.locator("mark").all_inner_texts() == ["你烦不烦", "自己看去"]

    # acknowledging lowers the counter
    before = int(counter.get_attribute("data-count") or "0")
    override.locator(".qa-ack").click()
    expect(override).to_have_attribute("data-acked", "")
    expect(counter).to_have_attribute("data-count", str(before - 1))
    shot(board, "qa-3-wallboard")


def test_wallboard_needs_qa_alerts(live_server: LiveServer, new_context: Any) -> None:
    page = new_context().new_page()
    agent_login(page, live_server.url, "chen@shop.demo")
    r = page.goto(f"{live_server.url}/app/qa/live")
    assert r is not None and r.status == 403
