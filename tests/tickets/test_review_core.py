"""Review of the ticket core (actions, relations, queries, API, agent pages): odd input never
makes a 500, and what is stored matches the issue's rules."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.core.uow import UowFactory
from kefu.tickets.models import Ticket, TicketEvent, TicketFile, TicketTemplate
from tests.conftest import World, customer_says, login
from tests.tickets.pages_helpers import make_template
from tests.tickets.test_core_actions import make_team

OPTIONAL: list[dict[str, Any]] = [
    {"key": "note", "label": "备注", "type": "text", "required": False, "options": []}]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def _cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _ticket(uows: UowFactory, ticket_id: str) -> Ticket:
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None
        uow.session.expunge(t)
        return t


def _events(uows: UowFactory, ticket_id: str) -> list[TicketEvent]:
    with uows(readonly=True) as uow:
        rows = list(uow.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.seq)))
        for r in rows:
            uow.session.expunge(r)
        return rows


# --- empty ids are "none", not a reference that breaks a foreign key ------------------


def test_empty_string_ids_mean_none(app_client: TestClient, world: World,
                                    uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    r = app_client.post("/api/v1/tickets", json={"subject": "空的引用", "assignee_id": "",
                                                 "parent_id": "", "team_id": "",
                                                 "template_id": "", "conversation_id": ""})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["assignee_id"], body["parent_id"], body["team_id"]) == (None, None, None)
    tid = body["id"]
    team = make_team(uows, world.admin_wang, "售后组", [world.agent_li.user_id])
    tpl = make_template(uows, world.ws_a, fields=OPTIONAL)
    r = app_client.patch(f"/api/v1/tickets/{tid}", json={
        "assignee_id": world.agent_li.user_id, "team_id": team, "template_id": tpl})
    assert r.status_code == 200, r.text
    for name in ("assignee_id", "team_id", "template_id", "parent_id"):
        r = app_client.patch(f"/api/v1/tickets/{tid}", json={name: ""})
        assert r.status_code == 200, (name, r.text)
        assert r.json()[name] is None
    t = _ticket(uows, tid)
    assert (t.assignee_id, t.team_id, t.template_id) == (None, None, None)


# --- numbers beyond the integer columns -------------------------------------------------


def test_huge_numbers_in_a_cursor_or_split_are_refused(app_client: TestClient,
                                                       world: World) -> None:
    login(app_client, "li@a.example.com")
    tid = app_client.post("/api/v1/tickets", json={"subject": "大数"}).json()["id"]
    for sort, pos in (("number", {"number": 10**30, "id": "x"}),
                      ("number", {"number": 2**63, "id": "x"}),
                      ("number", {"number": True, "id": "x"}),
                      ("priority", {"priority": "P1", "number": -(10**20), "id": "x"})):
        r = app_client.get("/api/v1/tickets", params={"sort": sort, "cursor": _cursor(pos)})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_cursor"
    r = app_client.post(f"/api/v1/tickets/{tid}/split",
                        json={"seqs": [123456789012345678901234]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_split_lines"


def test_ticket_page_forms_with_odd_digits(app_client: TestClient, world: World,
                                           uows: UowFactory) -> None:
    """"²" is a digit to str.isdigit() but not to int(); "１２" (full width) is a number."""
    login(app_client, "li@a.example.com")
    conv, _ = customer_says(uows, world.inbox_a, "两件事：退款和换货")
    a = app_client.post(f"/api/v1/conversations/{conv}/ticket", json={}).json()
    b = app_client.post("/api/v1/tickets", json={"subject": "另一张"}).json()
    csrf = _csrf(app_client.get(f"/app/tickets/{a['id']}").text)
    for url, data in ((f"/app/tickets/{a['id']}/links", {"other": "²"}),
                      (f"/app/tickets/{a['id']}/merge", {"other": "²"}),
                      (f"/app/tickets/{a['id']}/split", {"seq": "²"}),
                      (f"/app/tickets/{a['id']}/split", {"seq": "1" * 30})):
        r = app_client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert r.status_code == 422, (url, data, r.status_code)
    r = app_client.post(f"/app/tickets/{a['id']}/links", follow_redirects=False,
                        data={"csrf_token": csrf, "other": f"＃{chr(0xFF10 + b['number'])}"})
    assert r.status_code == 303, r.text
    assert [e.kind for e in _events(uows, b["id"])][-1] == "linked"


# --- NUL characters (PostgreSQL refuses them in text) ------------------------------------


def test_nul_characters_in_the_api(app_client: TestClient, world: World,
                                   uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    tid = app_client.post("/api/v1/tickets", json={"subject": "正常"}).json()["id"]
    for method, url, kw in (
            ("post", "/api/v1/tickets", {"json": {"subject": "a\x00b"}}),
            ("post", "/api/v1/tickets", {"json": {"subject": "ok", "description": "\x00"}}),
            ("post", "/api/v1/tickets",
             {"json": {"subject": "ok", "contact": {"email": "a\x00@b.cn"}}}),
            ("post", f"/api/v1/tickets/{tid}/replies", {"json": {"body": "a\x00b"}}),
            ("patch", f"/api/v1/tickets/{tid}", {"json": {"subject": "x\x00"}}),
            ("get", "/api/v1/tickets", {"params": {"q": "\x00"}}),
            ("get", "/api/v1/tickets", {"params": {"team_id": "\x00"}}),
            ("get", "/api/v1/tickets/%00", {})):
        r = getattr(app_client, method)(url, **kw)
        assert r.status_code in (404, 422), (url, kw, r.status_code)
    assert [e.kind for e in _events(uows, tid)] == ["created"]
    # a file may hold NUL bytes: uploads are not affected
    up = app_client.post("/api/v1/ticket-files",
                         files={"file": ("a.bin", b"\x00\\u0000\x01", "application/octet-stream")})
    assert up.status_code == 201, up.text


def test_nul_characters_in_the_pages(app_client: TestClient, world: World,
                                     uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    tid = app_client.post("/api/v1/tickets", json={"subject": "正常"}).json()["id"]
    for url in ("/app/tickets?q=%00", "/app/tickets?tag=%00", "/app/tickets?team=%00",
                "/app/tickets?assignee=%00", "/app/tickets?template=%00",
                "/app/tickets/new?template_id=%00&subject=a%00b"):
        r = app_client.get(url)
        assert r.status_code == 200, url
    csrf = _csrf(app_client.get(f"/app/tickets/{tid}").text)
    r = app_client.post(f"/app/tickets/{tid}/reply", follow_redirects=False,
                        data={"csrf_token": csrf, "body": "你\x00好", "mode": "note"})
    assert r.status_code == 303
    r = app_client.post(f"/app/tickets/{tid}/update", follow_redirects=False,
                        data={"csrf_token": csrf, "subject": "新\x00标题"})
    assert r.status_code == 303
    r = app_client.post(f"/app/tickets/{tid}/children", follow_redirects=False,
                        data={"csrf_token": csrf, "subject": "子\x00单"})
    assert r.status_code == 303
    r = app_client.post("/app/tickets/new", follow_redirects=False,
                        data={"csrf_token": csrf, "subject": "x\x00y",
                              "contact_email": "q\x00@example.com"})
    assert r.status_code in (303, 422)
    t = _ticket(uows, tid)
    assert t.subject == "新标题"
    assert [e.body for e in _events(uows, tid) if e.kind == "note"] == ["你好"]


# --- attachment fields changed after creation -------------------------------------------


def test_attachment_set_by_an_update_belongs_to_the_ticket(app_client: TestClient,
                                                          world: World,
                                                          uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    tpl = make_template(uows, world.ws_a, fields=[
        {"key": "photo", "label": "照片", "type": "attachment", "required": False,
         "options": []}])
    tid = app_client.post("/api/v1/tickets", json={"subject": "坏了", "template_id": tpl}
                          ).json()["id"]
    other = app_client.post("/api/v1/tickets", json={"subject": "别的", "template_id": tpl}
                            ).json()["id"]
    fid = app_client.post("/api/v1/ticket-files", files={
        "file": ("坏了.jpg", b"\xff\xd8jpeg", "image/jpeg")}).json()["id"]
    r = app_client.patch(f"/api/v1/tickets/{tid}", json={"fields": {"photo": [fid]}})
    assert r.status_code == 200, r.text
    got = app_client.get(f"/api/v1/tickets/{tid}/files/{fid}")
    assert got.status_code == 200 and got.content == b"\xff\xd8jpeg"
    # a file of another ticket cannot be put on this one (its link would be dead)
    r = app_client.patch(f"/api/v1/tickets/{other}", json={"fields": {"photo": [fid]}})
    assert r.status_code == 422, r.text
    assert _ticket(uows, other).fields == {}
    with uows(readonly=True) as uow:
        row = uow.session.get(TicketFile, fid)
        assert row is not None and row.ticket_id == tid


# --- the properties form: a team change dispatches like the API ---------------------------


def test_properties_form_team_change_assigns_in_the_new_team(app_client: TestClient,
                                                            world: World,
                                                            uows: UowFactory) -> None:
    """The form always sends the assignee select; left untouched, a move to another team
    must still let that team's round robin pick (the old agent is not a member)."""
    experts = make_team(uows, world.admin_wang, "专家组", [world.agent_chen.user_id],
                        "round_robin")
    login(app_client, "li@a.example.com")
    tid = app_client.post("/api/v1/tickets", json={
        "subject": "需要专家", "assignee_id": world.agent_li.user_id}).json()["id"]
    csrf = _csrf(app_client.get(f"/app/tickets/{tid}").text)
    r = app_client.post(f"/app/tickets/{tid}/update", follow_redirects=False, data={
        "csrf_token": csrf, "priority": "P3", "team_id": experts,
        "assignee_id": world.agent_li.user_id, "tags": ""})
    assert r.status_code == 303
    t = _ticket(uows, tid)
    assert (t.team_id, t.assignee_id) == (experts, world.agent_chen.user_id)
    # choosing someone explicitly in the same form still wins
    r = app_client.post(f"/app/tickets/{tid}/update", follow_redirects=False, data={
        "csrf_token": csrf, "priority": "P3", "team_id": "",
        "assignee_id": world.agent_li.user_id, "tags": ""})
    t = _ticket(uows, tid)
    assert (t.team_id, t.assignee_id) == (None, world.agent_li.user_id)


