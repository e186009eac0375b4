"""QA reports over HTTP: the JSON routes, CSV (BOM) and XLSX export, the page with its
chart containers and numbers, the drill-down with highlighted hits, and bad parameters."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.conftest import login
from tests.qa.test_queries import data  # noqa: F401 - fixture

RANGE = "since=2026-11-01&until=2026-11-11"


@pytest.fixture
def boss(app_client, world):
    login(app_client, "zhao@a.example.com")
    return app_client


def test_summary_rules_trend(boss, world, data):  # noqa: F811
    r = boss.get(f"/api/v1/qa/reports/summary?{RANGE}&group_by=agent")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range"] == {"since": "2026-11-01", "until": "2026-11-11", "days": 11,
                             "timezone": "Asia/Shanghai"}
    rows = {row["key"]: row for row in body["rows"]}
    assert rows[world.agent_li.user_id] == {
        "key": world.agent_li.user_id, "label": "李晓月", "inspections": 2, "avg_score": 80.0,
        "min_score": 70.0, "fatal_count": 0, "hit_count": 3, "hits_per_conversation": 1.5}
    assert body["totals"]["inspections"] == 4 and body["totals"]["avg_score"] == 65.0
    # the default range is the last 30 local days, which reaches the 20 Oct conversation
    assert boss.get("/api/v1/qa/reports/summary").json()["totals"]["inspections"] == 5
    assert boss.get("/api/v1/qa/reports/summary?days=7").json()["totals"]["inspections"] == 3

    rules = boss.get(f"/api/v1/qa/reports/rules?{RANGE}").json()["items"]
    assert [(x["rule_key"], x["hits"], x["conversations"], x["share"]) for x in rules] == [
        ("promise", 3, 2, 0.75), ("pii", 1, 1, 0.25)]

    trend = boss.get(f"/api/v1/qa/reports/trend?{RANGE}&bucket=week").json()
    assert [(p["start"], p["inspections"], p["avg_score"]) for p in trend["items"]] == [
        ("2026-10-26", 0, None), ("2026-11-02", 2, 50.0), ("2026-11-09", 2, 80.0)]
    days = boss.get(f"/api/v1/qa/reports/trend?{RANGE}").json()["items"]
    assert len(days) == 11 and days[9] == {"start": "2026-11-10", "inspections": 2,
                                           "avg_score": 80.0, "fatal": 0}


def test_drill_down_api(boss, world, data):  # noqa: F811
    r = boss.get(f"/api/v1/qa/reports/drill-down?{RANGE}&rule_key=promise&limit=1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    item = body["items"][0]
    assert item["inspection_id"] == data.ids["c2"] and item["agent_name"] == "李晓月"
    assert item["url"] == f"/app/qa/inspections/{data.ids['c2']}"
    hit = item["hits"][0]
    assert hit["excerpt"][hit["span"][0]:hit["span"][1]] == "一定"
    day = boss.get(f"/api/v1/qa/reports/drill-down?{RANGE}&day=2026-11-08&fatal=true").json()
    assert [x["inspection_id"] for x in day["items"]] == [data.ids["c3"]]
    nobody = boss.get(f"/api/v1/qa/reports/drill-down?{RANGE}&agent_id=none").json()
    assert [x["inspection_id"] for x in nobody["items"]] == [data.ids["c4"]]


@pytest.mark.parametrize(("query", "code"), [
    ("since=2026-11-10&until=2026-11-01", "qa_report_bad_range"),
    ("since=2025-01-01&until=2026-11-01", "qa_report_range_too_long"),
    ("group_by=customer", "qa_report_bad_group_by"),
    ("bucket=month", "qa_report_bad_bucket"),
    ("since=2026-13-01", "qa_report_bad_date"),
    ("days=0", "qa_report_bad_number"),
    ("days=abc", "qa_report_bad_number"),
    ("fatal=maybe", "qa_report_bad_flag"),
    ("limit=999", "qa_report_bad_number"),
])
def test_bad_parameters_are_422(boss, data, query, code):  # noqa: F811
    for route in ("summary", "rules", "trend", "drill-down", "export"):
        r = boss.get(f"/api/v1/qa/reports/{route}?{query}")
        assert r.status_code == 422, (route, r.text)
        assert r.json()["error"]["code"] == code


def test_export_bad_format_and_report(boss, data):  # noqa: F811
    r = boss.get("/api/v1/qa/reports/export?format=pdf")
    assert r.status_code == 422 and r.json()["error"]["code"] == "qa_report_bad_format"
    r = boss.get("/api/v1/qa/reports/export?report=everything")
    assert r.status_code == 422 and r.json()["error"]["code"] == "qa_report_bad_report"


def test_requires_login_and_permission(app_client, world, data):  # noqa: F811
    r = app_client.get(f"/api/v1/qa/reports/summary?{RANGE}")
    assert r.status_code == 401
    page = app_client.get("/app/qa/reports", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/app/login")


def test_agents_see_only_their_own(app_client, world, data):  # noqa: F811
    login(app_client, "chen@a.example.com")
    body = app_client.get(f"/api/v1/qa/reports/summary?{RANGE}"
                          f"&agent_id={world.agent_li.user_id}").json()
    assert [r["key"] for r in body["rows"]] == [world.agent_chen.user_id]
    assert body["totals"]["fatal_count"] == 1
    drill = app_client.get(f"/api/v1/qa/reports/drill-down?{RANGE}&rule_key=promise").json()
    assert drill["total"] == 0
    page = app_client.get(f"/app/qa/reports?{RANGE}")
    assert page.status_code == 200
    assert 'id="qa-own-only"' in page.text and "李晓月" not in page.text


def test_other_workspace_sees_none_of_it(app_client, world, data):  # noqa: F811
    login(app_client, "admin@b.example.com")
    body = app_client.get(f"/api/v1/qa/reports/summary?{RANGE}").json()
    assert [(r["label"], r["inspections"]) for r in body["rows"]] == [("Agent B", 1)]
    drill = app_client.get(f"/api/v1/qa/reports/drill-down?{RANGE}").json()
    assert [x["inspection_id"] for x in drill["items"]] == [data.ids["b1"]]
    page = app_client.get(f"/app/qa/reports?{RANGE}&drill=all")
    assert data.ids["c1"] not in page.text and data.ids["b1"] in page.text


def test_csv_export_has_bom_and_rows(boss, world, data):  # noqa: F811
    r = boss.get(f"/api/v1/qa/reports/export?{RANGE}&report=agents&format=csv&lang=zh-CN")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        'attachment; filename="qa-agents-2026-11-01_2026-11-11.csv"')
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["坐席", "质检会话", "平均分"]
    assert ["陈子豪", "1", "0", "0", "1", "1", "1"] in rows
    assert ["李晓月", "2", "80", "70", "0", "3", "1.5"] in rows
    assert ["未分配", "1", "100", "100", "0", "0", "0"] in rows
    assert rows[-1] == ["合计", "4", "65", "0", "1", "4", "1"]

    en = boss.get(f"/api/v1/qa/reports/export?{RANGE}&report=rules&format=csv&lang=en")
    rows = list(csv.reader(io.StringIO(en.content.decode("utf-8-sig"))))
    assert rows[0] == ["Rule key", "Rule", "Kind", "Hits", "Conversations", "Share"]
    assert rows[1] == ["promise", "规则 promise", "keyword", "3", "2", "75.0%"]

    ins = boss.get(f"/api/v1/qa/reports/export?{RANGE}&report=inspections&format=csv"
                   "&rule_key=promise")
    rows = list(csv.reader(io.StringIO(ins.content.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert rows[1][1:3] == [data.conv["c2"], "李晓月"]
    assert "【一定】" in rows[1][9] and "【保证】" in rows[1][9]
    assert rows[1][10] == f"/app/qa/inspections/{data.ids['c2']}"


def test_xlsx_export_opens(boss, world, data):  # noqa: F811
    import openpyxl

    r = boss.get(f"/api/v1/qa/reports/export?{RANGE}&report=trend&format=xlsx&bucket=week")
    assert r.status_code == 200
    assert r.headers["content-disposition"].endswith('qa-trend-2026-11-01_2026-11-11.xlsx"')
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    ws = wb.active
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    assert rows[0][1:] == ["质检会话", "平均分", "致命项"]
    assert rows[1:] == [["2026-10-26", 0, None, 0], ["2026-11-02", 2, 50, 1],
                        ["2026-11-09", 2, 80, 0]]
    agents = openpyxl.load_workbook(io.BytesIO(boss.get(
        f"/api/v1/qa/reports/export?{RANGE}&report=agents&format=xlsx&group_by=team").content))
    values = [list(row) for row in agents.active.iter_rows(values_only=True)]
    assert ["售后组", 2, 80, 70, 0, 3, 1.5] in values


def test_page_renders_charts_and_numbers(boss, world, data):  # noqa: F811
    r = boss.get(f"/app/qa/reports?{RANGE}&lang=zh-CN")
    assert r.status_code == 200, r.text
    html = r.text
    for marker in ('id="qa-trend-chart"', 'id="qa-groups-chart"', 'id="qa-rules-chart"',
                   'id="qa-report-data"', "qa_reports.js", "qa_reports.css"):
        assert marker in html
    kpis = re.search(r'id="qa-kpis">(.*?)</section>', html, re.S)
    assert kpis is not None
    nums = re.findall(r'class="qa-kpi-num">([^<]*)<', kpis.group(1))
    assert nums == ["4", "65.0", "1", "1.00"]
    blob = re.search(r'id="qa-report-data">(.*?)</script>', html, re.S)
    assert blob is not None
    chart = json.loads(blob.group(1))
    assert [g["label"] for g in chart["groups"]] == ["陈子豪", "李晓月", "未分配"]
    assert [g["value"] for g in chart["groups"]] == [0.0, 80.0, 100.0]
    assert chart["rules"][0] == {"label": "规则 promise", "value": 3,
                                 "href": chart["rules"][0]["href"]}
    assert "d_rule=promise" in chart["rules"][0]["href"]
    assert len(chart["trend"]) == 11
    assert "/api/v1/qa/reports/export?" in html and "format=xlsx" in html
    assert 'id="qa-drill-hint"' in html


def test_page_drill_down_highlights(boss, world, data):  # noqa: F811
    r = boss.get(f"/app/qa/reports?{RANGE}&d_rule=promise")
    assert r.status_code == 200
    assert 'id="qa-drill-table"' in r.text
    assert "<mark>保证</mark>" in r.text and "<mark>一定</mark>" in r.text
    assert f'href="/app/qa/inspections/{data.ids["c2"]}"' in r.text
    assert data.ids["c3"] not in r.text
    frag = boss.get(f"/app/qa/reports/drill?{RANGE}&d_fatal=true&d_agent="
                    f"{world.agent_chen.user_id}")
    assert frag.status_code == 200
    assert "<html" not in frag.text and "<mark>13812345678</mark>" in frag.text
    assert "陈子豪" in frag.text
    bad = boss.get("/app/qa/reports/drill?d_day=yesterday")
    assert bad.status_code == 422 and 'id="drill-error"' in bad.text


def test_page_bad_parameters_show_an_error(boss, data):  # noqa: F811
    r = boss.get("/app/qa/reports?since=2026-11-10&until=2026-11-01&group_by=x")
    assert r.status_code == 200
    assert 'id="form-error"' in r.text and 'id="qa-trend-chart"' in r.text
    en = boss.get("/app/qa/reports?days=999&lang=en")
    assert "The range" in en.text or "days must be" in en.text
