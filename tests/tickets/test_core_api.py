"""The tickets JSON API: idempotent creation (retry and race), list + cursor, read, update,
replies, watchers, links, merge, split, children, from a conversation, files; errors and
workspace isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.core.uow import UowFactory
from kefu.tickets import actions
from kefu.tickets.models import Ticket, TicketEvent
from tests.conftest import World, customer_says, login


def create(client: TestClient, key: str | None = None, **body: Any) -> Any:
    body.setdefault("subject", "无法登录")
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/tickets", json=body, headers=headers)


def count_tickets(uows: UowFactory) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Ticket)) or 0)


def test_idempotency_key_retry(app_client: TestClient, uows: UowFactory,
                               world: World) -> None:
    login(app_client, "li@a.example.com")
    r1 = create(app_client, "order-42", description="密码正确也登录不了", priority="P2")
    assert r1.status_code == 201, r1.text
    r2 = create(app_client, "order-42", description="second try")
    assert r2.status_code == 200 and r2.json()["id"] == r1.json()["id"]
    assert r1.json()["source"] == "api" and r1.json()["number"] == 1
    assert count_tickets(uows) == 1
    r3 = create(app_client, "order-43")
    assert r3.status_code == 201 and r3.json()["number"] == 2
    assert create(app_client, "x" * 191).status_code == 422


def test_idempotency_key_race(app_client: TestClient, uows: UowFactory, world: World,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The loser of a race (its look-up saw nothing) hits the unique key inside a SAVEPOINT
    and answers with the winner's ticket; the number counter is not burnt."""
    login(app_client, "li@a.example.com")
    first = create(app_client, "race-1").json()
    real = actions.find_by_ref
    calls: list[str] = []

    def blind_once(uow: Any, ws: str, ref: str) -> Ticket | None:
        calls.append(ref)
        return None if len(calls) == 1 else real(uow, ws, ref)

    monkeypatch.setattr(actions, "find_by_ref", blind_once)
    r = create(app_client, "race-1")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first["id"] and len(calls) == 2
    monkeypatch.setattr(actions, "find_by_ref", real)
    assert create(app_client).json()["number"] == 2
    assert count_tickets(uows) == 2


def test_list_read_update(app_client: TestClient, uows: UowFactory, world: World) -> None:
    login(app_client, "li@a.example.com")
    ids = [create(app_client, subject=f"问题 {i}").json()["id"] for i in range(5)]
    r = app_client.get("/api/v1/tickets", params={"sort": "number", "limit": 2,
                                                  "count": "true"})
    assert r.status_code == 200
    body = r.json()
    assert [i["number"] for i in body["items"]] == [5, 4]
    assert (body["count"], body["count_more"]) == (5, False)
    r2 = app_client.get("/api/v1/tickets", params={"sort": "number", "limit": 2,
                                                   "cursor": body["next_cursor"]})
    assert [i["number"] for i in r2.json()["items"]] == [3, 2]
    mine = app_client.get("/api/v1/tickets", params={"watcher_id": "me", "q": "#3"})
    assert [i["number"] for i in mine.json()["items"]] == [3]
    assert app_client.get("/api/v1/tickets", params={"status": "nope"}).json()[
        "error"]["code"] == "invalid_filter"
    assert app_client.get("/api/v1/tickets", params={"sort": "x"}).status_code == 422
    d = app_client.get(f"/api/v1/tickets/{ids[0]}").json()
    assert d["ticket"]["subject"] == "问题 0" and d["timeline"][0]["kind"] == "created"
    assert d["next_statuses"] == ["open", "pending", "resolved", "closed"]
    p = app_client.patch(f"/api/v1/tickets/{ids[0]}", json={"status": "closed",
                                                           "priority": "P1"})
    assert p.status_code == 200 and p.json()["status"] == "closed"
    bad = app_client.patch(f"/api/v1/tickets/{ids[0]}", json={"status": "pending",
                                                             "priority": "P4"})
    assert bad.status_code == 422
    err = bad.json()["error"]
    assert err["code"] == "invalid_transition"
    assert (err["details"]["from_status"], err["details"]["to_status"]) == ("closed",
                                                                            "pending")
    after = app_client.get(f"/api/v1/tickets/{ids[0]}").json()["ticket"]
    assert (after["status"], after["priority"]) == ("closed", "P1")
    assert app_client.patch(f"/api/v1/tickets/{ids[1]}",
                            json={"bogus": 1}).status_code == 422
    assert app_client.patch(f"/api/v1/tickets/{ids[1]}",
                            json={"assignee_id": "nobody"}).json()["error"]["code"] == \
        "user_not_found"