# --- split / follow-up of a ticket whose template was switched off ----------------------


def test_split_of_a_ticket_whose_template_is_inactive(app_client: TestClient, world: World,
                                                     uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    tpl = make_template(uows, world.ws_a, fields=OPTIONAL)
    conv, _ = customer_says(uows, world.inbox_a, "第一件事")
    tid = app_client.post(f"/api/v1/conversations/{conv}/ticket",
                          json={"template_id": tpl}).json()["id"]
    with uows() as uow:
        row = uow.session.get(TicketTemplate, tpl)
        assert row is not None
        row.is_active = False
    r = app_client.post(f"/api/v1/tickets/{tid}/split", json={"body": "另一件事"})
    assert r.status_code == 201, r.text
    assert r.json()["template_id"] is None and r.json()["source"] == "split"


# --- attachments copied to a split ticket stay readable there ----------------------------


def test_attachment_field_of_a_split_ticket_downloads(app_client: TestClient, world: World,
                                                      uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    tpl = make_template(uows, world.ws_a, fields=[
        {"key": "photo", "label": "照片", "type": "attachment", "required": False,
         "options": []}])
    fid = app_client.post("/api/v1/ticket-files", files={
        "file": ("a.png", b"\x89PNG", "image/png")}).json()["id"]
    tid = app_client.post("/api/v1/tickets", json={
        "subject": "两件事", "template_id": tpl, "fields": {"photo": [fid]}}).json()["id"]
    new = app_client.post(f"/api/v1/tickets/{tid}/split", json={"body": "第二件"}).json()
    assert new["fields"] == {"photo": [fid]}
    got = app_client.get(f"/api/v1/tickets/{new['id']}/files/{fid}")
    assert got.status_code == 200 and got.content == b"\x89PNG"
    # a file named in no field of the ticket is still not reachable through it
    other = app_client.post("/api/v1/ticket-files", files={
        "file": ("b.png", b"\x89PNG2", "image/png")}).json()["id"]
    assert app_client.get(f"/api/v1/tickets/{new['id']}/files/{other}").status_code == 404


# --- merge never makes a parent cycle ----------------------------------------------------


def test_merge_into_a_grandchild_makes_no_parent_cycle(app_client: TestClient, world: World,
                                                       uows: UowFactory) -> None:
    login(app_client, "li@a.example.com")
    s = app_client.post("/api/v1/tickets", json={"subject": "上级"}).json()["id"]
    c = app_client.post(f"/api/v1/tickets/{s}/children", json={"subject": "下级"}).json()["id"]
    g = app_client.post(f"/api/v1/tickets/{c}/children", json={"subject": "再下级"}).json()["id"]
    r = app_client.post(f"/api/v1/tickets/{s}/merge", json={"target_id": g})
    assert r.status_code == 200, r.text
    seen: set[str] = set()
    node: str | None = g
    while node is not None:
        assert node not in seen, "parent cycle"
        seen.add(node)
        node = _ticket(uows, node).parent_id
