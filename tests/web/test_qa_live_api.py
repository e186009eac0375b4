"""Real-time inspection over HTTP and a real WebSocket: blocked sends (nothing stored),
overrides (audited), the draft pre-check, the alert list and acknowledgement; a supervisor's
socket hears ``qa.alert`` frames, an agent's does not."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kefu.app import Services
from kefu.core.audit import AuditEntry
from kefu.inbox.models import Message
from kefu.qa import live
from kefu.qa.models import QaAlert
from kefu.web import i18n
from tests.conftest import World, customer_says, login
from tests.live import Live, live_server
from tests.web.test_ui_login import ui_login

WEB = Path(i18n.__file__).parent


@pytest.fixture
def bound(svc: Services) -> Services:
    live.inspector(svc.bus).uows = svc.uows
    return svc


def stored_count(svc: Services, conv: str) -> int:
    with svc.uows(readonly=True) as uow:
        return len(uow.session.scalars(select(Message.id).where(
            Message.conversation_id == conv)).all())


# -- the send route ---------------------------------------------------------------------------

def test_blocked_reply_is_refused_and_nothing_is_stored(app_client: TestClient, world: World,
                                                        bound: Services) -> None:
    conv, _ = customer_says(bound.uows, world.inbox_a, "在吗")
    login(app_client, "li@a.example.com")
    before = stored_count(bound, conv)
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "  你烦不烦，自己看去", "client_msg_id": "c1"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "qa_blocked"
    assert " / " in err["message"]  # bilingual
    hits = err["details"]["hits"]
    assert [(h["rule_id"], h["kind"]) for h in hits] == [("agent_abuse", "wordpack")] * 2
    text = "你烦不烦，自己看去"  # spans are into the reply as it would be stored: trimmed
    assert [text[h["span"][0]:h["span"][1]] for h in hits] == ["你烦不烦", "自己看去"]
    assert hits[0]["rule_name"] == "辱骂/不文明用语"
    assert stored_count(bound, conv) == before
    # a reason that is too long is refused before anything is stored too
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "你烦不烦", "qa_override_reason": "x" * 501})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_long"
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "你烦不烦", "qa_override_reason": "   "})
    assert r.status_code == 422 and r.json()["error"]["code"] == "qa_blocked"
    assert stored_count(bound, conv) == before
    with bound.uows(readonly=True) as uow:
        assert uow.session.scalars(select(QaAlert)).all() == []


def test_override_sends_and_is_audited(app_client: TestClient, world: World,
                                       bound: Services) -> None:
    conv, _ = customer_says(bound.uows, world.inbox_a, "把你手机号给我")
    login(app_client, "li@a.example.com")
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "我的工作号 13812345678", "client_msg_id": "o1",
                              "qa_override_reason": "公司工作号，可以公开"})
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["content"] == "我的工作号 13812345678"
    with bound.uows(readonly=True) as uow:
        entry = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "qa.override")).one()
        alert = uow.session.scalars(select(QaAlert)).one()
    assert entry.object_id == msg["id"] and entry.data["reason"] == "公司工作号，可以公开"
    assert entry.data["hits"][0]["rule_id"] == "pii_agent"
    assert (alert.reason, alert.rule_key, alert.note) == ("override", "pii_agent",
                                                          "公司工作号，可以公开")
    assert [msg["content"][s:e] for s, e in alert.spans] == ["13812345678"]
    # the same client_msg_id again: the stored message, no second override
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "我的工作号 13812345678", "client_msg_id": "o1",
                              "qa_override_reason": "公司工作号，可以公开"})
    assert r.status_code == 200 and r.headers["x-kefu-duplicate"] == "1"
    with bound.uows(readonly=True) as uow:
        assert len(uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "qa.override")).all()) == 1


def test_clean_reply_and_notes_are_not_checked(app_client: TestClient, world: World,
                                               bound: Services) -> None:
    conv, _ = customer_says(bound.uows, world.inbox_a, "在吗")
    login(app_client, "li@a.example.com")
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "您好，在的", "qa_override_reason": "不需要"})
    assert r.status_code == 201
    r = app_client.post(f"/api/v1/conversations/{conv}/notes", json={"content": "这客户有病吧"})
    assert r.status_code == 201
    with bound.uows(readonly=True) as uow:
        assert uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "qa.override")).all() == []


def test_qa_check_reports_hits_without_sending(app_client: TestClient, world: World,
                                               bound: Services) -> None:
    conv, _ = customer_says(bound.uows, world.inbox_a, "在吗")
    other, _ = customer_says(bound.uows, world.inbox_b, "hi")
    login(app_client, "li@a.example.com")
    before = stored_count(bound, conv)
    r = app_client.post(f"/api/v1/conversations/{conv}/qa-check",
                        json={"text": "我保证今天到，不买拉倒"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["blocked"] is True
    assert [(h["rule_id"], h["span"]) for h in body["blocking"]] == [("agent_abuse", [7, 11])]
    assert [(h["rule_id"], h["alert"]) for h in body["other"]] == [("risky_promise", True)]
    assert stored_count(bound, conv) == before
    assert app_client.post(f"/api/v1/conversations/{other}/qa-check",
                           json={"text": "x"}).status_code == 404
    r = app_client.post(f"/api/v1/conversations/{conv}/qa-check", json={"text": ""})
    assert r.status_code == 422
    r = app_client.post(f"/api/v1/conversations/{conv}/qa-check", json={"text": "x" * 4001})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_long"


# -- alerts -----------------------------------------------------------------------------------

def test_alert_list_and_ack(app_client: TestClient, world: World, bound: Services) -> None:
    customer_says(bound.uows, world.inbox_a, "你们这是什么破服务，我要投诉！骗子！")
    login(app_client, "li@a.example.com")
    assert app_client.get("/api/v1/qa/alerts").status_code == 403
    app_client.cookies.clear()
    login(app_client, "zhao@a.example.com")
    r = app_client.get("/api/v1/qa/alerts?unacknowledged=true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unacknowledged"] == 1 and body["next_cursor"] is None
    alert = body["items"][0]
    assert alert["reason"] == "anger" and alert["contact_name"] == "visitor_zhao"
    assert alert["spans"] and alert["excerpt"].startswith("你们这是")
    r = app_client.post(f"/api/v1/qa/alerts/{alert['id']}/ack")
    assert r.status_code == 200 and r.json()["acknowledged_by"] == world.supervisor_zhao.user_id
    assert app_client.get("/api/v1/qa/alerts?unacknowledged=true").json()["items"] == []
    assert app_client.get("/api/v1/qa/alerts").json()["unacknowledged"] == 0
    assert app_client.post("/api/v1/qa/alerts/nope/ack").status_code == 404
    assert app_client.get("/api/v1/qa/alerts?cursor=nope").status_code == 422
    assert app_client.get("/api/v1/qa/alerts?limit=0").status_code == 422
    assert app_client.get("/api/v1/qa/alerts?since=yesterday").status_code == 422
    app_client.cookies.clear()
    login(app_client, "admin@b.example.com")
    assert app_client.post(f"/api/v1/qa/alerts/{alert['id']}/ack").status_code == 404
    assert app_client.get("/api/v1/qa/alerts").json()["items"] == []


def test_wallboard_page_and_workspace_strings(app_client: TestClient, world: World,
                                              bound: Services) -> None:
    ui_login(app_client, "li@a.example.com")
    assert app_client.get("/app/qa/live").status_code == 403
    html = app_client.get("/app").text
    match = re.search(r'<script type="application/json" id="boot-qa">(.*?)</script>', html, re.S)
    assert match, "the workspace hands app.js its QA strings"
    strings = json.loads(match.group(1))
    used = set(re.findall(r"\bqaT\('([\w.-]+)'",
                          (WEB / "static" / "app.js").read_text("utf-8")))
    assert used
    for key in used:
        assert f"qa_live.ws.{key}" in strings, key
    en = i18n.catalog("en")
    assert all(k in en for k in strings)
    app_client.cookies.clear()
    ui_login(app_client, "sun@a.example.com")
    r = app_client.get("/app/qa/live")
    assert r.status_code == 200
    assert 'id="qa-alerts"' in r.text and "qa_live.js" in r.text and "实时质检" in r.text
    r = app_client.get("/app/qa/live?lang=en")
    assert "Live quality alerts" in r.text


def test_locale_fragments_match() -> None:
    zh = json.loads((WEB / "locales" / "zh-CN" / "qa_live.json").read_text("utf-8"))
    en = json.loads((WEB / "locales" / "en" / "qa_live.json").read_text("utf-8"))
    assert set(zh) == set(en) and all(k.startswith("qa_live.") for k in zh)
    for k in zh:
        assert set(re.findall(r"\{\w+\}", zh[k])) == set(re.findall(r"\{\w+\}", en[k])), k
    used = set(re.findall(r"\bt\('([\w.-]+)'",
                          (WEB / "static" / "qa_live.js").read_text("utf-8")))
    used = {k for k in used if not k.endswith(".")}  # prefixes completed at run time
    assert used and all(k in zh for k in used), sorted(used - set(zh))
    for prefix, names in (("qa_live.reason.", ("alert", "anger", "override")),
                          ("qa_live.sender.", ("customer", "agent", "bot")),
                          ("qa_live.conn.", ("connecting", "online", "reconnecting", "offline"))):
        assert all(prefix + n in zh for n in names), prefix


# -- a real socket ----------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[Live]:
    pg = db_url if db_url.startswith("postgresql") else None
    with live_server(tmp_path, pg) as s:
        yield s
    if pg:
        from kefu.core.db import make_engine
        from tests.conftest import truncate_all

        eng = make_engine(pg)
        truncate_all(eng)
        eng.dispose()


def token_for(s: Live, email: str) -> str:
    with httpx.Client(base_url=s.base) as c:
        r = c.post("/api/v1/auth/login", json={"email": email, "password": "kefu-demo-2026"})
        csrf = r.json()["csrf_token"]
        r = c.post("/api/v1/tokens", json={"name": "qa"}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def frames_until(ws: ClientConnection, pred: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Frames up to and including the first one ``pred`` accepts."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame within {timeout}s: {got[-5:]}")
        frame = json.loads(ws.recv(timeout=left))
        got.append(frame)
        if pred(frame):
            return got


def quiet_for(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(json.loads(ws.recv(timeout=left)))
        except (TimeoutError, ConnectionClosed):
            break
    return got


def test_supervisor_socket_hears_alerts_agent_socket_does_not(server: Live) -> None:
    sup, agent = token_for(server, "supervisor@shop.demo"), token_for(server, "li@shop.demo")
    r = httpx.post(f"{server.base}/api/v1/webchat/{server.inbox_id}/sessions", json={})
    visitor = r.json()
    with connect(f"{server.ws}/ws/agent?token={sup}") as sws, \
            connect(f"{server.ws}/ws/agent?token={agent}") as aws, \
            connect(f"{server.ws}/ws/webchat?token={visitor['token']}"
                    f"&inbox={server.inbox_id}") as vws:
        for ws in (sws, aws, vws):
            frames_until(ws, lambda f: f["type"] == "hello")
        # an angry customer
        sent = time.monotonic()
        vws.send(json.dumps({"type": "message", "client_msg_id": "a1",
                             "content": "你们就是骗子！我要投诉！"}))
        got = frames_until(sws, lambda f: f["type"] == "qa.alert")
        assert time.monotonic() - sent < 1.0
        alert = got[-1]
        assert alert["reason"] == "anger" and alert["rule_key"] == "customer_angry"
        excerpt = alert["excerpt"]
        assert {excerpt[s:e] for s, e in alert["spans"]} == {"骗子", "投诉"}
        conv = alert["conversation_id"]
        # the conversation's priority was raised, for everyone in the workspace
        heard = frames_until(aws, lambda f: f["type"] == "conversation.updated"
                             and "priority" in f["changed"])
        up = heard[-1]
        assert up["conversation"]["id"] == conv and up["conversation"]["priority"] == "high"
        # an agent's risky promise
        with httpx.Client(base_url=server.base,
                          headers={"Authorization": f"Bearer {agent}"}) as c:
            sent = time.monotonic()
            r = c.post(f"/api/v1/conversations/{conv}/messages",
                       json={"content": "我保证明天一定到，您放心"})
            assert r.status_code == 201, r.text
            got = frames_until(sws, lambda f: f["type"] == "qa.alert")
            assert time.monotonic() - sent < 1.0
            assert got[-1]["reason"] == "alert" and got[-1]["agent_name"] == "李晓月"
            assert got[-1]["message_id"] == r.json()["id"]
            # blocked: 422, nothing reaches the visitor
            r = c.post(f"/api/v1/conversations/{conv}/messages", json={"content": "滚"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "qa_blocked"
        heard += quiet_for(aws, 0.5)
        assert any(f["type"] == "message.created" for f in heard)
        assert not [f for f in heard if f["type"].startswith("qa.")]
        seen_by_visitor = [f for f in quiet_for(vws, 0.3) if f["type"] == "message"]
        assert [f["message"]["content"] for f in seen_by_visitor
                if f["message"]["sender_type"] == "agent"] == ["我保证明天一定到，您放心"]


def test_qa_check_copes_with_a_lone_surrogate(app_client: TestClient, world: World,
                                              bound: Services) -> None:
    conv, _ = customer_says(bound.uows, world.inbox_a, "在吗", visitor="v_surrogate")
    login(app_client, "li@a.example.com")
    r = app_client.post(f"/api/v1/conversations/{conv}/qa-check",
                        content='{"text": "\\ud800保证明天到"}',
                        headers={"content-type": "application/json"})
    # not text at all: a clear 422 naming the field, never a 500
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["fields"][0]["loc"] == ["body", "text"]
