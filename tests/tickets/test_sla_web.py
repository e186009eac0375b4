"""The SLA settings API and pages, and the notifications API and page: permissions, field
errors named, audit, cross-workspace ids, the bell's unread count."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.accounts import actions as account_actions
from kefu.accounts.notifications import do_notify
from kefu.accounts.schemas import TeamCreate
from kefu.core.audit import AuditEntry
from kefu.core.uow import UowFactory
from kefu.tickets.models import BusinessCalendarRow, SlaPolicy
from tests.conftest import World, login

CAL = {"name": "工作日", "timezone": "Asia/Shanghai",
       "weekly": {"mon": "09:00-12:00, 13:30-18:00", "tue": "09:00-18:00",
                  "sat": ["10:00-12:00"]},
       "holidays": "2026-10-01..2026-10-03\n2026-10-08", "workdays": ["2026-10-10"]}


def test_calendar_crud_with_ranges_and_audit(app_client: TestClient, world: World,
                                             uows: UowFactory) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/sla/calendars", json=CAL)
    assert r.status_code == 201, r.text
    cal = r.json()
    assert cal["weekly"]["mon"] == ["09:00-12:00", "13:30-18:00"]
    assert cal["weekly"]["sun"] == []
    assert cal["holidays"] == ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-08"]
    assert cal["workdays"] == ["2026-10-10"]
    r = app_client.put(f"/api/v1/sla/calendars/{cal['id']}",
                       json={**CAL, "timezone": "Europe/Berlin"})
    assert r.status_code == 200 and r.json()["timezone"] == "Europe/Berlin"
    assert app_client.get("/api/v1/sla/calendars").json()["items"][0]["name"] == "工作日"
    assert app_client.delete(f"/api/v1/sla/calendars/{cal['id']}").status_code == 204
    with uows(readonly=True) as uow:
        actions = list(uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == cal["id"]).order_by(AuditEntry.at, AuditEntry.id)))
    assert actions == ["calendar.created", "calendar.updated", "calendar.deleted"]


BAD_CALENDARS: list[tuple[dict[str, Any], str]] = [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"weekly": {"mon": "9-18"}}, "weekly.mon"),
    ({"weekly": {"mon": "18:00-09:00"}}, "weekly.mon"),
    ({"weekly": {"mon": "09:00-12:00, 11:00-13:00"}}, "weekly.mon"),
    ({"weekly": {"funday": "09:00-12:00"}}, "weekly.funday"),
    ({"weekly": {}}, "weekly"),
    ({"holidays": "2026-13-01"}, "holidays"),
    ({"holidays": "2026-10-08..2026-10-01"}, "holidays"),
    ({"workdays": "2026-10-02"}, "workdays"),  # also a holiday
    ({"name": "  "}, "name"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CALENDARS, ids=[b[1] + str(i) for i, b in
                                                                   enumerate(BAD_CALENDARS)])
def test_bad_calendars_name_the_field(app_client: TestClient, world: World, uows: UowFactory,
                                      change: dict[str, Any], field: str) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/sla/calendars", json={**CAL, **change})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_calendar"
    assert field in [e["field"] for e in err["details"]["errors"]]
    with uows(readonly=True) as uow:
        assert uow.session.scalars(select(BusinessCalendarRow)).first() is None


POLICY = {"name": "VIP", "conditions": {"priorities": ["P1", "P2"], "tiers": ["VIP"]},
          "targets": {"P1": {"first_response": 30, "next_response": 60, "resolution": 480},
                      "P2": {"first_response": 60}},
          "escalate_after_minutes": 30}


def test_policy_crud_order_and_field_errors(app_client: TestClient, world: World) -> None:
    login(app_client, "zhao@a.example.com")  # a supervisor has ticket.manage
    cal = app_client.post("/api/v1/sla/calendars", json=CAL).json()
    a = app_client.post("/api/v1/sla/policies", json={**POLICY, "calendar_id": cal["id"]})
    assert a.status_code == 201, a.text
    assert a.json()["conditions"]["tiers"] == ["vip"]
    b = app_client.post("/api/v1/sla/policies", json={"name": "默认", "targets": {
        "P3": {"resolution": 1440}}})
    assert [p["name"] for p in app_client.get("/api/v1/sla/policies").json()["items"]] == \
        ["VIP", "默认"]
    r = app_client.put("/api/v1/sla/policies/order",
                       json={"policy_ids": [b.json()["id"], a.json()["id"]]})
    assert [p["name"] for p in r.json()["items"]] == ["默认", "VIP"]
    # a calendar used by a policy cannot be deleted
    r = app_client.delete(f"/api/v1/sla/calendars/{cal['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "calendar_in_use"
    bad = app_client.put(f"/api/v1/sla/policies/{a.json()['id']}", json={
        **POLICY, "targets": {"P1": {"first_response": -5, "resolution": "soon"},
                              "P9": {"first_response": 10}, "P2": {"lunch": 5}},
        "conditions": {"priorities": ["P7"]}, "calendar_id": "nope"})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["error"]["details"]["errors"]}
    assert fields >= {"targets.P1.first_response", "targets.P1.resolution", "targets.P9",
                      "targets.P2.lunch", "conditions.priorities", "calendar_id"}
    assert app_client.get(f"/api/v1/sla/policies/{a.json()['id']}").json()["targets"] == \
        POLICY["targets"]  # nothing half-stored
    assert app_client.delete(f"/api/v1/sla/policies/{a.json()['id']}").status_code == 204


def test_agents_read_but_cannot_change_sla_settings(app_client: TestClient,
                                                    world: World) -> None:
    login(app_client, "li@a.example.com")
    assert app_client.get("/api/v1/sla/policies").status_code == 200
    r = app_client.post("/api/v1/sla/policies", json=POLICY)
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert app_client.put("/api/v1/sla/settings", json={"digest_hour": 8}).status_code == 403
    assert app_client.get("/app/tickets/settings").status_code == 403


def test_another_workspace_cannot_see_or_touch_policies(app_client: TestClient, world: World,
                                                        uows: UowFactory) -> None:
    login(app_client, "wang@a.example.com")
    pid = app_client.post("/api/v1/sla/policies", json=POLICY).json()["id"]
    cid = app_client.post("/api/v1/sla/calendars", json=CAL).json()["id"]
    login(app_client, "admin@b.example.com")
    for path in (f"/api/v1/sla/policies/{pid}", f"/api/v1/sla/calendars/{cid}"):
        assert app_client.get(path).status_code == 404
        assert app_client.delete(path).status_code == 404
    assert app_client.get("/api/v1/sla/policies").json()["items"] == []
    # B cannot point a policy at A's calendar either
    r = app_client.post("/api/v1/sla/policies", json={**POLICY, "calendar_id": cid})
    assert r.status_code == 422
    with uows(readonly=True) as uow:
        assert uow.session.get(SlaPolicy, pid) is not None


def test_team_and_workspace_settings(app_client: TestClient, world: World,
                                     uows: UowFactory) -> None:
    with uows() as uow:
        team = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(name="售后组"))
        team_id = team.id
    login(app_client, "wang@a.example.com")
    r = app_client.put(f"/api/v1/sla/teams/{team_id}",
                       json={"assignment": "round_robin", "lead_id": world.agent_chen.user_id})
    assert r.status_code == 200 and r.json()["lead_id"] == world.agent_chen.user_id
    assert app_client.get("/api/v1/sla/teams").json()["items"][0]["assignment"] == \
        "round_robin"
    r = app_client.put(f"/api/v1/sla/teams/{team_id}",
                       json={"assignment": "random", "lead_id": world.agent_b.user_id})
    assert {e["field"] for e in r.json()["error"]["details"]["errors"]} == {"assignment",
                                                                             "lead_id"}
    r = app_client.put("/api/v1/sla/settings", json={"digest_hour": 8, "autoclose_days": 3})
    assert r.json() == {"reopen_days": 7, "autoclose_days": 3, "digest_hour": 8}
    r = app_client.put("/api/v1/sla/settings", json={"digest_hour": 24, "reopen_days": "x"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["error"]["details"]["errors"]} == {"digest_hour",
                                                                             "reopen_days"}
    login(app_client, "admin@b.example.com")
    assert app_client.put(f"/api/v1/sla/teams/{team_id}",
                          json={"assignment": "manual"}).status_code == 404


def test_settings_pages_render_and_save(app_client: TestClient, world: World) -> None:
    csrf = login(app_client, "wang@a.example.com")
    for lang in ("zh-CN", "en"):
        r = app_client.get(f"/app/tickets/settings?lang={lang}")
        assert r.status_code == 200
        assert 'id="sla-policies-empty"' in r.text
    r = app_client.post("/app/tickets/settings/calendars/new", data={
        "csrf_token": csrf, "name": "工作日", "timezone": "Asia/Shanghai",
        "weekly.mon": "09:00-18:00", "weekly.tue": "9点到6点", "holidays": "", "workdays": ""},
        follow_redirects=False)
    assert r.status_code == 422 and 'id="error-weekly-tue"' in r.text
    r = app_client.post("/app/tickets/settings/calendars/new", data={
        "csrf_token": csrf, "name": "工作日", "timezone": "Asia/Shanghai",
        "weekly.mon": "09:00-18:00", "holidays": "2026-10-01..2026-10-07", "workdays": ""},
        follow_redirects=False)
    assert r.status_code == 303
    cal_id = app_client.get("/api/v1/sla/calendars").json()["items"][0]["id"]
    assert app_client.get(f"/app/tickets/settings/calendars/{cal_id}").status_code == 200
    r = app_client.post("/app/tickets/settings/policies/new", data={
        "csrf_token": csrf, "name": "默认", "calendar_id": cal_id, "is_active": "1",
        "priorities": ["P1", "P2"], "tiers": "vip, gold", "escalate_after_minutes": "30",
        "targets.P1.first_response": "abc"}, follow_redirects=False)
    assert r.status_code == 422 and 'id="error-targets-P1-first_response"' in r.text
    r = app_client.post("/app/tickets/settings/policies/new", data={
        "csrf_token": csrf, "name": "默认", "calendar_id": cal_id, "is_active": "1",
        "priorities": ["P1", "P2"], "tiers": "vip, gold", "escalate_after_minutes": "30",
        "targets.P1.first_response": "30", "targets.P1.resolution": "480"},
        follow_redirects=False)
    assert r.status_code == 303
    p = app_client.get("/api/v1/sla/policies").json()["items"][0]
    assert p["targets"] == {"P1": {"first_response": 30, "resolution": 480}}
    assert p["conditions"]["tiers"] == ["vip", "gold"] and p["calendar_id"] == cal_id
    page = app_client.get("/app/tickets/settings?notice=policy_saved")
    assert 'data-policy="默认"' in page.text and 'id="form-notice"' in page.text
    assert app_client.get(f"/app/tickets/settings/policies/{p['id']}").status_code == 200
    r = app_client.post("/app/tickets/settings/general", data={
        "csrf_token": csrf, "reopen_days": "5", "autoclose_days": "2", "digest_hour": "8"},
        follow_redirects=False)
    assert r.status_code == 303
    assert app_client.get("/api/v1/sla/settings").json()["digest_hour"] == 8
    # a form without the CSRF token is refused
    del app_client.headers["X-CSRF-Token"]
    r = app_client.post("/app/tickets/settings/general", data={"digest_hour": "3"},
                        follow_redirects=False)
    assert r.status_code == 403


# -- notifications ----------------------------------------------------------------------------


def notify(uows: UowFactory, world: World, n: int) -> None:
    with uows() as uow:
        for i in range(n):
            do_notify(uow, workspace_id=world.ws_a, user_ids=[world.agent_li.user_id],
                      kind="ticket_warning", title=f"到期预警 {i} / Due soon {i}",
                      link="/app/tickets")


def test_notifications_api_lists_counts_and_marks_read(app_client: TestClient, world: World,
                                                       uows: UowFactory) -> None:
    notify(uows, world, 3)
    login(app_client, "chen@a.example.com")
    assert app_client.get("/api/v1/notifications/unread-count").json() == {"unread": 0}
    login(app_client, "li@a.example.com")
    assert app_client.get("/api/v1/notifications/unread-count").json() == {"unread": 3}
    items = app_client.get("/api/v1/notifications").json()["items"]
    assert len(items) == 3 and items[0]["kind"] == "ticket_warning"
    r = app_client.post("/api/v1/notifications/read", json={"ids": [items[0]["id"]]})
    assert r.json() == {"marked": 1, "unread": 2}
    assert len(app_client.get("/api/v1/notifications?unread=true").json()["items"]) == 2
    assert app_client.post("/api/v1/notifications/read", json={}).status_code == 422
    r = app_client.post("/api/v1/notifications/read", json={"all": True})
    assert r.json() == {"marked": 2, "unread": 0}
    # someone else's notice is not found
    login(app_client, "chen@a.example.com")
    r = app_client.post("/api/v1/notifications/read", json={"ids": [items[1]["id"]]})
    assert r.status_code == 404


def test_notifications_page_and_mark_all(app_client: TestClient, world: World,
                                         uows: UowFactory) -> None:
    notify(uows, world, 2)
    csrf = login(app_client, "li@a.example.com")
    page = app_client.get("/app/notifications?lang=en")
    assert page.status_code == 200
    assert page.text.count('class="nt-item nt-unread"') == 2
    assert "notifications.js" in page.text
    r = app_client.post("/app/notifications/read", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303
    assert app_client.get("/api/v1/notifications/unread-count").json() == {"unread": 0}
    app_client.cookies.clear()
    assert app_client.get("/app/notifications", follow_redirects=False).status_code == 303