def test_replies_watchers_links_merge_split_children(app_client: TestClient,
                                                     uows: UowFactory, world: World) -> None:
    login(app_client, "li@a.example.com")
    a = create(app_client, subject="A").json()["id"]
    b = create(app_client, subject="B").json()["id"]
    r = app_client.post(f"/api/v1/tickets/{a}/replies",
                        json={"body": "@陈子豪 看看", "public": False})
    assert r.status_code == 201 and r.json()["kind"] == "note"
    assert r.json()["actor_name"] == "李晓月"
    r = app_client.post(f"/api/v1/tickets/{a}/replies", json={"body": "", "public": True})
    assert r.status_code == 422
    w = app_client.post(f"/api/v1/tickets/{a}/watchers", json={})
    assert w.json()["added"] is False  # the creator watches already
    w = app_client.delete(f"/api/v1/tickets/{a}/watchers",
                          params={"user_id": world.agent_chen.user_id})
    assert w.json()["removed"] is True and world.agent_chen.user_id not in w.json()["watchers"]
    assert app_client.post(f"/api/v1/tickets/{a}/links",
                           json={"other_id": a}).json()["error"]["code"] == "link_self"
    lk = app_client.post(f"/api/v1/tickets/{a}/links", json={"other_id": b})
    assert lk.status_code == 200 and lk.json()["links"][0]["id"] == b
    assert app_client.delete(f"/api/v1/tickets/{a}/links/{b}").status_code == 204
    assert app_client.delete(f"/api/v1/tickets/{a}/links/{b}").status_code == 422
    m = app_client.post(f"/api/v1/tickets/{a}/merge", json={"target_id": a})
    assert m.status_code == 422 and m.json()["error"]["code"] == "merge_self"
    ch = app_client.post(f"/api/v1/tickets/{b}/children", json={"subject": "仓库补发"})
    assert ch.status_code == 201 and ch.json()["parent_id"] == b
    with uows() as uow:
        ev = actions.do_customer_reply(uow, b, contact_id=None, body="另一个问题",
                                       via="portal")
    sp = app_client.post(f"/api/v1/tickets/{b}/split", json={"seqs": [ev.seq]})
    assert sp.status_code == 201 and sp.json()["source"] == "split"
    assert app_client.post(f"/api/v1/tickets/{b}/split",
                           json={"seqs": [1]}).json()["error"]["code"] == "invalid_split_lines"
    m = app_client.post(f"/api/v1/tickets/{a}/merge", json={"target_id": b})
    assert m.status_code == 200 and m.json()["id"] == b
    assert app_client.get(f"/api/v1/tickets/{a}").json()["merged_into"]["id"] == b


def test_from_conversation_endpoint(app_client: TestClient, uows: UowFactory,
                                    world: World) -> None:
    conv_id, contact_id = customer_says(uows, world.inbox_a, "快递丢了")
    login(app_client, "li@a.example.com")
    r = app_client.post(f"/api/v1/conversations/{conv_id}/ticket")
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["subject"], t["contact_id"], t["source"]) == ("快递丢了", contact_id,
                                                            "conversation")
    assert t["url"] == f"/app/tickets/{t['id']}"
    r = app_client.post(f"/api/v1/conversations/{conv_id}/ticket",
                        json={"subject": "自定义", "priority": "P1"})
    assert r.json()["subject"] == "自定义" and r.json()["priority"] == "P1"
    assert app_client.post("/api/v1/conversations/nope/ticket").status_code == 404


