"""The /app/qa landing page and the rule, word pack and scorecard pages: who sees what, the
kind-specific editor, errors next to the fields with nothing stored, versions and restore,
the dry-run panel with highlighted hits, packs and scorecards forms."""

from __future__ import annotations

from sqlalchemy import func, select

from kefu.inbox import actions as inbox_actions
from kefu.qa import manage
from kefu.qa.models import QaRule, QaScorecard, QaWordPack
from tests.conftest import customer_says
from tests.web.test_ui_login import ui_login

PAGES = ("/app/qa/rules", "/app/qa/rules/new", "/app/qa/packs", "/app/qa/packs/new",
         "/app/qa/scorecards", "/app/qa/scorecards/new")


def rule_form(csrf: str, **over: object) -> dict[str, object]:
    data: dict[str, object] = {"csrf_token": csrf, "kind": "keyword", "key": "promise",
                               "name": "风险承诺", "terms": "保证\n一定", "mode": "any",
                               "n": "1", "within": "10", "exclude": "不能保证",
                               "scope": ["agent"], "deduction": "5", "cap": "",
                               "group": "合规", "enabled": "on", "alert": "on"}
    data.update(over)
    return data


def n_rows(uows, model) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_landing_page_links_follow_permissions(app_client, world):
    ui_login(app_client, "wang@a.example.com")
    page = app_client.get("/app/qa")
    assert page.status_code == 200
    for href in ("/app/qa/rules", "/app/qa/live", "/app/qa/review", "/app/qa/mine",
                 "/app/qa/reports"):
        assert f'href="{href}"' in page.text
    assert "质检" in page.text
    app_client.cookies.clear()
    ui_login(app_client, "li@a.example.com")  # an agent: only their own results
    page = app_client.get("/app/qa")
    assert page.status_code == 200
    assert 'href="/app/qa/mine"' in page.text and 'href="/app/qa/rules"' not in page.text
    assert 'href="/app/qa/review"' not in page.text
    for url in PAGES:
        assert app_client.get(url, follow_redirects=False).status_code == 403, url


def test_pages_render_for_admin_and_readonly_for_inspector(app_client, world):
    ui_login(app_client, "wang@a.example.com")
    for url in PAGES:
        r = app_client.get(url)
        assert r.status_code == 200, url
    rules = app_client.get("/app/qa/rules")
    assert 'id="qa-uses-defaults"' in rules.text and "risky_promise" in rules.text
    for kind, marker in (("regex", 'name="pattern"'), ("pii", 'name="kinds"'),
                         ("timing", 'name="seconds"'), ("sentiment", 'name="threshold"'),
                         ("wordpack", 'name="pack"'), ("combination", 'name="definition_json"')):
        r = app_client.get("/app/qa/rules/new", params={"kind": kind})
        assert r.status_code == 200 and marker in r.text, kind
    app_client.cookies.clear()
    ui_login(app_client, "sun@a.example.com")
    r = app_client.get("/app/qa/rules")
    assert r.status_code == 200 and 'id="readonly-badge"' in r.text
    assert 'id="qa-rule-new"' not in r.text
    assert app_client.get("/app/qa/rules/new").status_code == 403
    app_client.cookies.clear()
    assert app_client.get("/app/qa/rules", follow_redirects=False).status_code == 303


def test_bad_regex_shows_the_reason_and_stores_nothing(app_client, world, uows):
    csrf = ui_login(app_client, "wang@a.example.com")
    form = rule_form(csrf, kind="regex", key="re_bad", name="坏正则", pattern="(a+)+$",
                     exclude="")
    r = app_client.post("/app/qa/rules/new", data=form, follow_redirects=False)
    assert r.status_code == 422
    assert 'id="error-pattern"' in r.text and "catastrophic backtracking" in r.text
    assert 'value="(a+)+$"' in r.text  # the input is kept
    r = app_client.post("/app/qa/rules/new",
                        data=rule_form(csrf, kind="regex", key="re_bad2", name="x",
                                       pattern="[abc", exclude=""), follow_redirects=False)
    assert r.status_code == 422 and "unterminated character set" in r.text
    r = app_client.post("/app/qa/rules/new", data=rule_form(csrf, key="Bad Key", terms=""),
                        follow_redirects=False)
    assert r.status_code == 422
    assert 'id="error-key"' in r.text and 'id="error-terms"' in r.text
    assert n_rows(uows, QaRule) == 0
    r = app_client.post("/app/qa/rules/new", data=rule_form(""), follow_redirects=False)
    assert r.status_code == 403 and n_rows(uows, QaRule) == 0


