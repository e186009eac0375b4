"""Ticket reports checked against small hand-counted fixtures, plus the API and exports."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from kefu.accounts import actions as account_actions
from kefu.accounts.schemas import TeamCreate
from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.tickets import clocks
from kefu.tickets import reports as rep
from kefu.tickets.models import SlaPolicy, Ticket, TicketTemplate
from tests.conftest import T0, World, login

_numbers = count(1)


def add(uows: UowFactory, ws: str, *, created: datetime, status: str = "open",
        **kw: Any) -> str:
    with uows() as uow:
        # the outcome columns are what clocks.store derives from the clocks
        kw.update(clocks.outcomes(kw.get("sla")))
        t = Ticket(id=new_id(), workspace_id=ws, number=next(_numbers) + 1000,
                   subject=kw.pop("subject", "问题"), status=status, created_at=created,
                   updated_at=kw.pop("updated_at", created), **kw)
        uow.session.add(t)
        return t.id


def clock(*, breached: bool = False, stopped: bool = False) -> dict[str, Any]:
    at = T0.isoformat()
    return {"target_s": 3600, "elapsed_s": 0, "running_since": None if stopped else at,
            "paused_at": None, "due_at": None if stopped else at,
            "stopped_at": at if stopped else None, "breached_at": at if breached else None}


@pytest.fixture
def fx(uows: UowFactory, world: World) -> dict[str, str]:
    """Two teams, a policy, a template with a select field; tickets at known ages."""
    ws = world.ws_a
    with uows() as uow:
        ta = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(name="售后")).id
        tb = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(name="物流")).id
        pol = SlaPolicy(id=new_id(), workspace_id=ws, name="标准", created_at=T0, updated_at=T0)
        tpl = TicketTemplate(id=new_id(), workspace_id=ws, name="售后维修", created_at=T0,
                             updated_at=T0, fields=[
                                 {"key": "kind", "label": "问题类型", "type": "select",
                                  "options": [{"value": "screen", "label": "屏幕"},
                                              {"value": "battery", "label": "电池"}]},
                                 {"key": "note", "label": "备注", "type": "text"}])
        uow.session.add_all([pol, tpl])
    ids = {"ta": ta, "tb": tb, "pol": pol.id, "tpl": tpl.id}
    h = timedelta(hours=1)
    # backlog: team A: new 2 h old, open 2 d old, pending 5 d old; team B: open 10 d old;
    # no team: new 30 min old; resolved / closed ones do not count
    add(uows, ws, created=T0 - 2 * h, status="new", team_id=ta)
    add(uows, ws, created=T0 - 48 * h, status="open", team_id=ta,
        sla_policy_id=pol.id, assignee_id=world.agent_li.user_id,
        sla={"clocks": {"first_response": clock(stopped=True),
                        "resolution": clock(breached=True)}},
        first_response_at=T0 - 47 * h)
    add(uows, ws, created=T0 - 120 * h, status="pending", team_id=ta,
        sla_policy_id=pol.id, assignee_id=world.agent_li.user_id,
        sla={"clocks": {"first_response": clock(stopped=True, breached=True),
                        "resolution": clock()}},
        first_response_at=T0 - 110 * h)
    add(uows, ws, created=T0 - 240 * h, status="open", team_id=tb)
    add(uows, ws, created=T0 - timedelta(minutes=30), status="new")
    add(uows, ws, created=T0 - 72 * h + timedelta(minutes=1), status="resolved", team_id=tb,
        sla_policy_id=pol.id, assignee_id=world.agent_chen.user_id,
        sla={"clocks": {"first_response": clock(stopped=True),
                        "resolution": clock(stopped=True)}},
        first_response_at=T0 - 72 * h + timedelta(minutes=31),
        resolved_at=T0 - 20 * h, template_id=tpl.id, fields={"kind": "screen"})
    add(uows, ws, created=T0 - 30 * h, status="closed", team_id=tb,
        first_response_at=T0 - 25 * h, resolved_at=T0 - 5 * h, closed_at=T0 - 4 * h,
        template_id=tpl.id, fields={"kind": "screen"})
    add(uows, ws, created=T0 - 10 * h, status="new", template_id=tpl.id,
        fields={"kind": "battery"}, team_id=tb)
    add(uows, ws, created=T0 - 9 * h, status="new", template_id=tpl.id, fields={}, team_id=tb)
    # another workspace's ticket never shows
    add(uows, world.ws_b, created=T0 - h, status="new")
    return ids


def test_backlog_by_team_state_and_age(uows: UowFactory, world: World,
                                       fx: dict[str, str]) -> None:
    with uows() as uow:
        b = rep.backlog(uow.session, world.supervisor_zhao, now=T0)
    rows = {r.team_id: r for r in b.rows}
    assert rows[fx["ta"]].by_status == {"new": 1, "open": 1, "pending": 1}
    assert rows[fx["ta"]].by_age == {"lt1d": 1, "d1_3": 1, "d3_7": 1, "gt7d": 0}
    assert rows[fx["tb"]].by_status == {"new": 2, "open": 1, "pending": 0}
    assert rows[fx["tb"]].by_age == {"lt1d": 2, "d1_3": 0, "d3_7": 0, "gt7d": 1}
    assert rows[None].by_status == {"new": 1, "open": 0, "pending": 0}
    assert b.totals.total == 7
    assert [r.label for r in b.rows][:2] == ["售后", "物流"]  # 3 each: by name
    with uows() as uow:
        only_b = rep.backlog(uow.session, world.admin_wang, now=T0, team_id=fx["tb"])
        none = rep.backlog(uow.session, world.admin_wang, now=T0, team_id="none")
        tpl = rep.backlog(uow.session, world.admin_wang, now=T0, template_id=fx["tpl"])
    assert only_b.totals.total == 3 and none.totals.total == 1 and tpl.totals.total == 2


def test_sla_compliance_per_policy_team_and_agent(uows: UowFactory, world: World,
                                                  fx: dict[str, str]) -> None:
    since, until = T0 - timedelta(days=30), T0 + timedelta(hours=1)
    with uows() as uow:
        by_policy = rep.sla_compliance(uow.session, world.admin_wang, since=since, until=until)
        by_agent = rep.sla_compliance(uow.session, world.admin_wang, since=since, until=until,
                                      group_by="agent")
        by_team = rep.sla_compliance(uow.session, world.admin_wang, since=since, until=until,
                                     group_by="team")
        recent = rep.sla_compliance(uow.session, world.admin_wang,
                                    since=T0 - timedelta(days=3), until=until)
    [row] = by_policy.rows
    assert row.label == "标准" and row.tickets == 3
    fr, res = row.metrics["first_response"], row.metrics["resolution"]
    assert (fr.met, fr.breached, fr.running) == (2, 1, 0)
    assert (res.met, res.breached, res.running) == (1, 1, 1)
    assert row.all.as_dict() == {"met": 3, "breached": 2, "running": 1, "pct_met": 60.0}
    agents = {r.key: r.all for r in by_agent.rows}
    assert (agents[world.agent_li.user_id].met, agents[world.agent_li.user_id].breached) == (1, 2)
    assert agents[world.agent_chen.user_id].pct_met == 1.0
    assert by_agent.rows[0].key == world.agent_li.user_id  # worst first
    assert {r.label: r.tickets for r in by_team.rows} == {"售后": 2, "物流": 1}
    assert recent.totals.tickets == 2  # the 5-day-old one is outside the range
    with uows() as uow, pytest.raises(Invalid):
        rep.sla_compliance(uow.session, world.admin_wang, since=since, until=until,
                           group_by="inbox")


def test_time_distributions_and_percentiles(uows: UowFactory, world: World,
                                            fx: dict[str, str]) -> None:
    since, until = T0 - timedelta(days=30), T0 + timedelta(hours=1)
    with uows() as uow:
        fr = rep.distribution(uow.session, world.admin_wang, metric="first_response",
                              since=since, until=until)
        res = rep.distribution(uow.session, world.admin_wang, metric="resolution",
                               since=since, until=until)
    # first responses after 1 h, 10 h, 30 min, 5 h
    assert fr.n == 4
    assert dict(fr.buckets) == {"lt1h": 1, "h1_4": 1, "h4_24": 2, "d1_3": 0, "d3_7": 0,
                                "gt7d": 0}
    assert fr.p50_s == pytest.approx(3600, abs=1) and fr.p90_s == pytest.approx(36000, abs=1)
    assert fr.avg_s == pytest.approx((3600 + 36000 + 1800 + 18000) / 4, abs=1)
    # resolutions after 52 h - 1 min and 25 h
    assert res.n == 2 and dict(res.buckets)["d1_3"] == 2
    assert res.p50_s == pytest.approx(25 * 3600, abs=1)
    assert res.p90_s == pytest.approx(52 * 3600 - 60, abs=1)
    with uows() as uow:
        empty = rep.distribution(uow.session, world.admin_wang, metric="resolution",
                                 since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    assert empty.n == 0 and empty.p50_s is None


def test_top_categories_by_a_select_field(uows: UowFactory, world: World,
                                          fx: dict[str, str]) -> None:
    since, until = T0 - timedelta(days=30), T0 + timedelta(hours=1)
    with uows() as uow:
        c = rep.top_categories(uow.session, world.admin_wang, template_id=fx["tpl"],
                               field_key="kind", since=since, until=until)
    assert c.total == 4 and c.field_label == "问题类型"
    assert [(r.value, r.label, r.count) for r in c.rows] == [
        ("screen", "屏幕", 2), ("battery", "电池", 1), (None, "", 1)]
    assert c.rows[0].share == 0.5
    with uows() as uow:
        with pytest.raises(Invalid):
            rep.top_categories(uow.session, world.admin_wang, template_id=fx["tpl"],
                               field_key="note", since=since, until=until)
        with pytest.raises(NotFound):
            rep.top_categories(uow.session, world.admin_b, template_id=fx["tpl"],
                               field_key="kind", since=since, until=until)


def test_daily_trend_in_the_workspace_timezone(uows: UowFactory, world: World,
                                               fx: dict[str, str]) -> None:
    zone = rep.workspace_zone(uows().session, world.ws_a)
    since, until = rep.local_range((T0 - timedelta(days=2)).date(), T0.date(), zone)
    with uows() as uow:
        pts = rep.trend(uow.session, world.admin_wang, since=since, until=until, zone=zone)
    got = {p.day.isoformat(): (p.created, p.resolved) for p in pts}
    # T0 is 10:00 on 11-11 in Shanghai: created 2 h, 30 min, 10 h, 9 h ago → 11-11 (4);
    # 30 h ago → 11-10 04:00 local; 48 h → 11-09; resolved 20 h (11-10 14:00), 5 h (11-11)
    assert got == {"2026-11-09": (1, 0), "2026-11-10": (1, 1), "2026-11-11": (4, 1)}


def test_reports_need_permission(uows: UowFactory, world: World) -> None:
    with uows() as uow, pytest.raises(PermissionDenied):
        rep.backlog(uow.session, world.agent_li, now=T0)


# -- API and export ------------------------------------------------------------------------------

def test_api_and_bad_parameters(app_client: TestClient, world: World,
                                fx: dict[str, str]) -> None:
    login(app_client, "zhao@a.example.com")
    r = app_client.get("/api/v1/ticket-reports/backlog")
    assert r.status_code == 200 and r.json()["totals"]["total"] == 7
    r = app_client.get("/api/v1/ticket-reports/sla", params={"group_by": "team", "days": "30"})
    assert r.status_code == 200
    assert {x["label"]: x["tickets"] for x in r.json()["rows"]} == {"售后": 2, "物流": 1}
    r = app_client.get("/api/v1/ticket-reports/times")
    assert r.json()["first_response"]["n"] == 4 and r.json()["first_response"]["time"] == "wall"
    r = app_client.get("/api/v1/ticket-reports/categories",
                       params={"template_id": fx["tpl"], "field": "kind"})
    assert [x["count"] for x in r.json()["rows"]] == [2, 1, 1]
    assert len(app_client.get("/api/v1/ticket-reports/trend",
                              params={"days": "7"}).json()["items"]) == 7
    for params, code in (({"since": "2026-13-01"}, "ticket_report_bad_date"),
                         ({"days": "0"}, "ticket_report_bad_number"),
                         ({"since": "2026-11-10", "until": "2026-11-01"},
                          "ticket_report_bad_range"),
                         ({"group_by": "inbox"}, "ticket_report_bad_group"),
                         ({"team_id": "nope"}, "ticket_report_bad_team")):
        r = app_client.get("/api/v1/ticket-reports/sla", params=params)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, params
    r = app_client.get("/api/v1/ticket-reports/categories")
    assert r.json()["error"]["code"] == "ticket_report_need_field"
    r = app_client.get("/api/v1/ticket-reports/export", params={"report": "nope"})
    assert r.json()["error"]["code"] == "ticket_report_bad_report"
    login(app_client, "li@a.example.com")
    assert app_client.get("/api/v1/ticket-reports/backlog").status_code == 403


def test_csv_and_xlsx_exports(app_client: TestClient, world: World,
                              fx: dict[str, str]) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.get("/api/v1/ticket-reports/export",
                       params={"report": "backlog", "format": "csv", "lang": "zh-CN"})
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["团队", "新建", "处理中", "等待中", "合计"]
    assert ["售后", "1", "1", "1", "3"] in rows and rows[-1] == ["合计", "4", "2", "1", "7"]
    r = app_client.get("/api/v1/ticket-reports/export",
                       params={"report": "categories", "format": "xlsx", "lang": "en",
                               "template_id": fx["tpl"], "field": "kind"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == ["问题类型", "Count", "Share"]
    assert values[1] == ["屏幕", 2, "50.0%"] and values[3] == ["(empty)", 1, "25.0%"]
    r = app_client.get("/api/v1/ticket-reports/export",
                       params={"report": "sla", "format": "csv", "days": "30"})
    sla_rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sla_rows[1][:6] == ["标准", "3", "3", "2", "1", "60.0%"]
    for report in ("backlog_age", "first_response", "resolution", "trend"):
        r = app_client.get("/api/v1/ticket-reports/export",
                           params={"report": report, "format": "xlsx"})
        assert r.status_code == 200 and r.content[:2] == b"PK", report


def test_reports_page_renders_tables_and_charts(app_client: TestClient, world: World,
                                                fx: dict[str, str]) -> None:
    login(app_client, "zhao@a.example.com")
    r = app_client.get("/app/tickets/reports?lang=en")
    assert r.status_code == 200
    html = r.text
    for part in ('id="tk-backlog-table"', 'id="tk-sla-table"', 'id="tk-categories-table"',
                 'id="tk-trend-chart"', "<svg", "屏幕", "/api/v1/ticket-reports/export?"):
        assert part in html, part
    r = app_client.get("/app/tickets/reports?since=bad")
    assert r.status_code == 200 and 'id="form-error"' in r.text
    login(app_client, "li@a.example.com")
    assert app_client.get("/app/tickets/reports").status_code == 403