def test_files_upload_reply_download(app_client: TestClient, uows: UowFactory,
                                     world: World) -> None:
    login(app_client, "li@a.example.com")
    t = create(app_client).json()["id"]
    up = app_client.post("/api/v1/ticket-files",
                         files={"file": ("截图 1.png", b"\x89PNG fake", "image/png")})
    assert up.status_code == 201, up.text
    fid = up.json()["id"]
    assert up.json()["name"] == "截图 1.png" and up.json()["size"] == 9
    r = app_client.post(f"/api/v1/tickets/{t}/replies",
                        json={"body": "见附件", "public": True, "file_ids": [fid]})
    assert r.status_code == 201 and r.json()["files"][0]["id"] == fid
    dl = app_client.get(f"/api/v1/tickets/{t}/files/{fid}")
    assert dl.status_code == 200 and dl.content == b"\x89PNG fake"
    assert dl.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E6%88%AA%E5%9B%BE" in dl.headers["content-disposition"]
    other = create(app_client).json()["id"]
    assert app_client.get(f"/api/v1/tickets/{other}/files/{fid}").status_code == 404
    r = app_client.post(f"/api/v1/tickets/{other}/replies",
                        json={"body": "x", "public": False, "file_ids": [fid]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "file_not_found"
    empty = app_client.post("/api/v1/ticket-files", files={"file": ("a.txt", b"", "text/plain")})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "file_empty"


def test_isolation_and_auth(app_client: TestClient, uows: UowFactory, world: World) -> None:
    assert app_client.get("/api/v1/tickets").status_code == 401
    login(app_client, "li@a.example.com")
    a = create(app_client, subject="A 的工单").json()["id"]
    up = app_client.post("/api/v1/ticket-files", files={"file": ("a.txt", b"hi", "text/plain")})
    fid = up.json()["id"]
    app_client.post(f"/api/v1/tickets/{a}/replies",
                    json={"body": "f", "public": False, "file_ids": [fid]})
    login(app_client, "agent@b.example.com")
    b = create(app_client, subject="B 的工单").json()["id"]
    assert app_client.get("/api/v1/tickets").json()["items"][0]["id"] == b
    calls = [("get", f"/api/v1/tickets/{a}", None),
             ("patch", f"/api/v1/tickets/{a}", {"priority": "P1"}),
             ("post", f"/api/v1/tickets/{a}/replies", {"body": "x", "public": True}),
             ("post", f"/api/v1/tickets/{a}/watchers", {}),
             ("post", f"/api/v1/tickets/{a}/links", {"other_id": b}),
             ("post", f"/api/v1/tickets/{b}/links", {"other_id": a}),
             ("post", f"/api/v1/tickets/{b}/merge", {"target_id": a}),
             ("post", f"/api/v1/tickets/{a}/merge", {"target_id": b}),
             ("post", f"/api/v1/tickets/{a}/split", {"body": "x"}),
             ("post", f"/api/v1/tickets/{a}/children", {"subject": "x"}),
             ("get", f"/api/v1/tickets/{a}/files/{fid}", None)]
    for method, url, body in calls:
        kw = {"json": body} if body is not None else {}
        r = getattr(app_client, method)(url, **kw)
        assert r.status_code == 404, (method, url, r.text)
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, a)
        assert t is not None and t.priority == "P3" and t.status == "new"
        kinds = list(uow.session.scalars(select(TicketEvent.kind).where(
            TicketEvent.ticket_id == a).order_by(TicketEvent.seq)))
    assert kinds == ["created", "note"]
    login(app_client, "sun@a.example.com")  # inspector: read only
    assert app_client.get(f"/api/v1/tickets/{a}").status_code == 200
    assert app_client.patch(f"/api/v1/tickets/{a}", json={"priority": "P1"}).status_code == 403


def test_workspace_has_the_create_ticket_button(app_client: TestClient, world: World) -> None:
    login(app_client, "li@a.example.com")
    page = app_client.get("/app", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert 'id="ticket-btn"' in page.text and "创建工单" in page.text
    login(app_client, "sun@a.example.com")  # an inspector may not create tickets
    assert 'id="ticket-btn"' not in app_client.get("/app").text
    js = app_client.get("/static/app.js").text
    assert "'/ticket'" in js and "/app/tickets/" in js
