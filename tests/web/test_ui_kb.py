"""Knowledge-center pages: read-only for agents, forms for writers (CSRF, errors next to the
form with the input kept), the workspace's time zone, history / diff / rollback, categories,
the dictionary, and escaping of whatever editors type."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from kefu.kb import actions as kb_actions
from kefu.kb.schemas import CategoryCreate, EntryCreate, EntryUpdate, SmallTalkCreate
from tests.conftest import World
from tests.web.test_ui_login import ui_login

PAGES = ["/app/kb", "/app/kb/categories", "/app/kb/dictionary"]
NOWHERE = "000000000000000000000000"


def _entry(uows, actor, **over) -> str:
    data = {"question": "怎么申请退货", "answer": "在订单页点“申请售后”。", "status": "published",
            **over}
    with uows() as uow:
        return kb_actions.do_create_entry(uow, actor, EntryCreate.model_validate(data)).id


def _form(csrf: str, **over: object) -> dict[str, object]:
    return {"csrf_token": csrf, "question": "怎么申请退货", "phrasings": "如何退货\r\n我想退货\r\n",
            "answer": "在订单页点“申请售后”。", "answer_web": "", "answer_wechat": "",
            "answer_email": "", "keywords": "", "tags": "", "category_id": "",
            "status": "published", "valid_from": "", "valid_until": "", "note": "", **over}


@pytest.mark.parametrize("path", PAGES)
def test_writers_see_forms(app_client: TestClient, world: World, path: str) -> None:
    ui_login(app_client, "wang@a.example.com")
    r = app_client.get(path)
    assert r.status_code == 200
    assert 'id="nav-kb"' in r.text
    assert "readonly-badge" not in r.text
    assert 'method="post"' in r.text and 'name="csrf_token"' in r.text


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("email", ["li@a.example.com", "sun@a.example.com"])
def test_agents_and_inspectors_read_without_forms(app_client: TestClient, uows, world: World,
                                                  path: str, email: str) -> None:
    entry = _entry(uows, world.admin_wang)
    with uows() as uow:
        kb_actions.do_create_category(uow, world.admin_wang, CategoryCreate(name="售后"))
        kb_actions.do_create_smalltalk(uow, world.admin_wang, SmallTalkCreate(
            phrasings=["你好"], reply="您好"))
    ui_login(app_client, email)
    r = app_client.get(path)
    assert r.status_code == 200
    assert 'id="nav-kb"' in r.text
    assert "readonly-badge" in r.text
    assert 'method="post" action="/app/kb' not in r.text
    assert "/app/kb/new" not in r.text
    page = app_client.get(f"/app/kb/entries/{entry}")
    assert page.status_code == 200
    assert "怎么申请退货" in page.text
    assert "/edit" not in page.text and "/rollback" not in page.text


def test_agents_get_403_for_forms_and_posts(app_client: TestClient, uows, world: World) -> None:
    entry = _entry(uows, world.admin_wang)
    csrf = ui_login(app_client, "li@a.example.com")
    assert app_client.get("/app/kb/new").status_code == 403
    assert app_client.get(f"/app/kb/entries/{entry}/edit").status_code == 403
    for path, data in [
        ("/app/kb/entries", _form(csrf, question="坐席偷偷建的")),
        (f"/app/kb/entries/{entry}", _form(csrf, answer="坐席偷偷改的")),
        (f"/app/kb/entries/{entry}/delete", {"csrf_token": csrf}),
        (f"/app/kb/entries/{entry}/rollback", {"csrf_token": csrf, "version": "1"}),
        ("/app/kb/categories", {"csrf_token": csrf, "name": "影子分类"}),
        ("/app/kb/synonyms", {"csrf_token": csrf, "kind": "synonym", "terms": "a=b"}),
        ("/app/kb/smalltalk", {"csrf_token": csrf, "phrasings": "在吗", "reply": "在"}),
    ]:
        r = app_client.post(path, data=data, follow_redirects=False)
        assert r.status_code == 403, path
    api = app_client.get(f"/api/v1/kb/entries/{entry}").json()
    assert (api["version"], api["answer"]) == (1, "在订单页点“申请售后”。")
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 1
    assert app_client.get("/api/v1/kb/categories").json() == []


def test_nav_link_only_with_kb_read(app_client: TestClient, world: World) -> None:
    r = app_client.get("/docs")
    assert 'id="nav-kb"' not in r.text  # not logged in
    ui_login(app_client, "li@a.example.com")
    assert 'href="/app/kb"' in app_client.get("/app").text
    assert app_client.get("/app/kb", follow_redirects=False).status_code == 200


def test_logged_out_goes_to_login(app_client: TestClient) -> None:
    r = app_client.get("/app/kb/categories", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/app/login?next=/app/kb/categories"


def test_create_entry_through_the_form(app_client: TestClient, uows, world: World) -> None:
    with uows() as uow:
        cat = kb_actions.do_create_category(uow, world.admin_wang, CategoryCreate(name="售后"))
        sub = kb_actions.do_create_category(uow, world.admin_wang, CategoryCreate(
            name="退货", parent_id=cat.id)).id
    other = _entry(uows, world.admin_wang, question="退货运费谁出")
    csrf = ui_login(app_client, "wang@a.example.com")
    form = app_client.get("/app/kb/new")
    assert form.status_code == 200
    assert "售后/退货" in form.text  # the category select shows paths
    assert "退货运费谁出" in form.text  # related entries to pick
    assert "王店长" in form.text  # the owner
    r = app_client.post("/app/kb/entries", data=_form(
        csrf, answer_wechat="微信里点“我的订单”。", keywords="退货, 退换", tags="双11，售后",
        category_id=sub, related_ids=[other], valid_from="2026-11-11T00:00",
        valid_until="2026-11-12T00:00", note="首版"), follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/app/kb/entries/\w+\?notice=created", location)
    entry_id = location.split("/")[-1].split("?")[0]
    api = app_client.get(f"/api/v1/kb/entries/{entry_id}").json()
    assert api["phrasings"] == ["如何退货", "我想退货"]
    assert api["channel_answers"] == {"wechat": "微信里点“我的订单”。"}
    assert (api["keywords"], api["tags"]) == (["退货", "退换"], ["双11", "售后"])
    assert (api["category_id"], api["related_ids"]) == (sub, [other])
    # local times in the workspace's zone (Asia/Shanghai)
    assert datetime.fromisoformat(api["valid_from"]) == datetime(2026, 11, 10, 16, tzinfo=UTC)
    assert datetime.fromisoformat(api["valid_until"]) == datetime(2026, 11, 11, 16, tzinfo=UTC)
    page = app_client.get(location)
    assert "已创建" in page.text
    assert "2026-11-11 00:00" in page.text and "Asia/Shanghai" in page.text
    assert "售后/退货" in page.text and "退货运费谁出" in page.text
    assert "首版" in page.text  # the version note
    edit = app_client.get(f"/app/kb/entries/{entry_id}/edit")
    assert 'value="2026-11-11T00:00"' in edit.text
    assert f'<option value="{sub}" selected>' in edit.text
    # moving the start by a day: the diff shows local times, and nothing else changed
    r = app_client.post(f"/app/kb/entries/{entry_id}", data=_form(
        csrf, answer_wechat="微信里点“我的订单”。", keywords="退货, 退换", tags="双11，售后",
        category_id=sub, related_ids=[other], valid_from="2026-11-12T00:00",
        valid_until="2026-11-12T00:00"), follow_redirects=False)
    assert r.status_code == 422  # until must be after from
    r = app_client.post(f"/app/kb/entries/{entry_id}", data=_form(
        csrf, answer_wechat="微信里点“我的订单”。", keywords="退货, 退换", tags="双11，售后",
        category_id=sub, related_ids=[other], valid_from="2026-11-11T08:00",
        valid_until="2026-11-12T00:00"), follow_redirects=False)
    assert r.status_code == 303, r.text
    page = app_client.get(f"/app/kb/entries/{entry_id}")
    assert 'data-field="valid_from"' in page.text
    assert '<span class="diff-line diff-del">-2026-11-11 00:00</span>' in page.text
    assert '<span class="diff-line diff-add">+2026-11-11 08:00</span>' in page.text
    assert page.text.count('class="kb-diff-field"') == 1


def test_refused_form_keeps_input_and_shows_the_error(app_client: TestClient,
                                                      world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/kb/entries", data=_form(
        csrf, question="😀😀🎉", answer="保留我的答案", tags="保留的标签"))
    assert r.status_code == 422
    assert 'id="error-question"' in r.text
    assert "需要包含文字" in r.text
    assert "保留我的答案</textarea>" in r.text
    assert 'value="保留的标签"' in r.text
    assert re.search(r'<textarea name="phrasings"[^>]*>如何退货\r?\n我想退货', r.text)

    r = app_client.post("/app/kb/entries", data=_form(csrf, valid_from="明天"))
    assert r.status_code == 422
    assert 'id="error-valid_from"' in r.text and 'value="明天"' in r.text

    r = app_client.post("/app/kb/entries", data=_form(csrf, valid_from="2026-11-12T00:00",
                                                      valid_until="2026-11-11T00:00"))
    assert r.status_code == 422
    assert 'id="error-valid_until"' in r.text

    r = app_client.post("/app/kb/entries", data=_form(csrf, question="问" * 10_000))
    assert r.status_code == 422
    assert 'id="error-question"' in r.text and "标准问题" in r.text

    r = app_client.post("/app/kb/entries?lang=en", data=_form(csrf, question="🎉"))
    assert r.status_code == 422
    assert "needs words" in r.text and 'lang="en"' in r.text
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 0


def test_form_post_without_csrf_is_refused(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "wang@a.example.com")
    data = _form("")
    del data["csrf_token"]
    assert app_client.post("/app/kb/entries", data=data).status_code == 403
    assert app_client.post("/app/kb/entries", data=_form("forged")).status_code == 403
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 0


def test_html_is_shown_escaped(app_client: TestClient, uows, world: World) -> None:
    evil_q = "<script>alert('q')</script>怎么退货"
    evil_a = "<img src=x onerror=alert(1)><b>粗体</b>\n<script>alert('a')</script>"
    entry = _entry(uows, world.admin_wang, question=evil_q, answer=evil_a,
                   phrasings=["<i>退</i>货"], tags=["<b>t</b>"])
    with uows() as uow:
        kb_actions.do_update_entry(uow, world.admin_wang, entry,
                                   EntryUpdate(answer=evil_a + "<svg onload=x>"))
        kb_actions.do_create_smalltalk(uow, world.admin_wang, SmallTalkCreate(
            phrasings=["<script>hi</script>你好"], reply="<script>alert('r')</script>您好"))
    ui_login(app_client, "li@a.example.com")
    for path in ["/app/kb", f"/app/kb/entries/{entry}", f"/app/kb/entries/{entry}?a=1&b=2",
                 "/app/kb/dictionary"]:
        text = app_client.get(path).text
        assert "<script>alert" not in text and "<script>hi" not in text, path
        assert "<img src=x" not in text and "<svg onload" not in text, path
        assert "<b>" not in text and "<i>" not in text, path
    page = app_client.get(f"/app/kb/entries/{entry}").text
    assert "&lt;script&gt;alert(&#39;q&#39;)&lt;/script&gt;怎么退货" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;svg onload=x&gt;" in page  # in the diff
    assert "&lt;script&gt;alert(&#39;r&#39;)" in app_client.get("/app/kb/dictionary").text


def test_edit_history_diff_and_rollback(app_client: TestClient, uows, world: World) -> None:
    entry = _entry(uows, world.admin_wang, answer="第一行\n旧的第二行")
    csrf = ui_login(app_client, "zhao@a.example.com")
    edit = app_client.get(f"/app/kb/entries/{entry}/edit")
    assert edit.status_code == 200
    assert "旧的第二行</textarea>" in edit.text
    assert "王店长" in edit.text  # the owner stays the creator
    r = app_client.post(f"/app/kb/entries/{entry}", data=_form(
        csrf, phrasings="", answer="第一行\n新的第二行", note="改第二行"),
        follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/app/kb/entries/{entry}?notice=saved"
    api = app_client.get(f"/api/v1/kb/entries/{entry}").json()
    assert (api["version"], api["answer"]) == (2, "第一行\n新的第二行")

    page = app_client.get(f"/app/kb/entries/{entry}")
    assert page.status_code == 200
    assert 'data-version="2"' in page.text and 'data-version="1"' in page.text
    assert "改第二行" in page.text and "赵主管" in page.text
    assert '<span class="diff-line diff-del">-旧的第二行</span>' in page.text
    assert '<span class="diff-line diff-add">+新的第二行</span>' in page.text
    assert '<span class="diff-line diff-ctx"> 第一行</span>' in page.text
    same = app_client.get(f"/app/kb/entries/{entry}?a=2&b=2")
    assert 'id="kb-diff-same"' in same.text

    r = app_client.post(f"/app/kb/entries/{entry}/rollback",
                        data={"csrf_token": csrf, "version": "1"}, follow_redirects=False)
    assert r.status_code == 303
    api = app_client.get(f"/api/v1/kb/entries/{entry}").json()
    assert (api["version"], api["answer"]) == (3, "第一行\n旧的第二行")
    assert "已回滚" in app_client.get(r.headers["location"]).text
    r = app_client.post(f"/app/kb/entries/{entry}/rollback",
                        data={"csrf_token": csrf, "version": "9"})
    assert r.status_code == 404
    r = app_client.post(f"/app/kb/entries/{entry}/rollback",
                        data={"csrf_token": csrf, "version": "x"})
    assert r.status_code == 422 and "版本号无效" in r.text


def test_edit_refused_keeps_input(app_client: TestClient, uows, world: World) -> None:
    entry = _entry(uows, world.admin_wang)
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/kb/entries/{entry}", data=_form(
        csrf, answer="   ", question="新的问题"))
    assert r.status_code == 422
    assert 'id="error-answer"' in r.text and 'value="新的问题"' in r.text
    assert app_client.get(f"/api/v1/kb/entries/{entry}").json()["version"] == 1


def test_delete_entry_page(app_client: TestClient, uows, world: World) -> None:
    entry = _entry(uows, world.admin_wang)
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/kb/entries/{entry}/delete", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app/kb?notice=deleted")
    assert app_client.get(f"/app/kb/entries/{entry}").status_code == 404
    assert app_client.get(f"/app/kb/entries/{NOWHERE}/edit").status_code == 404


def test_list_filters_and_paging(app_client: TestClient, uows, world: World) -> None:
    with uows() as uow:
        cat = kb_actions.do_create_category(uow, world.admin_wang, CategoryCreate(name="物流"))
        sub = kb_actions.do_create_category(uow, world.admin_wang, CategoryCreate(
            name="时效", parent_id=cat.id))
        ids = (cat.id, sub.id)
    _entry(uows, world.admin_wang, question="发什么快递", category_id=ids[1], tags=["快递"])
    _entry(uows, world.admin_wang, question="草稿问题", status="draft")
    for i in range(51):
        _entry(uows, world.admin_wang, question=f"批量问题{i}")
    ui_login(app_client, "li@a.example.com")
    page = app_client.get("/app/kb")
    assert page.text.count("data-entry-id=") == 50
    assert "1–50 / 53" in page.text
    second = app_client.get("/app/kb?offset=50")
    assert second.text.count("data-entry-id=") == 3
    by_cat = app_client.get(f"/app/kb?category_id={ids[0]}")
    assert by_cat.text.count("data-entry-id=") == 1 and "发什么快递" in by_cat.text
    assert "物流/时效" in by_cat.text
    assert app_client.get("/app/kb?tag=快递").text.count("data-entry-id=") == 1
    drafts = app_client.get("/app/kb?status=draft")
    assert drafts.text.count("data-entry-id=") == 1 and "草稿问题" in drafts.text
    found = app_client.get("/app/kb?q=批量问题1&status=published")
    assert found.text.count("data-entry-id=") == 11  # 批量问题1, 10–19
    assert 'value="批量问题1"' in found.text
    none = app_client.get("/app/kb?q=没有这个")
    assert 'id="kb-empty"' in none.text
    # unknown filter values are ignored, not errors
    assert app_client.get("/app/kb?status=bogus&category_id=nope&offset=x").status_code == 200


def test_categories_page_create_rename_move_delete(app_client: TestClient, uows,
                                                   world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/kb/categories", data={"csrf_token": csrf, "name": "售后"},
                        follow_redirects=False)
    assert r.status_code == 303
    r = app_client.post("/app/kb/categories", data={"csrf_token": csrf, "name": "售前"})
    tree = app_client.get("/api/v1/kb/categories").json()
    after, before = (next(c["id"] for c in tree if c["name"] == n) for n in ("售后", "售前"))
    app_client.post("/app/kb/categories", data={"csrf_token": csrf, "name": "退款",
                                                 "parent_id": after})
    refund = next(c["id"] for c in app_client.get("/api/v1/kb/categories").json()
                  if c["name"] == "退款")
    page = app_client.get("/app/kb/categories")
    assert "售后/退款" in page.text

    r = app_client.post("/app/kb/categories", data={"csrf_token": csrf, "name": "售后"})
    assert r.status_code == 409 and "同级已有同名分类" in r.text and 'value="售后"' in r.text

    r = app_client.post(f"/app/kb/categories/{refund}", data={
        "csrf_token": csrf, "name": "退款进度", "parent_id": before}, follow_redirects=False)
    assert r.status_code == 303
    paths = [c["path"] for c in app_client.get("/api/v1/kb/categories").json()]
    assert "售前/退款进度" in paths
    r = app_client.post(f"/app/kb/categories/{before}", data={
        "csrf_token": csrf, "name": "售前", "parent_id": refund})
    assert r.status_code == 422 and "不能移动到自己的下级" in r.text

    _entry(uows, world.admin_wang, category_id=after)
    r = app_client.post(f"/app/kb/categories/{after}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and "分类不为空" in r.text
    r = app_client.post(f"/app/kb/categories/{refund}/delete", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303
    assert "退款进度" not in [c["name"] for c in app_client.get("/api/v1/kb/categories").json()]


def test_dictionary_page(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/kb/synonyms", data={"csrf_token": csrf, "kind": "synonym",
                                                  "terms": "快递=物流＝发货"},
                        follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app/kb/dictionary?notice=created")
    app_client.post("/app/kb/synonyms", data={"csrf_token": csrf, "kind": "term",
                                              "terms": "鲜果礼盒，冷链包"})
    app_client.post("/app/kb/synonyms", data={"csrf_token": csrf, "kind": "stop",
                                              "terms": "请问"})
    syns = {s["kind"]: s for s in app_client.get("/api/v1/kb/synonyms").json()}
    assert syns["synonym"]["terms"] == ["快递", "物流", "发货"]
    assert syns["term"]["terms"] == ["鲜果礼盒", "冷链包"]
    assert syns["stop"]["terms"] == ["请问"]
    page = app_client.get("/app/kb/dictionary")
    assert "鲜果礼盒" in page.text and "冷链包" in page.text

    r = app_client.post("/app/kb/synonyms", data={"csrf_token": csrf, "kind": "synonym",
                                                  "terms": "孤单"})
    assert r.status_code == 422 and "至少需要两个词" in r.text and 'value="孤单"' in r.text

    r = app_client.post(f"/app/kb/synonyms/{syns['stop']['id']}/delete",
                        data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "stop" not in {s["kind"] for s in app_client.get("/api/v1/kb/synonyms").json()}

    r = app_client.post("/app/kb/smalltalk", data={"csrf_token": csrf,
                                                   "phrasings": "你好\n您好", "reply": "您好呀"},
                        follow_redirects=False)
    assert r.status_code == 303
    st = app_client.get("/api/v1/kb/smalltalk").json()[0]
    assert (st["phrasings"], st["reply"]) == (["你好", "您好"], "您好呀")
    r = app_client.post(f"/app/kb/smalltalk/{st['id']}", data={
        "csrf_token": csrf, "phrasings": "在吗", "reply": "在的"}, follow_redirects=False)
    assert r.status_code == 303
    assert app_client.get("/api/v1/kb/smalltalk").json()[0]["reply"] == "在的"
    r = app_client.post(f"/app/kb/smalltalk/{st['id']}", data={
        "csrf_token": csrf, "phrasings": "在吗", "reply": "  "})
    assert r.status_code == 422 and "答案不能为空" in r.text
    r = app_client.post(f"/app/kb/smalltalk/{st['id']}/delete", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303
    assert app_client.get("/api/v1/kb/smalltalk").json() == []


def test_pages_in_english(app_client: TestClient, uows, world: World) -> None:
    entry = _entry(uows, world.admin_wang)
    ui_login(app_client, "wang@a.example.com")
    r = app_client.get("/app/kb?lang=en")
    assert ">Knowledge<" in r.text and "New entry" in r.text and "Published" in r.text
    assert "Categories" in app_client.get("/app/kb/categories").text  # remembered
    page = app_client.get(f"/app/kb/entries/{entry}")
    assert "Version history" in page.text and "created" in page.text
    assert "Synonyms" in app_client.get("/app/kb/dictionary").text
    assert "Valid from" in app_client.get("/app/kb/new").text


def test_other_workspace_gets_404_pages(app_client: TestClient, uows, world: World) -> None:
    entry = _entry(uows, world.admin_wang)
    csrf = ui_login(app_client, "admin@b.example.com")
    assert app_client.get(f"/app/kb/entries/{entry}").status_code == 404
    assert app_client.get(f"/app/kb/entries/{entry}/edit").status_code == 404
    r = app_client.post(f"/app/kb/entries/{entry}", data=_form(csrf, answer="hijacked"))
    assert r.status_code == 404
    assert "怎么申请退货" not in app_client.get("/app/kb").text
    with uows(readonly=True) as uow:
        from kefu.kb.models import FaqEntry

        assert uow.session.get(FaqEntry, entry).answer == "在订单页点“申请售后”。"
