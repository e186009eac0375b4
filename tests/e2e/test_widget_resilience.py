"""The widget under bad conditions: reloads, dropped sockets, lost acks, blocked WebSockets."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

WS_URL = re.compile(r".*/ws/webchat\?.*")
HTTP_MESSAGES = re.compile(r".*/api/v1/webchat/[^/]+/messages(\?.*)?$")

# Replaces window.WebSocket with one that never connects (a proxy that kills WebSockets).
BLOCK_WEBSOCKETS = """
(() => {
  class BlockedSocket {
    constructor(url) {
      this.url = url; this.readyState = 0;
      window.__kefuBlockedSockets = (window.__kefuBlockedSockets || 0) + 1;
      setTimeout(() => {
        this.readyState = 3;
        if (this.onerror) this.onerror(new Event('error'));
        if (this.onclose) this.onclose(new CloseEvent('close', {code: 1006}));
      }, 10);
    }
    send() { throw new Error('WebSocket blocked'); }
    close() {}
  }
  BlockedSocket.CONNECTING = 0; BlockedSocket.OPEN = 1;
  BlockedSocket.CLOSING = 2; BlockedSocket.CLOSED = 3;
  window.WebSocket = BlockedSocket;
})();
"""


def open_and_skip_prechat(page: Page) -> None:
    page.click("#kefu-launcher")
    expect(page.locator("#kefu-prechat")).to_be_visible()
    page.click("#kefu-prechat-skip")
    expect(page.locator("#kefu-prechat")).to_have_count(0)


def own_message(page: Page, text: str) -> Any:
    return page.locator(".kefu-msg-customer",
                        has=page.locator(".kefu-msg-body", has_text=text))


def stored_copies(server: LiveServer, conv_id: str, text: str) -> int:
    api = server.api()
    messages = api.get(f"/api/v1/conversations/{conv_id}/messages").json()
    return sum(1 for m in messages if m["content"] == text)


def find_conversation(server: LiveServer, contact_id: str) -> str | None:
    api = server.api()
    page = api.get("/api/v1/conversations", params={"view": "all", "limit": 100}).json()
    return next((c["id"] for c in page["items"] if c["contact_id"] == contact_id), None)


def test_visitor_token_survives_reload(live_server: LiveServer, new_context: Any) -> None:
    page = new_context().new_page()
    page.goto(f"{live_server.url}/demo/shop?lang=en")
    with page.expect_response(lambda r: r.url.endswith("/sessions")) as first:
        page.click("#kefu-launcher")
    contact_id = first.value.json()["contact"]["id"]
    expect(page.locator("#kefu-prechat-skip")).to_have_text("Skip")
    page.click("#kefu-prechat-skip")
    page.fill("#kefu-input", "hello from before the reload")
    page.keyboard.press("Enter")
    expect(own_message(page, "hello from before the reload")).to_have_attribute(
        "data-state", "sent")
    stored = page.evaluate(f"localStorage.getItem('kefu:visitor:{live_server.inbox_id}')")
    assert stored

    # A returning visitor reconnects straight away, as the same contact.
    with page.expect_response(lambda r: r.url.endswith("/sessions")) as second:
        page.reload()
    assert second.value.json()["contact"]["id"] == contact_id
    page.click("#kefu-launcher")
    expect(own_message(page, "hello from before the reload")).to_be_visible()
    expect(page.locator("#kefu-prechat")).to_have_count(0)
    expect(page.locator("#kefu-panel")).to_have_attribute("data-transport", "ws")

    # Client-side limit: more than 4,000 characters is refused with a message.
    page.fill("#kefu-input", "长" * 4001)
    page.click("#kefu-send")
    expect(page.locator(".kefu-input-error")).to_contain_text("4,000")
    expect(page.locator(".kefu-msg-customer")).to_have_count(1)


def test_a_rejected_token_is_replaced_by_a_new_visitor(
        live_server: LiveServer, new_context: Any) -> None:
    ctx = new_context()
    ctx.add_init_script(f"localStorage.setItem('kefu:visitor:{live_server.inbox_id}', 'forged')")
    page = ctx.new_page()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/sessions")
            else None)
    page.goto(f"{live_server.url}/demo/shop")
    page.click("#kefu-launcher")
    expect(page.locator("#kefu-panel")).to_have_attribute("data-transport", "ws")
    assert statuses == [401, 200]
    token = page.evaluate(f"localStorage.getItem('kefu:visitor:{live_server.inbox_id}')")
    assert token and token != "forged"


class SocketSwitch:
    """Routes the widget's WebSocket through Playwright: pass frames, drop the server's
    frames (a lost ack), cut the connection, refuse new connections."""

    def __init__(self) -> None:
        self.down = False
        self.mute_server = False
        self.live: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.to_page: list[dict[str, Any]] = []

    def handler(self, ws: WebSocketRoute) -> None:
        if self.down:
            ws.close(code=1011)
            return
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def from_server(message: str | bytes) -> None:
            if self.mute_server:
                return
            self.to_page.append(json.loads(message))
            ws.send(message)

        server.on_message(from_server)
        self.live.append((ws, server))

    def cut(self) -> None:
        for page_side, server_side in self.live:
            server_side.close()
            page_side.close(code=1001)
        self.live.clear()


def test_message_sent_while_socket_is_down_is_delivered_once(
        live_server: LiveServer, new_context: Any) -> None:
    switch = SocketSwitch()
    page = new_context().new_page()
    page.route_web_socket(WS_URL, switch.handler)
    http_duplicates: list[str] = []
    page.on("response", lambda r: http_duplicates.append(r.url) if (
        r.request.method == "POST" and HTTP_MESSAGES.match(r.url) and r.status == 200) else None)
    page.goto(f"{live_server.url}/demo/shop")
    with page.expect_response(lambda r: r.url.endswith("/sessions")) as session:
        open_and_skip_prechat(page)
    contact_id = session.value.json()["contact"]["id"]
    panel = page.locator("#kefu-panel")
    expect(panel).to_have_attribute("data-transport", "ws")

    # 1. The ack is lost: the server stores the message, the widget never hears back.
    switch.mute_server = True
    page.fill("#kefu-input", "第一条：确认帧丢了")
    page.click("#kefu-send")
    first = own_message(page, "第一条：确认帧丢了")
    deadline = time.monotonic() + 5
    conv_id = None
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        conv_id = find_conversation(live_server, contact_id)
        if conv_id and stored_copies(live_server, conv_id, "第一条：确认帧丢了") == 1:
            break
    assert conv_id, "the message never reached the server"
    expect(first).to_have_attribute("data-state", "sending")
    expect(first).to_have_attribute("data-seq", "")
    outbox = page.evaluate(f"localStorage.getItem('kefu:outbox:{live_server.inbox_id}')")
    assert "第一条" in outbox

    # 2. The connection drops and new ones are refused (HTTP too): the server is "down".
    page.route(HTTP_MESSAGES, lambda route: route.abort())
    switch.down = True
    switch.mute_server = False
    switch.cut()
    page.fill("#kefu-input", "第二条：断线时发送")
    page.click("#kefu-send")
    second = own_message(page, "第二条：断线时发送")
    page.wait_for_timeout(1200)
    expect(second).to_have_attribute("data-state", "sending")

    # 3. The server is back: both are resent with their client_msg_id, each stored once.
    switch.down = False
    page.unroute(HTTP_MESSAGES)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(first).to_have_attribute("data-state", "sent", timeout=8000)
    expect(second).to_have_attribute("data-state", "sent", timeout=8000)
    expect(first).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(panel).to_have_attribute("data-transport", "ws")
    assert stored_copies(live_server, conv_id, "第一条：确认帧丢了") == 1
    assert stored_copies(live_server, conv_id, "第二条：断线时发送") == 1
    ws_duplicates = [f for f in switch.to_page if f.get("type") == "ack" and f.get("duplicate")]
    assert ws_duplicates or http_duplicates, "the resend should be acked as a duplicate"
    expect(page.locator(".kefu-msg-customer")).to_have_count(2)
    assert page.evaluate(f"localStorage.getItem('kefu:outbox:{live_server.inbox_id}')") is None

    # Nothing shows up twice after another reload either.
    page.reload()
    page.click("#kefu-launcher")
    expect(page.locator(".kefu-msg-customer")).to_have_count(2)


def test_http_fallback_when_websockets_are_blocked(
        live_server: LiveServer, new_context: Any) -> None:
    ctx = new_context()
    ctx.add_init_script(BLOCK_WEBSOCKETS)
    page = ctx.new_page()
    page.goto(f"{live_server.url}/demo/shop")
    with page.expect_response(lambda r: r.url.endswith("/sessions")) as session:
        open_and_skip_prechat(page)
    contact_id = session.value.json()["contact"]["id"]
    expect(page.locator("#kefu-panel")).to_have_attribute("data-transport", "http")
    assert page.evaluate("window.__kefuBlockedSockets") >= 3

    with page.expect_response(lambda r: r.request.method == "POST"
                              and HTTP_MESSAGES.match(r.url) is not None) as posted:
        page.fill("#kefu-input", "没有 WebSocket 也能发消息")
        page.click("#kefu-send")
    assert posted.value.status == 201
    mine = own_message(page, "没有 WebSocket 也能发消息")
    expect(mine).to_have_attribute("data-state", "sent")
    conv_id = mine.get_attribute("data-conversation-id")
    assert conv_id
    assert find_conversation(live_server, contact_id) == conv_id

    # The agent's reply and the resolution arrive by polling.
    api = live_server.api("li@shop.demo")
    r = api.post(f"/api/v1/conversations/{conv_id}/messages",
                 json={"content": "收到，HTTP 轮询也能看到回复"})
    assert r.status_code == 201, r.text
    r = api.post(f"/api/v1/conversations/{conv_id}/status", json={"status": "resolved"})
    assert r.status_code == 200, r.text
    reply = page.locator(".kefu-msg-agent .kefu-msg-body", has_text="收到，HTTP 轮询也能看到回复")
    expect(reply).to_be_visible(timeout=8000)
    expect(page.locator(".kefu-ended")).to_be_visible(timeout=8000)
    expect(page.locator(".kefu-msg-customer")).to_have_count(1)
    assert stored_copies(live_server, conv_id, "没有 WebSocket 也能发消息") == 1
