"""The web chat and agent WebSockets over a real socket (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.live import Live, live_server


@pytest.fixture
def live(tmp_path, db_url) -> Iterator[Live]:
    pg = db_url if db_url.startswith("postgresql") else None
    with live_server(tmp_path, pg) as server:
        yield server
    if pg:
        from kefu.core.db import make_engine
        from tests.conftest import truncate_all

        eng = make_engine(pg)
        truncate_all(eng)
        eng.dispose()


def visitor(live: Live, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{live.base}/api/v1/webchat/{live.inbox_id}/sessions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def agent_token(live: Live, email: str = "li@shop.demo") -> str:
    with httpx.Client(base_url=live.base) as c:
        r = c.post("/api/v1/auth/login", json={"email": email, "password": "kefu-demo-2026"})
        csrf = r.json()["csrf_token"]
        r = c.post("/api/v1/tokens", json={"name": "ws test"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def recv(ws: ClientConnection, want: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of type ``want`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {want!r} frame within {timeout}s")
        frame = json.loads(ws.recv(timeout=left))
        if frame["type"] == want:
            return frame


def recv_all(ws: ClientConnection, want: set[str], timeout: float = 5.0) -> dict[str, Any]:
    """One frame of each type in ``want``, whatever order they arrive in."""
    got: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while set(got) != want:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"missing frames {want - set(got)} after {timeout}s")
        frame = json.loads(ws.recv(timeout=left))
        if frame["type"] in want and frame["type"] not in got:
            got[frame["type"]] = frame
    return got


def vsock(live: Live, token: str) -> ClientConnection:
    return connect(f"{live.ws}/ws/webchat?token={token}&inbox={live.inbox_id}")


def test_message_reaches_agent_live_and_reply_reaches_visitor(live):
    api = agent_token(live)
    s = visitor(live)
    with connect(f"{live.ws}/ws/agent?token={api}") as agent, vsock(live, s["token"]) as vis:
        assert recv(agent, "hello")["type"] == "hello"
        assert recv(vis, "hello")["contact_id"] == s["contact"]["id"]
        vis.send(json.dumps({"type": "message", "client_msg_id": "w1",
                             "content": "你好，我的订单什么时候发货？"}))
        got = recv_all(vis, {"ack", "message"})
        ack = got["ack"]
        assert ack["client_msg_id"] == "w1" and ack["seq"] == 1 and not ack["duplicate"]
        # the visitor also gets its own message as a frame (for its other tabs)
        assert got["message"]["message"]["client_msg_id"] == "w1"
        created = recv(agent, "message.created")
        assert created["message"]["content"] == "你好，我的订单什么时候发货？"
        assert created["conversation"]["id"] == ack["conversation_id"]
        # agent replies over REST; the visitor sees it live; a note never reaches the visitor
        with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {api}"}) as c:
            conv = ack["conversation_id"]
            r = c.post(f"/api/v1/conversations/{conv}/notes", json={"content": "内部备注"})
            assert r.status_code == 201
            r = c.post(f"/api/v1/conversations/{conv}/messages", json={"content": "今天发货"})
            assert r.status_code == 201
        msg = recv(vis, "message")["message"]
        assert msg["content"] == "今天发货" and msg["sender_type"] == "agent"
        assert msg["seq"] == 3  # seq 2 was the note, which the visitor never sees
        # typing indicator from the visitor reaches the agent
        vis.send(json.dumps({"type": "typing", "on": True}))
        typing = recv(agent, "typing")
        assert typing["sender_type"] == "customer" and typing["on"] is True


def test_resend_after_reconnect_is_acked_as_duplicate(live):
    s = visitor(live)
    with vsock(live, s["token"]) as ws:
        ws.send(json.dumps({"type": "message", "client_msg_id": "r-1", "content": "在吗"}))
        first = recv(ws, "ack")
    with vsock(live, s["token"]) as ws:
        ws.send(json.dumps({"type": "message", "client_msg_id": "r-1", "content": "在吗"}))
        again = recv(ws, "ack")
    assert again["id"] == first["id"] and again["duplicate"] is True


def test_resume_returns_what_was_missed(live):
    api = agent_token(live)
    s = visitor(live)
    with vsock(live, s["token"]) as ws:
        ws.send(json.dumps({"type": "message", "client_msg_id": "m-1", "content": "一"}))
        ack = recv(ws, "ack")
    conv = ack["conversation_id"]
    with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {api}"}) as c:
        for text in ("二", "三"):
            assert c.post(f"/api/v1/conversations/{conv}/messages",
                          json={"content": text}).status_code == 201
    with vsock(live, s["token"]) as ws:
        ws.send(json.dumps({"type": "resume", "conversation_id": conv, "after_seq": 1}))
        missed = recv(ws, "messages")
    assert [m["content"] for m in missed["messages"]] == ["二", "三"]
    assert [m["seq"] for m in missed["messages"]] == [2, 3]


@pytest.mark.parametrize(("frame", "code"), [
    ("not json", "invalid_json"),
    (json.dumps({"type": "shout", "content": "x"}), "unknown_frame_type"),
    (json.dumps({"type": "message", "content": "no id"}), "bad_frame"),
    (json.dumps({"type": "message", "client_msg_id": "big", "content": "长" * 4001}),
     "message_too_long"),
    (json.dumps([1, 2, 3]), "bad_frame"),
])
def test_bad_frames_get_error_frames_and_store_nothing(live, frame, code):
    s = visitor(live)
    with vsock(live, s["token"]) as ws:
        ws.send(frame)
        err = recv(ws, "error")
        assert err["code"] == code
        # the socket stays usable
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws, "pong")["type"] == "pong"
    if code == "message_too_long":
        assert err["ref"] == "big"
    hist = visitor(live, token=s["token"])
    assert hist["messages"] == []


def test_binary_frame_is_refused(live):
    s = visitor(live)
    with vsock(live, s["token"]) as ws:
        ws.send(b"\x00\x01")
        assert recv(ws, "error")["code"] == "bad_frame"


def test_token_for_another_inbox_gets_error_frame_and_close(live):
    s = visitor(live)
    url = f"{live.ws}/ws/webchat?token={s['token']}&inbox=someotherinbox"
    with connect(url) as ws:
        err = recv(ws, "error")
        assert err["code"] == "visitor_token_wrong_inbox"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_agent_socket_needs_auth_and_same_origin(live):
    with connect(f"{live.ws}/ws/agent") as ws:
        assert recv(ws, "error")["code"] == "unauthenticated"
    api = agent_token(live)
    with pytest.raises(InvalidStatus) as refused, connect(
            f"{live.ws}/ws/agent?token={api}",
            additional_headers={"Origin": "https://evil.example.net"}) as ws:
        ws.recv(timeout=5)
    assert refused.value.response.status_code == 403


def test_agents_of_another_workspace_hear_nothing(live):
    from kefu.accounts import actions as account_actions
    from kefu.accounts.schemas import UserCreate

    with live.services.uows() as uow:
        ws_b = account_actions.do_create_workspace(uow, name="B", slug="brand-b")
        account_actions.do_create_user(uow, workspace_id=ws_b.id, data=UserCreate(
            email="b@brand-b.example.com", name="B", role="agent", password="kefu-demo-2026"))
    api_b = agent_token(live, "b@brand-b.example.com")
    api_a = agent_token(live)
    s = visitor(live)
    with connect(f"{live.ws}/ws/agent?token={api_b}") as b, \
            connect(f"{live.ws}/ws/agent?token={api_a}") as a, vsock(live, s["token"]) as vis:
        recv(a, "hello")
        recv(b, "hello")
        vis.send(json.dumps({"type": "message", "client_msg_id": "iso", "content": "secret"}))
        recv(a, "message.created")
        b.send(json.dumps({"type": "ping"}))
        # B's next frame is the pong: nothing of workspace A arrived before it
        assert json.loads(b.recv(timeout=5))["type"] == "pong"
