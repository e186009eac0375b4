"""Ticket templates: CRUD through the API and the pages, errors, audit, isolation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.accounts import actions as account_actions
from kefu.core.audit import AuditEntry
from kefu.core.uow import UowFactory
from kefu.tickets.models import Ticket, TicketTemplate
from tests.conftest import World, login

URL = "/api/v1/ticket-templates"
FIELDS: list[dict[str, Any]] = [
    {"key": "order_no", "label": "订单号", "type": "text", "required": True},
    {"key": "reason", "label": "原因", "type": "select", "options": ["质量问题", "发错货"]},
]


def _team(uows: UowFactory, world: World, name: str = "售后组") -> str:
    from kefu.accounts.schemas import TeamCreate

    with uows() as uow:
        team = account_actions.do_create_team(uow, world.admin_wang,
                                              data=TeamCreate(name=name))
        return team.id


def test_crud_and_audit(app_client: TestClient, world: World, uows: UowFactory) -> None:
    login(app_client, "wang@a.example.com")
    team = _team(uows, world)
    r = app_client.post(URL, json={"name": "退换货", "fields": FIELDS, "default_team_id": team,
                                   "default_priority": "P2", "public": True})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert r.json()["fields"][1]["options"] == ["质量问题", "发错货"]
    assert r.json()["default_team_id"] == team and r.json()["public"] is True
    r = app_client.patch(f"{URL}/{tid}", json={"fields": FIELDS[:1], "is_active": False})
    assert r.status_code == 200 and [f["key"] for f in r.json()["fields"]] == ["order_no"]
    assert r.json()["is_active"] is False
    assert [x["id"] for x in app_client.get(URL).json()["items"]] == [tid]
    assert app_client.get(URL, params={"active": "true"}).json()["items"] == []
    with uows(readonly=True) as uow:
        actions = list(uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == tid).order_by(AuditEntry.at, AuditEntry.id)))
        upd = uow.session.scalar(select(AuditEntry).where(
            AuditEntry.object_id == tid, AuditEntry.action == "ticket_template.updated"))
    assert sorted(actions) == ["ticket_template.created", "ticket_template.updated"]
    assert upd is not None and upd.data["removed_fields"] == ["reason"]
    assert app_client.delete(f"{URL}/{tid}").status_code == 204
    assert app_client.get(f"{URL}/{tid}").status_code == 404


def test_errors_name_the_problem(app_client: TestClient, world: World,
                                 uows: UowFactory) -> None:
    login(app_client, "wang@a.example.com")
    assert app_client.post(URL, json={"name": "A", "fields": FIELDS}).status_code == 201
    r = app_client.post(URL, json={"name": "A", "fields": []})
    assert r.status_code == 409 and r.json()["error"]["code"] == "template_name_taken"
    r = app_client.post(URL, json={"name": "B", "fields": [
        {"key": "1bad", "label": "", "type": "select", "options": []}]})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_template"
    assert set(err["details"]["errors"]) == {"fields[0].key", "fields[0].label",
                                             "fields[0].options"}
    r = app_client.post(URL, json={"name": "B", "default_priority": "P9"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_priority"
    other_team = None
    with uows() as uow:
        from kefu.accounts.schemas import TeamCreate

        other_team = account_actions.do_create_team(uow, world.admin_b,
                                                    data=TeamCreate(name="B team")).id
    r = app_client.post(URL, json={"name": "B", "default_team_id": other_team})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_team"
    r = app_client.post(URL, json={"name": "B", "colour": "red"})
    assert r.status_code == 422
    with uows(readonly=True) as uow:
        names = set(uow.session.scalars(select(TicketTemplate.name).where(
            TicketTemplate.workspace_id == world.ws_a)))
    assert names == {"A"}  # nothing half stored


def test_permissions_and_isolation(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    tid = app_client.post(URL, json={"name": "A", "fields": FIELDS}).json()["id"]
    login(app_client, "li@a.example.com")  # an agent: may read one, not change
    assert app_client.get(f"{URL}/{tid}").status_code == 200
    r = app_client.post(URL, json={"name": "C"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert app_client.patch(f"{URL}/{tid}", json={"name": "X"}).status_code == 403
    login(app_client, "admin@b.example.com")  # another workspace: missing
    for r in (app_client.get(f"{URL}/{tid}"), app_client.patch(f"{URL}/{tid}", json={}),
              app_client.delete(f"{URL}/{tid}")):
        assert r.status_code == 404 and r.json()["error"]["code"] == "template_not_found"
    assert app_client.get(URL).json()["items"] == []


def test_template_in_use_cannot_be_deleted_and_old_values_stay(
        app_client: TestClient, world: World, uows: UowFactory) -> None:
    from kefu.tickets.actions import do_create_ticket
    from kefu.tickets.schemas import TicketCreate

    login(app_client, "wang@a.example.com")
    tid = app_client.post(URL, json={"name": "A", "fields": FIELDS}).json()["id"]
    with uows() as uow:
        ticket = do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                                  data=TicketCreate(subject="坏了", template_id=tid,
                                                    fields={"order_no": "A1",
                                                            "reason": "发错货"}),
                                  source="agent")
        ticket_id = ticket.id
    r = app_client.delete(f"{URL}/{tid}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "template_in_use"
    assert app_client.patch(f"{URL}/{tid}", json={"fields": FIELDS[:1]}).status_code == 200
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None and t.fields == {"order_no": "A1", "reason": "发错货"}


def test_pages(app_client: TestClient, world: World, uows: UowFactory) -> None:
    csrf = login(app_client, "wang@a.example.com")
    r = app_client.get("/app/tickets/templates")
    assert r.status_code == 200 and 'id="tpl-empty"' in r.text
    form = {"csrf_token": csrf, "name": "发票", "default_priority": "P2", "public": "1",
            "is_active": "1", "position": "0", "rows": "3",
            "key_0": "title", "label_0": "抬头", "type_0": "text", "required_0": "1",
            "pos_0": "2",
            "key_1": "kind", "label_1": "类型", "type_1": "select",
            "options_1": "普通\n专用\n", "pos_1": "1",
            "key_2": "", "label_2": "", "type_2": "text", "pos_2": "3"}
    r = app_client.post("/app/tickets/templates/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    tid = r.headers["location"].split("/")[-1].split("?")[0]
    with uows(readonly=True) as uow:
        t = uow.session.get(TicketTemplate, tid)
        assert t is not None and t.public and t.default_priority == "P2"
        assert [f["key"] for f in t.fields] == ["kind", "title"]  # reordered
        assert t.fields[0]["options"] == ["普通", "专用"]
    page = app_client.get(f"/app/tickets/templates/{tid}")
    assert page.status_code == 200 and 'value="kind"' in page.text
    # remove one field, break another: the row's error is shown, nothing saved
    bad = {**form, "rows": "2", "key_0": "Bad Key", "remove_1": "1"}
    r = app_client.post(f"/app/tickets/templates/{tid}", data=bad)
    assert r.status_code == 422
    assert "tpl-row-error" in r.text and "a-z" in r.text
    good = {**form, "rows": "2", "remove_1": "1"}
    r = app_client.post(f"/app/tickets/templates/{tid}", data=good, follow_redirects=False)
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        t = uow.session.get(TicketTemplate, tid)
        assert t is not None and [f["key"] for f in t.fields] == ["title"]
    # add a field row without saving
    r = app_client.post(f"/app/tickets/templates/{tid}", data={**good, "op": "add"})
    assert r.status_code == 200 and r.text.count('class="tpl-blank') == 2
    # CSRF and permission
    r = app_client.post(f"/app/tickets/templates/{tid}", data={**good, "csrf_token": "x"},
                        headers={"X-CSRF-Token": ""})
    assert r.status_code == 403
    login(app_client, "li@a.example.com")
    assert app_client.get("/app/tickets/templates").status_code == 403