def test_create_edit_restore_toggle_delete(app_client, world, uows):
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/qa/rules/new", data=rule_form(csrf, inbox_ids=[world.inbox_a]),
                        follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    page = app_client.get(url)
    assert page.status_code == 200 and "保证\n一定" in page.text and 'id="qa-versions"' in page.text
    r = app_client.post(url, data=rule_form(csrf, terms="包退", name="承诺2"),
                        follow_redirects=False)
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        row = uow.session.scalar(select(QaRule).where(QaRule.key == "promise"))
        assert row is not None and row.version == 2 and row.definition["terms"] == ["包退"]
        assert row.definition["alert"] is True and row.inbox_ids == []
        rid = row.id
    page = app_client.get(url)
    assert 'id="qa-restore-1"' in page.text
    r = app_client.post(f"{url}/versions/1/restore", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303
    listing = app_client.get("/app/qa/rules")
    assert 'data-rule-key="promise"' in listing.text and "官网客服" in listing.text
    r = app_client.post(f"{url}/toggle", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("notice=disabled")
    r = app_client.post(f"{url}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        row = uow.session.get(QaRule, rid)
        assert row is not None and row.deleted_at is not None and row.version == 5
        assert row.inbox_ids == [world.inbox_a]  # restored with v1
    assert app_client.get(url).status_code == 404
    app_client.cookies.clear()
    ui_login(app_client, "admin@b.example.com")  # another workspace: not there
    assert app_client.get(url).status_code == 404


def test_dry_run_panel_highlights_hits(app_client, world, uows):
    conv, _ = customer_says(uows, world.inbox_a, "能到吗")
    with uows() as uow:
        inbox_actions.do_agent_reply(uow, world.agent_li, conv, content="<i>我</i>保证明天到")
    csrf = ui_login(app_client, "wang@a.example.com")
    form = rule_form(csrf, days="7", dry_inbox="")
    r = app_client.post("/app/qa/rules/dry-run", data=form)
    assert r.status_code == 200
    assert 'id="dry-hit-conversations">1<' in r.text and 'id="dry-total-hits">1<' in r.text
    assert "&lt;i&gt;我&lt;/i&gt;<mark>保证</mark>明天到" in r.text
    r = app_client.post("/app/qa/rules/dry-run", data=rule_form(csrf, kind="regex",
                                                                pattern="(x*)*", exclude=""))
    assert r.status_code == 422 and 'id="error-pattern"' in r.text
    assert n_rows(uows, QaRule) == 0


def test_pack_and_scorecard_forms(app_client, world, uows):
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/qa/packs/new", data={"csrf_token": csrf, "name": "空",
                                                   "terms": "  \n ", "exclusions": ""},
                        follow_redirects=False)
    assert r.status_code == 422 and 'id="error-terms"' in r.text
    assert n_rows(uows, QaWordPack) == 0
    r = app_client.post("/app/qa/packs/new", data={"csrf_token": csrf, "name": "品牌",
                                                   "terms": "鲜果\n鲜果\n果园",
                                                   "exclusions": ""}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-pack="品牌"' in app_client.get("/app/qa/packs").text
    r = app_client.post("/app/qa/scorecards/new", data={
        "csrf_token": csrf, "name": "默认卡", "base": "0", "group_weights": "合规=-1",
        "item_risky_promise_cap": "-3"}, follow_redirects=False)
    assert r.status_code == 422
    assert 'id="error-base"' in r.text and 'id="error-items-risky_promise-cap"' in r.text
    assert n_rows(uows, QaScorecard) == 0
    r = app_client.post("/app/qa/scorecards/new", data={
        "csrf_token": csrf, "name": "默认卡", "base": "100", "group_weights": "合规=1.5",
        "is_default": "on", "item_risky_promise_deduction": "8",
        "item_risky_promise_fatal": "yes", "inbox_ids": [world.inbox_a]},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    with uows(readonly=True) as uow:
        (card,) = manage.list_scorecards(uow.session, world.admin_wang)
        assert card.items == {"risky_promise": {"deduction": 8.0, "fatal": True}}
        assert card.group_weights == {"合规": 1.5} and card.is_default
    page = app_client.get(f"/app/qa/scorecards/{card.id}")
    assert page.status_code == 200 and 'value="8.0"' in page.text


def test_every_default_rule_opens_in_the_editor(app_client, world, uows):
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/qa/rules/install-defaults", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        rows = manage.list_rules(uow.session, world.admin_wang)
    assert rows
    for row in rows:
        page = app_client.get(f"/app/qa/rules/{row.id}")
        assert page.status_code == 200, row.key
        assert f'value="{row.key}"' in page.text
    # a sentiment rule saved from its form keeps its fields (mode included)
    angry = next(r for r in rows if r.kind == "sentiment")
    form = rule_form(csrf, kind="sentiment", key=angry.key, name=angry.name, threshold="1.5",
                     mode="level", scope=["customer"])
    r = app_client.post(f"/app/qa/rules/{angry.id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    with uows(readonly=True) as uow:
        row = uow.session.get(QaRule, angry.id)
        assert row is not None and row.definition["threshold"] == 1.5
        assert row.definition["scope"] == ["customer"] and row.version == 2
