"""The knowledge center over HTTP: entries with versions, diff and rollback, categories,
the dictionary, small talk, and the agents' knowledge search."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kefu.kb import actions as kb_actions
from kefu.kb.schemas import EntryCreate
from tests.conftest import login
from tests.web.test_api_errors import assert_error

NOWHERE = "000000000000000000000000"


@pytest.fixture
def kb_index(svc):
    """The process's knowledge index, reading through the test's transaction."""
    svc.kb.uows = svc.uows
    svc.kb.background = False
    return svc.kb


def _entry(**over):
    data = {"question": "怎么申请退货", "answer": "在订单页点“申请售后”，选择退货即可。",
            "phrasings": ["如何退货", "我想退货"], "status": "published"}
    return {**data, **over}


def test_create_get_list_and_filter_entries(app_client, world):
    login(app_client, "wang@a.example.com")
    parent = app_client.post("/api/v1/kb/categories", json={"name": "售后"}).json()
    child = app_client.post("/api/v1/kb/categories",
                            json={"name": "退款", "parent_id": parent["id"]}).json()
    assert child["path"] == "售后/退款"
    r = app_client.post("/api/v1/kb/entries", json=_entry(
        phrasings=["如何退货", "我想退货", "return policy"],
        category_id=child["id"], tags=["双11", "售后"], keywords=["退货"],
        channel_answers={"wechat": "微信里点“我的订单”申请退货。"}))
    assert r.status_code == 201, r.text
    refund = r.json()
    assert (refund["version"], refund["status"], refund["owner_id"]) == (
        1, "published", world.admin_wang.user_id)
    assert refund["phrasings"] == ["如何退货", "我想退货", "return policy"]
    assert refund["channel_answers"] == {"wechat": "微信里点“我的订单”申请退货。"}
    draft = app_client.post("/api/v1/kb/entries", json={
        "question": "发什么快递", "answer": "默认顺丰。", "tags": ["物流"]}).json()
    assert draft["status"] == "draft"

    assert app_client.get(f"/api/v1/kb/entries/{refund['id']}").json() == refund
    page = app_client.get("/api/v1/kb/entries").json()
    assert page["total"] == 2
    assert {e["id"] for e in page["items"]} == {refund["id"], draft["id"]}

    def ids(query: str) -> list[str]:
        r = app_client.get("/api/v1/kb/entries" + query)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    assert ids("?q=顺丰") == [draft["id"]]  # found in the answer
    assert ids("?q=申请退货") == [refund["id"]]  # found in the question
    # found in a phrasing (ASCII: phrasings are matched in their stored JSON text, where
    # Chinese is \u-escaped; see docs/subsystems/kb.md)
    assert ids("?q=Return") == [refund["id"]]
    assert ids("?status=draft") == [draft["id"]]
    assert ids(f"?category_id={parent['id']}") == [refund["id"]]  # sub-categories included
    assert ids(f"?category_id={child['id']}") == [refund["id"]]
    assert ids("?tag=物流") == [draft["id"]]
    assert ids("?tag=双11&status=published") == [refund["id"]]
    one = app_client.get("/api/v1/kb/entries?limit=1&offset=1").json()
    assert (len(one["items"]), one["total"], one["offset"]) == (1, 2, 1)
    assert_error(app_client.get("/api/v1/kb/entries?status=deleted"), 422, "validation_error")


def test_patch_versions_diff_rollback_and_phrasings(app_client, world):
    login(app_client, "zhao@a.example.com")  # a supervisor may write too
    entry = app_client.post("/api/v1/kb/entries", json=_entry()).json()
    url = f"/api/v1/kb/entries/{entry['id']}"

    r = app_client.patch(url, json={"answer": "第一行\n第二行（新）", "note": "改答案"})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["version"] == 2
    assert edited["question"] == entry["question"]  # fields not sent stay as they were
    assert edited["phrasings"] == entry["phrasings"]
    # the same PATCH again changes nothing and records no version
    assert app_client.patch(url, json={"answer": "第一行\n第二行（新）"}).json()["version"] == 2

    versions = app_client.get(url + "/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["note"] == "改答案"
    assert versions[1]["snapshot"]["answer"] == entry["answer"]
    assert versions[0]["actor_id"] == world.supervisor_zhao.user_id

    diff = app_client.get(url + "/diff?a=1&b=2").json()
    assert [d["field"] for d in diff] == ["answer"]
    assert (diff[0]["before"], diff[0]["after"]) == (entry["answer"], "第一行\n第二行（新）")
    assert f"-{entry['answer']}" in diff[0]["lines"]
    assert "+第二行（新）" in diff[0]["lines"]
    assert_error(app_client.get(url + "/diff?a=1&b=9"), 404, "version_not_found")
    assert app_client.get(url + "/diff").json() == diff  # the last two versions
    assert app_client.get(url + "/diff?a=2").json() == []
    assert_error(app_client.get(url + "/diff?a=0&b=1"), 422, "validation_error")

    r = app_client.post(url + "/rollback", json={"version": 1})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["answer"]) == (3, entry["answer"])
    assert [v["version"] for v in app_client.get(url + "/versions").json()] == [3, 2, 1]
    assert_error(app_client.post(url + "/rollback", json={"version": 7}), 404,
                 "version_not_found")
    assert_error(app_client.post(url + "/rollback", json={"version": 0}), 422,
                 "validation_error")

    r = app_client.post(url + "/phrasings", json={"texts": ["退货怎么弄", "如何退货", " "]})
    assert r.status_code == 200, r.text
    assert r.json()["phrasings"] == ["如何退货", "我想退货", "退货怎么弄"]
    assert r.json()["version"] == 4
    assert_error(app_client.post(url + "/phrasings", json={"texts": []}), 422,
                 "validation_error")

    # validity: an aware time is kept as that instant; null clears it
    r = app_client.patch(url, json={"valid_from": "2026-11-11T00:00:00+08:00"})
    stored = app_client.get(url).json()["valid_from"]
    assert datetime.fromisoformat(r.json()["valid_from"]) == datetime.fromisoformat(stored) \
        == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
    assert app_client.patch(url, json={"valid_from": None}).json()["valid_from"] is None


def test_delete_entry(app_client, world):
    login(app_client, "wang@a.example.com")
    first = app_client.post("/api/v1/kb/entries", json=_entry()).json()
    second = app_client.post("/api/v1/kb/entries", json=_entry(
        question="退货运费谁出", related_ids=[first["id"]])).json()
    assert second["related_ids"] == [first["id"]]
    r = app_client.delete(f"/api/v1/kb/entries/{first['id']}")
    assert r.status_code == 204
    assert_error(app_client.get(f"/api/v1/kb/entries/{first['id']}"), 404, "entry_not_found")
    assert app_client.get(f"/api/v1/kb/entries/{second['id']}").json()["related_ids"] == []
    assert_error(app_client.delete(f"/api/v1/kb/entries/{first['id']}"), 404,
                 "entry_not_found")


@pytest.mark.parametrize("email", ["li@a.example.com", "sun@a.example.com"])
def test_agents_and_inspectors_read_but_cannot_write(app_client, uows, world, email):
    with uows() as uow:
        entry = kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="几点发货", answer="下午四点前下单当天发。", status="published")).id
    login(app_client, email)
    assert app_client.get(f"/api/v1/kb/entries/{entry}").status_code == 200
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 1
    assert app_client.get(f"/api/v1/kb/entries/{entry}/versions").status_code == 200
    assert app_client.get("/api/v1/kb/categories").status_code == 200
    assert app_client.get("/api/v1/kb/synonyms").status_code == 200
    assert app_client.get("/api/v1/kb/smalltalk").status_code == 200
    url = f"/api/v1/kb/entries/{entry}"
    for method, path, body in [
        ("POST", "/api/v1/kb/entries", _entry()),
        ("PATCH", url, {"answer": "随便改"}),
        ("DELETE", url, None),
        ("POST", url + "/rollback", {"version": 1}),
        ("POST", url + "/phrasings", {"texts": ["发货时间"]}),
        ("POST", "/api/v1/kb/categories", {"name": "售前"}),
        ("POST", "/api/v1/kb/synonyms", {"terms": ["快递", "物流"]}),
        ("POST", "/api/v1/kb/smalltalk", {"phrasings": ["你好"], "reply": "您好"}),
    ]:
        assert_error(app_client.request(method, path, json=body), 403, "permission_denied")
    got = app_client.get(url).json()
    assert (got["version"], got["answer"], got["phrasings"]) == (1, "下午四点前下单当天发。", [])


def test_bad_input_gets_the_domain_codes(app_client, world):
    login(app_client, "wang@a.example.com")
    post = lambda **over: app_client.post("/api/v1/kb/entries", json=_entry(**over))  # noqa: E731
    err = assert_error(post(question="退" * 10_000), 422, "too_long")
    assert err["details"]["fields"][0]["loc"] == ["body", "question"]
    err = assert_error(post(question="😀😀🎉"), 422, "no_words")
    assert err["details"]["field"] == "question"
    assert_error(post(phrasings=["好的", "👍👍"]), 422, "no_words")
    err = assert_error(post(valid_from="2026-11-11T00:00:00"), 422, "naive_datetime")
    assert err["details"]["field"] == "valid_from"
    assert_error(post(valid_from="2026-11-12T00:00:00+08:00",
                      valid_until="2026-11-11T00:00:00+08:00"), 422, "bad_validity")
    assert_error(post(valid_from="双十一"), 422, "validation_error")
    assert_error(post(status="live"), 422, "validation_error")
    assert_error(post(answer="   "), 422, "empty_answer")
    assert_error(post(question="退货||换货"), 422, "bad_separator")
    assert_error(post(tags=["a,b"]), 422, "bad_separator")
    assert_error(post(category_id=NOWHERE), 404, "category_not_found")
    assert_error(post(related_ids=[NOWHERE]), 404, "entry_not_found")
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 0
    entry = post().json()
    assert_error(app_client.patch(f"/api/v1/kb/entries/{entry['id']}",
                                  json={"valid_until": "2026-01-01T00:00:00"}),
                 422, "naive_datetime")
    assert_error(app_client.patch(f"/api/v1/kb/entries/{NOWHERE}", json={"answer": "x"}),
                 404, "entry_not_found")


def test_another_workspace_cannot_see_or_link(app_client, uows, world):
    with uows() as uow:
        a_entry = kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="A 的问题", answer="A 的答案", status="published")).id
    login(app_client, "admin@b.example.com")
    assert_error(app_client.get(f"/api/v1/kb/entries/{a_entry}"), 404, "entry_not_found")
    assert_error(app_client.get(f"/api/v1/kb/entries/{a_entry}/versions"), 404,
                 "entry_not_found")
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 0
    assert_error(app_client.post("/api/v1/kb/entries", json=_entry(related_ids=[a_entry])),
                 404, "entry_not_found")


def test_categories_tree_move_and_delete(app_client, world):
    login(app_client, "wang@a.example.com")
    after = app_client.post("/api/v1/kb/categories", json={"name": "售后"}).json()
    before = app_client.post("/api/v1/kb/categories", json={"name": "售前"}).json()
    refund = app_client.post("/api/v1/kb/categories",
                             json={"name": "退款", "parent_id": after["id"]}).json()
    tree = app_client.get("/api/v1/kb/categories").json()
    assert [c["path"] for c in tree] == ["售前", "售后", "售后/退款"]
    assert_error(app_client.post("/api/v1/kb/categories", json={"name": "售后"}), 409,
                 "category_exists")
    assert_error(app_client.post("/api/v1/kb/categories", json={"name": "x" * 81}), 422,
                 "too_long")

    r = app_client.patch(f"/api/v1/kb/categories/{refund['id']}",
                         json={"name": "退款进度", "parent_id": before["id"]})
    assert r.status_code == 200, r.text
    assert (r.json()["path"], r.json()["parent_id"]) == ("售前/退款进度", before["id"])
    assert_error(app_client.patch(f"/api/v1/kb/categories/{before['id']}",
                                  json={"parent_id": refund["id"]}), 422, "category_cycle")
    r = app_client.patch(f"/api/v1/kb/categories/{refund['id']}", json={"parent_id": None})
    assert r.json()["path"] == "退款进度"

    app_client.post("/api/v1/kb/entries", json=_entry(category_id=after["id"]))
    err = assert_error(app_client.delete(f"/api/v1/kb/categories/{after['id']}"), 409,
                       "category_not_empty")
    assert err["details"]["entries"] == 1
    assert app_client.delete(f"/api/v1/kb/categories/{before['id']}").status_code == 204
    assert [c["name"] for c in app_client.get("/api/v1/kb/categories").json()] == [
        "售后", "退款进度"]
    assert_error(app_client.delete(f"/api/v1/kb/categories/{NOWHERE}"), 404,
                 "category_not_found")


def test_synonyms_and_smalltalk(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/kb/synonyms", json={"terms": ["快递", "物流", "快递"]})
    assert r.status_code == 201, r.text
    group = r.json()
    assert (group["kind"], group["terms"]) == ("synonym", ["快递", "物流"])
    term = app_client.post("/api/v1/kb/synonyms", json={"kind": "term",
                                                        "terms": ["鲜果礼盒"]}).json()
    assert_error(app_client.post("/api/v1/kb/synonyms", json={"terms": ["快递"]}), 422,
                 "too_few_terms")
    assert_error(app_client.post("/api/v1/kb/synonyms", json={"kind": "stop",
                                                              "terms": ["!!"]}),
                 422, "no_words")
    assert_error(app_client.post("/api/v1/kb/synonyms", json={"kind": "other",
                                                              "terms": ["a", "b"]}),
                 422, "validation_error")
    listed = app_client.get("/api/v1/kb/synonyms").json()
    assert {s["id"] for s in listed} == {group["id"], term["id"]}
    assert app_client.delete(f"/api/v1/kb/synonyms/{group['id']}").status_code == 204
    assert [s["id"] for s in app_client.get("/api/v1/kb/synonyms").json()] == [term["id"]]
    assert_error(app_client.delete(f"/api/v1/kb/synonyms/{group['id']}"), 404,
                 "synonym_not_found")

    r = app_client.post("/api/v1/kb/smalltalk", json={"phrasings": ["你好", "您好", "你好"],
                                                      "reply": "您好，请问有什么可以帮您？"})
    assert r.status_code == 201, r.text
    hello = r.json()
    assert hello["phrasings"] == ["你好", "您好"]
    r = app_client.put(f"/api/v1/kb/smalltalk/{hello['id']}",
                       json={"phrasings": ["在吗"], "reply": "在的～"})
    assert (r.json()["phrasings"], r.json()["reply"]) == (["在吗"], "在的～")
    assert_error(app_client.put(f"/api/v1/kb/smalltalk/{hello['id']}",
                                json={"phrasings": ["在吗"], "reply": " "}), 422, "empty_answer")
    assert [s["reply"] for s in app_client.get("/api/v1/kb/smalltalk").json()] == ["在的～"]
    assert app_client.delete(f"/api/v1/kb/smalltalk/{hello['id']}").status_code == 204
    assert app_client.get("/api/v1/kb/smalltalk").json() == []
    assert_error(app_client.put(f"/api/v1/kb/smalltalk/{NOWHERE}",
                                json={"phrasings": ["x"], "reply": "y"}), 404,
                 "smalltalk_not_found")


def test_search_finds_published_valid_entries_with_the_channel_answer(app_client, kb_index,
                                                                      world):
    login(app_client, "wang@a.example.com")
    refund = app_client.post("/api/v1/kb/entries", json=_entry(
        channel_answers={"wechat": "微信里点“我的订单”申请退货。"})).json()
    app_client.post("/api/v1/kb/entries", json=_entry(question="退货草稿", status="draft"))
    app_client.post("/api/v1/kb/entries", json=_entry(
        question="双十二退货政策", phrasings=[], valid_from="2026-12-12T00:00:00+08:00"))
    app_client.post("/api/v1/kb/entries", json=_entry(
        question="双十退货政策", phrasings=[], valid_until="2026-10-11T00:00:00+08:00"))

    login(app_client, "li@a.example.com")  # the agents' panel
    r = app_client.get("/api/v1/kb/search", params={"q": "我想退货"})
    assert r.status_code == 200, r.text
    hits = r.json()
    assert [h["entry_id"] for h in hits] == [refund["id"]]
    assert hits[0]["question"] == "怎么申请退货"
    assert hits[0]["answer"] == refund["answer"]
    assert hits[0]["matched"] == "我想退货"
    assert 0 < hits[0]["confidence"] <= 1
    wechat = app_client.get("/api/v1/kb/search",
                            params={"q": "我想退货", "channel": "wechat"}).json()
    assert wechat[0]["answer"] == "微信里点“我的订单”申请退货。"
    email = app_client.get("/api/v1/kb/search", params={"q": "我想退货", "channel": "email"})
    assert email.json()[0]["answer"] == refund["answer"]  # no email variant: the default

    # an edit is followed at once; archiving takes the entry out of the search
    login(app_client, "wang@a.example.com")
    app_client.patch(f"/api/v1/kb/entries/{refund['id']}", json={"status": "archived"})
    assert app_client.get("/api/v1/kb/search", params={"q": "我想退货"}).json() == []

    assert_error(app_client.get("/api/v1/kb/search"), 422, "validation_error")
    assert_error(app_client.get("/api/v1/kb/search", params={"q": "退货", "channel": "fax"}),
                 422, "validation_error")
    assert_error(app_client.get("/api/v1/kb/search", params={"q": "退货", "k": 0}), 422,
                 "validation_error")


def test_search_stays_in_the_workspace(app_client, kb_index, uows, world):
    with uows() as uow:
        kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="怎么开发票", answer="A 的发票流程", status="published"))
    login(app_client, "agent@b.example.com")
    assert app_client.get("/api/v1/kb/search", params={"q": "怎么开发票"}).json() == []
    login(app_client, "li@a.example.com")
    hits = app_client.get("/api/v1/kb/search", params={"q": "怎么开发票", "k": 1}).json()
    assert [h["answer"] for h in hits] == ["A 的发票流程"]


def test_cookie_writes_need_the_csrf_header(app_client, world):
    login(app_client, "wang@a.example.com")
    del app_client.headers["X-CSRF-Token"]
    assert_error(app_client.post("/api/v1/kb/entries", json=_entry()), 403, "csrf_failed")
    assert app_client.get("/api/v1/kb/entries").json()["total"] == 0


def test_diff_ignores_the_same_instant_in_another_zone(app_client, world):
    login(app_client, "wang@a.example.com")
    entry = app_client.post("/api/v1/kb/entries", json=_entry(
        valid_from="2026-11-11T00:00:00+08:00")).json()
    url = f"/api/v1/kb/entries/{entry['id']}"
    app_client.patch(url, json={"answer": "新答案"})
    assert [d["field"] for d in app_client.get(url + "/diff?a=1&b=2").json()] == ["answer"]
    app_client.patch(url, json={"valid_from": "2026-11-12T00:00:00+08:00"})
    diff = app_client.get(url + "/diff?a=2&b=3").json()
    assert [d["field"] for d in diff] == ["valid_from"]
