"""The ticket list page /app/tickets: rows, due colours, filters, sort, "more", gates."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from kefu.core.uow import UowFactory
from tests.conftest import T0, World, login
from tests.tickets.pages_helpers import make_template, make_ticket, set_sla, update


def _row(html: str, ticket_id: str) -> str:
    m = re.search(rf'<tr data-ticket-id="{ticket_id}".*?</tr>', html, re.S)
    assert m, f"no row for {ticket_id}"
    return m.group(0)


def _numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-ticket-id="[0-9a-f]+" data-number="(\d+)"',
                                       html)]


def test_list_rows_show_due_colour_and_time_left(app_client: TestClient, world: World,
                                                  uows: UowFactory) -> None:
    li = world.agent_li
    ok = make_ticket(uows, li, "发票抬头错了",
                     contact={"name": "钱先生", "email": "qian@example.com"})
    warn = make_ticket(uows, li, "退款没到账", priority="P1", tags=["退款"])
    late = make_ticket(uows, li, "快递丢件")
    paused = make_ticket(uows, li, "等客户补充照片")
    none = make_ticket(uows, li, "咨询发票")
    set_sla(uows, ok.id, status="ok", next_breach_at=T0 + timedelta(hours=2))
    set_sla(uows, warn.id, status="warning", next_breach_at=T0 + timedelta(minutes=20))
    set_sla(uows, late.id, status="breached", next_breach_at=T0 - timedelta(minutes=35))
    set_sla(uows, paused.id, status="paused", next_breach_at=None)
    set_sla(uows, none.id, status="none", next_breach_at=None)
    login(app_client, "li@a.example.com")

    r = app_client.get("/app/tickets?lang=zh-CN")
    assert r.status_code == 200
    html = r.text
    assert "tk-due-ok" in _row(html, ok.id) and "2 小时后到期" in _row(html, ok.id)
    assert "tk-due-warning" in _row(html, warn.id)
    assert "20 分钟后到期" in _row(html, warn.id)
    assert "tk-due-breached" in _row(html, late.id) and "已超期 35 分钟" in _row(html, late.id)
    assert "tk-due-paused" in _row(html, paused.id)
    assert "tk-due-none" in _row(html, none.id)
    # the local due time is in the workspace's zone (Asia/Shanghai: UTC+8)
    assert "11-11 12:00" in _row(html, ok.id)
    assert "钱先生" in _row(html, ok.id)
    assert "tk-prio-P1" in _row(html, warn.id) and "退款" in _row(html, warn.id)
    # time to breach: the breached one first, then by due time, then those without a clock
    assert _numbers(html)[:3] == [late.number, warn.number, ok.number]

    en = app_client.get("/app/tickets?lang=en").text
    assert "overdue 35 min" in _row(en, late.id)
    assert "due in 2 h" in _row(en, ok.id)


def test_filters_tabs_and_sorts(app_client: TestClient, world: World,
                                uows: UowFactory) -> None:
    li, chen = world.agent_li, world.agent_chen
    tpl = make_template(uows, world.ws_a)
    mine = make_ticket(uows, li, "我的工单", assignee_id=li.user_id, priority="P1",
                       tags=["vip"])
    other = make_ticket(uows, li, "陈的工单", assignee_id=chen.user_id, priority="P4")
    nobody = make_ticket(uows, li, "没人管的工单", template_id=tpl,
                         fields={"order_no": "E1"})
    done = make_ticket(uows, li, "已经解决的工单")
    update(uows, li, done.id, status="resolved")
    login(app_client, "li@a.example.com")

    todo = app_client.get("/app/tickets").text
    assert {mine.number, other.number, nobody.number} <= set(_numbers(todo))
    assert done.number not in _numbers(todo)
    assert _numbers(app_client.get("/app/tickets?tab=resolved").text) == [done.number]
    assert done.number in _numbers(app_client.get("/app/tickets?tab=all").text)
    assert _numbers(app_client.get("/app/tickets?assignee=me").text) == [mine.number]
    assert _numbers(app_client.get("/app/tickets?assignee=none").text) == [nobody.number]
    assert _numbers(app_client.get("/app/tickets?priority=P4").text) == [other.number]
    assert _numbers(app_client.get(f"/app/tickets?template={tpl}").text) == [nobody.number]
    assert _numbers(app_client.get("/app/tickets?tag=vip").text) == [mine.number]
    assert _numbers(app_client.get(f"/app/tickets?q=%23{other.number}").text) == [other.number]
    assert _numbers(app_client.get("/app/tickets?q=没人管").text) == [nobody.number]
    by_number = _numbers(app_client.get("/app/tickets?sort=number").text)
    assert by_number == sorted(by_number, reverse=True)
    by_priority = _numbers(app_client.get("/app/tickets?sort=priority").text)
    assert by_priority[0] == mine.number and by_priority[-1] == other.number
    # the chosen filters are kept in the form and the tabs
    page = app_client.get("/app/tickets?assignee=me&sort=created").text
    assert '<option value="me" selected>' in page
    assert '<option value="created" selected>' in page
    # junk parameters fall back to the defaults instead of failing
    assert app_client.get("/app/tickets?tab=zzz&sort=zzz&priority=P9&sla=x").status_code == 200


def test_more_pages_with_a_cursor(app_client: TestClient, world: World,
                                  uows: UowFactory, monkeypatch: object) -> None:
    from kefu.web.ui import tickets as pages

    monkeypatch.setattr(pages, "PER_PAGE", 2)  # type: ignore[attr-defined]
    made = [make_ticket(uows, world.agent_li, f"工单 {i}") for i in range(5)]
    login(app_client, "li@a.example.com")
    first = app_client.get("/app/tickets?sort=number").text
    assert _numbers(first) == [made[4].number, made[3].number]
    more = re.search(r'href="([^"]+)" id="tk-more"', first)
    assert more
    url = more.group(1).replace("&amp;", "&")
    second = app_client.get(url + "&partial=rows")
    assert second.status_code == 200 and "<html" not in second.text
    assert _numbers(second.text) == [made[2].number, made[1].number]
    assert "data-more-url" in second.text
    # a bad cursor is a clear 400 on the page, not a 500
    bad = app_client.get("/app/tickets?cursor=!!!")
    assert bad.status_code == 400 and 'id="form-error"' in bad.text


def test_gates_and_admin_links(app_client: TestClient, world: World) -> None:
    assert app_client.get("/app/tickets", follow_redirects=False).status_code == 303
    login(app_client, "li@a.example.com")
    page = app_client.get("/app/tickets").text
    assert 'id="nav-tk-new"' in page
    for admin in ("nav-tk-templates", "nav-tk-settings", "nav-tk-automation", "nav-tk-reports"):
        assert admin not in page
    login(app_client, "wang@a.example.com")
    page = app_client.get("/app/tickets").text
    for admin in ("nav-tk-templates", "nav-tk-settings", "nav-tk-automation", "nav-tk-reports"):
        assert admin in page
    # inspectors read tickets but cannot create them
    login(app_client, "sun@a.example.com")
    page = app_client.get("/app/tickets").text
    assert 'id="nav-tk-new"' not in page and 'id="tk-new-btn"' not in page
    assert app_client.get("/app/tickets/new").status_code == 403
