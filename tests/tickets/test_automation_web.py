"""Automation triggers over HTTP: the admin API (errors with paths, isolation, dry run) and the
pages (list, enable / disable, JSON editor with errors, dry run)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.core.uow import UowFactory
from kefu.tickets.models import TicketTrigger
from tests.conftest import World, login


def test_api_crud_errors_and_isolation(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/ticket-triggers", json={
        "name": "P1 通知", "event": "create",
        "conditions": [{"field": "priority", "op": "is", "value": "P1"}],
        "actions": [{"type": "notify", "to": ["supervisors"], "title": "#{number}"}]})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert r.json()["position"] == 0 and r.json()["is_active"] is True
    r = app_client.post("/api/v1/ticket-triggers", json={
        "name": "bad", "event": "update",
        "conditions": [{"field": "priority", "op": "is", "value": "P1"},
                       {"field": "status", "op": "changed_to", "value": "waiting"}],
        "actions": [{"type": "set_priority", "value": "P0"}]})
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["code"] == "invalid_trigger"
    assert set(body["details"]["errors"]) == {"conditions[1].value", "actions[0].value"}
    assert app_client.post("/api/v1/ticket-triggers", json={"name": "x"}).status_code == 422
    r = app_client.patch(f"/api/v1/ticket-triggers/{tid}", json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = app_client.patch(f"/api/v1/ticket-triggers/{tid}", json={"conditions": [{}]})
    assert r.status_code == 422
    assert set(r.json()["error"]["details"]["errors"]) == {"conditions[0].field"}
    assert app_client.get(f"/api/v1/ticket-triggers/{tid}").json()["conditions"][0][
        "value"] == "P1"  # nothing half-stored
    assert [x["id"] for x in app_client.get("/api/v1/ticket-triggers").json()["items"]] == [tid]
    assert "changed_to" in app_client.get("/api/v1/ticket-triggers/spec").json()["ops"]
    r = app_client.post("/api/v1/ticket-triggers/preview", json={
        "event": "create", "conditions": [{"field": "priority", "op": "is", "value": "P1"}]})
    assert r.status_code == 200 and r.json()["matched"] == 0
    assert app_client.get(f"/api/v1/ticket-triggers/{tid}/preview").status_code == 200

    login(app_client, "admin@b.example.com")
    for method, url in (("get", f"/api/v1/ticket-triggers/{tid}"),
                        ("get", f"/api/v1/ticket-triggers/{tid}/preview"),
                        ("patch", f"/api/v1/ticket-triggers/{tid}"),
                        ("delete", f"/api/v1/ticket-triggers/{tid}")):
        kw = {"json": {"name": "stolen"}} if method == "patch" else {}
        r = getattr(app_client, method)(url, **kw)
        assert r.status_code == 404 and r.json()["error"]["code"] == "trigger_not_found"
    assert app_client.get("/api/v1/ticket-triggers").json()["items"] == []
    login(app_client, "li@a.example.com")
    assert app_client.get("/api/v1/ticket-triggers").status_code == 403
    login(app_client, "wang@a.example.com")
    assert app_client.delete(f"/api/v1/ticket-triggers/{tid}").status_code == 204
    assert app_client.get(f"/api/v1/ticket-triggers/{tid}").status_code == 404


def test_pages_create_toggle_preview_and_show_errors(app_client: TestClient, world: World,
                                                     uows: UowFactory) -> None:
    csrf = login(app_client, "zhao@a.example.com")
    r = app_client.get("/app/tickets/automation")
    assert r.status_code == 200 and 'id="triggers-empty"' in r.text
    assert app_client.get("/app/tickets/automation/new").status_code == 200
    form = {"csrf_token": csrf, "name": "坏规则", "event": "create", "op": "save",
            "conditions": '[{"field": "priority", "op": "is", "value": "P9"}]',
            "actions": "[{not json"}
    r = app_client.post("/app/tickets/automation", data=form)
    assert r.status_code == 422 and 'data-error-for="actions"' in r.text
    form["actions"] = '[{"type": "add_tag", "tag": "急"}]'
    r = app_client.post("/app/tickets/automation", data=form)
    assert r.status_code == 422 and "conditions[0].value" in r.text
    form["conditions"] = '[{"field": "priority", "op": "is", "value": "P1"}]'
    form["op"] = "preview"
    r = app_client.post("/app/tickets/automation", data=form)
    assert r.status_code == 200 and 'id="trigger-preview-result"' in r.text
    form["op"] = "save"
    form["is_active"] = "on"
    r = app_client.post("/app/tickets/automation", data=form, follow_redirects=False)
    assert r.status_code == 303 and "notice=saved" in r.headers["location"]
    with uows() as uow:
        tid = uow.session.scalar(select(TicketTrigger.id).where(TicketTrigger.name == "坏规则"))
    assert tid is not None
    page = app_client.get("/app/tickets/automation").text
    assert re.search(rf'data-trigger="{tid}"', page) and "priority is P1" in page
    assert app_client.get(f"/app/tickets/automation/{tid}").status_code == 200
    r = app_client.post(f"/app/tickets/automation/{tid}/toggle", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303 and "notice=disabled" in r.headers["location"]
    app_client.headers.pop("X-CSRF-Token")
    r = app_client.post(f"/app/tickets/automation/{tid}/toggle", data={"csrf_token": "bad"})
    assert r.status_code == 403
    with uows() as uow:
        row = uow.session.get(TicketTrigger, tid)
        assert row is not None and row.is_active is False
    login(app_client, "admin@b.example.com")
    assert app_client.get(f"/app/tickets/automation/{tid}").status_code == 404
    login(app_client, "li@a.example.com")
    assert app_client.get("/app/tickets/automation").status_code == 403
