"""The new-ticket form and one ticket's page: per-field errors, the allowed status buttons,
the timeline, replies and notes, properties, watchers, relations, isolation."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.core.uow import UowFactory
from kefu.tickets.models import Ticket, TicketEvent
from tests.conftest import T0, World, login
from tests.tickets.pages_helpers import make_template, make_ticket, set_sla, update


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_new_ticket_form_shows_errors_per_field_then_creates(
        app_client: TestClient, world: World, uows: UowFactory) -> None:
    tpl = make_template(uows, world.ws_a, priority="P2")
    make_template(uows, world.ws_a, "停用的模板", active=False)
    login(app_client, "li@a.example.com")
    page = app_client.get(f"/app/tickets/new?template_id={tpl}&lang=zh-CN")
    assert page.status_code == 200
    html = page.text
    assert "售后工单" in html and "停用的模板" not in html
    assert 'name="f_order_no"' in html and 'name="f_amount"' in html
    assert 'type="date" id="tk-f-due_day"' in html
    assert 'type="checkbox" name="f_areas" value="包装"' in html
    assert '<option value="P2" selected>' in html  # the template's default priority
    csrf = _csrf(html)

    bad = app_client.post("/app/tickets/new", data={
        "csrf_token": csrf, "template_id": tpl, "subject": "退款没到账", "f_amount": "abc",
        "f_kind": "不存在", "priority": "P2"})
    assert bad.status_code == 422
    assert 'data-error-for="order_no"' in bad.text  # required
    assert 'data-error-for="amount"' in bad.text  # not a number
    assert 'data-error-for="kind"' in bad.text  # not an option
    assert 'value="退款没到账"' in bad.text  # what was typed is kept
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Ticket).where(Ticket.subject == "退款没到账")) is None

    empty = app_client.post("/app/tickets/new", data={"csrf_token": csrf, "template_id": tpl,
                                                      "subject": "  ", "f_order_no": "E1"})
    assert empty.status_code == 422 and 'data-error-for="subject"' in empty.text

    ok = app_client.post("/app/tickets/new", follow_redirects=False, data={
        "csrf_token": csrf, "template_id": tpl, "subject": "退款没到账", "f_order_no": "E2026",
        "f_amount": "１２３", "f_areas": ["包装", "快递"], "priority": "P1",
        "tags": "退款, 加急", "contact_name": "钱先生", "contact_email": "qian@example.com"})
    assert ok.status_code == 303, ok.text
    assert ok.headers["location"].endswith("?notice=created")
    with uows(readonly=True) as uow:
        t = uow.session.scalar(select(Ticket).where(Ticket.subject == "退款没到账"))
        assert t is not None
        assert t.fields["order_no"] == "E2026" and t.fields["areas"] == ["包装", "快递"]
        assert t.priority == "P1" and t.tags == ["退款", "加急"] and t.contact_id
    detail = app_client.get(ok.headers["location"])
    assert "工单已创建" in detail.text and "E2026" in detail.text and "钱先生" in detail.text

    # a bad CSRF token (a plain form post carries no header) changes nothing
    del app_client.headers["X-CSRF-Token"]
    forged = app_client.post("/app/tickets/new", data={"csrf_token": "nope", "subject": "假"})
    assert forged.status_code == 403
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Ticket).where(Ticket.subject == "假")) is None


def test_detail_shows_only_allowed_status_buttons_and_timeline(
        app_client: TestClient, world: World, uows: UowFactory) -> None:
    li = world.agent_li
    t = make_ticket(uows, li, "快递丢件", description="十一月十日下单，至今未到",
                    assignee_id=li.user_id)
    set_sla(uows, t.id, status="ok", next_breach_at=T0 + timedelta(hours=3))
    login(app_client, "li@a.example.com")
    html = app_client.get(f"/app/tickets/{t.id}?lang=zh-CN").text
    buttons = set(re.findall(r'data-status-to="(\w+)"', html))
    assert buttons == {"open", "pending", "resolved", "closed"}
    assert "十一月十日下单" in html and 'data-kind="created"' in html
    assert "3 小时后到期" in html

    update(uows, li, t.id, status="resolved", priority="P1")
    html = app_client.get(f"/app/tickets/{t.id}?lang=zh-CN").text
    assert set(re.findall(r'data-status-to="(\w+)"', html)) == {"open", "closed"}
    # the change line: who, old → new
    changed = re.findall(r'<li class="tk-ev [^"]*" data-seq="\d+" data-kind="changed".*?</li>\s*'
                         r'(?=<li class="tk-ev|</ol>)', html, re.S)
    assert changed
    text = " ".join(changed)
    assert "李晓月" in text and "已解决" in text and "P1" in text and "→" in text

    update(uows, li, t.id, status="closed")
    html = app_client.get(f"/app/tickets/{t.id}").text
    assert 'data-status-to="' not in html  # closed is final


def test_reply_note_and_properties_through_the_forms(
        app_client: TestClient, world: World, uows: UowFactory) -> None:
    t = make_ticket(uows, world.agent_li, "换货", contact={"email": "zhou@example.com"})
    login(app_client, "li@a.example.com")
    csrf = _csrf(app_client.get(f"/app/tickets/{t.id}").text)
    r = app_client.post(f"/app/tickets/{t.id}/reply", follow_redirects=False,
                        data={"csrf_token": csrf, "mode": "note", "body": "@陈子豪 帮看下库存"})
    assert r.status_code == 303 and "notice=noted" in r.headers["location"]
    r = app_client.post(f"/app/tickets/{t.id}/reply", follow_redirects=False,
                        data={"csrf_token": csrf, "mode": "reply", "body": "您好，已为您换货"})
    assert r.status_code == 303 and "notice=replied" in r.headers["location"]
    empty = app_client.post(f"/app/tickets/{t.id}/reply",
                            data={"csrf_token": csrf, "mode": "reply", "body": "  "})
    assert empty.status_code == 422 and 'id="form-error"' in empty.text
    html = app_client.get(f"/app/tickets/{t.id}").text
    assert re.search(r'data-kind="note" data-public="0".*?帮看下库存', html, re.S)
    assert re.search(r'data-kind="reply" data-public="1".*?已为您换货', html, re.S)
    # the first public reply opened the ticket
    with uows(readonly=True) as uow:
        row = uow.session.get(Ticket, t.id)
        assert row is not None and row.status == "open"
        kinds = uow.session.scalars(select(TicketEvent.kind).where(
            TicketEvent.ticket_id == t.id).order_by(TicketEvent.seq)).all()
        assert "note" in kinds and "reply" in kinds

    r = app_client.post(f"/app/tickets/{t.id}/update", follow_redirects=False, data={
        "csrf_token": csrf, "priority": "P1", "team_id": "",
        "assignee_id": world.agent_chen.user_id, "tags": "换货 加急"})
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        row = uow.session.get(Ticket, t.id)
        assert row is not None
        assert (row.priority, row.assignee_id, row.tags) == (
            "P1", world.agent_chen.user_id, ["换货", "加急"])
    # a transition that is not allowed is refused with the reason, nothing changed
    update(uows, world.agent_li, t.id, status="closed")
    bad = app_client.post(f"/app/tickets/{t.id}/update",
                          data={"csrf_token": csrf, "status": "pending"})
    assert bad.status_code == 422 and 'id="form-error"' in bad.text
    with uows(readonly=True) as uow:
        row = uow.session.get(Ticket, t.id)
        assert row is not None and row.status == "closed"


def test_watch_link_and_merge(app_client: TestClient, world: World, uows: UowFactory) -> None:
    a = make_ticket(uows, world.agent_chen, "重复反馈 1")
    b = make_ticket(uows, world.agent_chen, "重复反馈 2")
    login(app_client, "li@a.example.com")
    html = app_client.get(f"/app/tickets/{a.id}").text
    csrf = _csrf(html)
    assert 'id="tk-watch">关注<' in html or 'id="tk-watch">Watch<' in html
    r = app_client.post(f"/app/tickets/{a.id}/watchers", follow_redirects=False,
                        data={"csrf_token": csrf, "op": "add"})
    assert r.status_code == 303 and "notice=watched" in r.headers["location"]
    html = app_client.get(f"/app/tickets/{a.id}").text
    assert f'data-user-id="{world.agent_li.user_id}"' in html

    r = app_client.post(f"/app/tickets/{a.id}/links", follow_redirects=False,
                        data={"csrf_token": csrf, "other": f"#{b.number}"})
    assert r.status_code == 303
    assert f'data-other="{b.id}"' in app_client.get(f"/app/tickets/{a.id}").text
    missing = app_client.post(f"/app/tickets/{a.id}/links",
                              data={"csrf_token": csrf, "other": "#99999"})
    assert missing.status_code == 422

    self_merge = app_client.post(f"/app/tickets/{a.id}/merge",
                                 data={"csrf_token": csrf, "other": f"#{a.number}"})
    assert self_merge.status_code == 422 and 'id="form-error"' in self_merge.text
    r = app_client.post(f"/app/tickets/{a.id}/merge", follow_redirects=False,
                        data={"csrf_token": csrf, "other": str(b.number)})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/app/tickets/{b.id}")
    html = app_client.get(f"/app/tickets/{a.id}").text
    assert 'id="tk-merged-into"' in html and f"#{b.number}" in html


def test_other_workspace_ticket_is_a_404_page(app_client: TestClient, world: World,
                                              uows: UowFactory) -> None:
    theirs = make_ticket(uows, world.agent_b, "B 的工单")
    login(app_client, "li@a.example.com")
    r = app_client.get(f"/app/tickets/{theirs.id}")
    assert r.status_code == 404 and "B 的工单" not in r.text
    assert "<html" in r.text  # a page, not JSON
    csrf = _csrf(app_client.get("/app/tickets").text)
    for path in ("reply", "update", "watchers", "links", "merge", "split", "children"):
        r = app_client.post(f"/app/tickets/{theirs.id}/{path}",
                            data={"csrf_token": csrf, "body": "x", "status": "closed",
                                  "subject": "x", "other": "1"})
        assert r.status_code == 404, path
    with uows(readonly=True) as uow:
        row = uow.session.get(Ticket, theirs.id)
        assert row is not None and row.status == "new" and row.last_seq == 1
    # the sibling pages under /app/tickets/… are not taken for ticket ids
    assert app_client.get("/app/tickets/0123456789abcdef01234567").status_code == 404


def test_split_customer_lines_and_child_ticket(app_client: TestClient, world: World,
                                               uows: UowFactory) -> None:
    from kefu.tickets import actions

    t = make_ticket(uows, world.agent_li, "两个问题", contact={"email": "wu@example.com"})
    with uows() as uow:
        ev = actions.do_customer_reply(uow, t.id, contact_id=None, body="另外，发票也开错了",
                                       via="portal")
        seq = ev.seq
    login(app_client, "li@a.example.com")
    html = app_client.get(f"/app/tickets/{t.id}").text
    assert f'data-split-seq="{seq}"' in html and "另外，发票也开错了" in html
    csrf = _csrf(html)
    none = app_client.post(f"/app/tickets/{t.id}/split", data={"csrf_token": csrf})
    assert none.status_code == 422
    r = app_client.post(f"/app/tickets/{t.id}/split", follow_redirects=False,
                        data={"csrf_token": csrf, "seq": str(seq), "subject": "发票开错"})
    assert r.status_code == 303
    new_id = r.headers["location"].split("/")[3].split("?")[0]
    html = app_client.get(f"/app/tickets/{new_id}").text
    assert "发票开错" in html and "另外，发票也开错了" in html
    r = app_client.post(f"/app/tickets/{t.id}/children", follow_redirects=False,
                        data={"csrf_token": csrf, "subject": "请财务重开发票"})
    assert r.status_code == 303
    child_id = r.headers["location"].split("/")[3].split("?")[0]
    html = app_client.get(f"/app/tickets/{child_id}").text
    assert 'data-rel="parent"' in html and f"#{t.number}" in html
    assert 'data-rel="child"' in app_client.get(f"/app/tickets/{t.id}").text
