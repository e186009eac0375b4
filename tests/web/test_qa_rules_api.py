"""Rules, word packs and scorecards over HTTP: codes and field lists on bad input, who may
read and write, versions and restore, dry run, export as a rules file and import (JSON body
and upload, all or nothing)."""

from __future__ import annotations

import json

from kefu.inbox import actions as inbox_actions
from kefu.qa.engine import default_rules
from kefu.qa.spec import load_ruleset
from tests.conftest import customer_says, login

PROMISE = {"kind": "keyword", "terms": ["保证"], "exclude": ["不能保证"], "alert": True}


def test_rule_crud_versions_and_restore(app_client, world):
    login(app_client, "zhao@a.example.com")  # supervisor: qa.manage
    listing = app_client.get("/api/v1/qa/rules").json()
    assert listing == {"items": [], "uses_defaults": True}
    r = app_client.post("/api/v1/qa/rules", json={"key": "promise", "name": "承诺",
                                                  "definition": PROMISE,
                                                  "inbox_ids": [world.inbox_a]})
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["version"] == 1 and rule["definition"]["alert"] is True
    listing = app_client.get("/api/v1/qa/rules").json()
    assert listing["uses_defaults"] is False
    assert len(listing["items"]) == len(default_rules()) + 1
    dup = app_client.post("/api/v1/qa/rules", json={"key": "promise", "name": "x",
                                                    "definition": PROMISE})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "rule_key_exists"
    url = f"/api/v1/qa/rules/{rule['id']}"
    r = app_client.patch(url, json={"enabled": False})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["enabled"] is False
    r = app_client.patch(url, json={"definition": {**PROMISE, "terms": ["一定"]}})
    assert r.json()["version"] == 3
    versions = app_client.get(f"{url}/versions").json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    r = app_client.post(f"{url}/versions/1/restore")
    assert r.status_code == 200 and r.json()["version"] == 4
    assert r.json()["definition"]["terms"] == ["保证"] and r.json()["enabled"] is True
    assert app_client.post(f"{url}/versions/42/restore").status_code == 404
    assert app_client.delete(url).status_code == 204
    assert app_client.get(url).status_code == 404
    assert app_client.post("/api/v1/qa/rules/install-defaults").json()["added"] == []


def test_bad_rules_list_every_field_and_store_nothing(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/qa/rules", json={
        "key": "Bad Key", "name": "x",
        "definition": {"kind": "regex", "pattern": "(a+)+", "deduction": "lots"}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_rule"
    fields = {e["field"] for e in err["details"]["errors"]}
    assert {"key", "definition.deduction"} <= fields
    r = app_client.post("/api/v1/qa/rules", json={
        "key": "re", "name": "x", "definition": {"kind": "regex", "pattern": "[unclosed"}})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["errors"][0]["field"] == "definition.pattern"
    assert "unterminated" in r.json()["error"]["details"]["errors"][0]["reason"]
    r = app_client.post("/api/v1/qa/rules", json={"key": "x", "name": "x",
                                                  "definition": {"kind": "keyword"},
                                                  "colour": "red"})
    assert r.status_code == 422
    assert app_client.get("/api/v1/qa/rules").json()["items"] == []


def test_who_may_read_and_write(app_client, world):
    login(app_client, "li@a.example.com")  # agent
    for method, url, body in (("get", "/api/v1/qa/rules", None),
                              ("get", "/api/v1/qa/packs", None),
                              ("get", "/api/v1/qa/scorecards", None),
                              ("get", "/api/v1/qa/rules/export", None),
                              ("post", "/api/v1/qa/rules", {"key": "a", "name": "a",
                                                            "definition": PROMISE}),
                              ("post", "/api/v1/qa/rules/dry-run", {"definition": PROMISE})):
        r = getattr(app_client, method)(url, **({"json": body} if body else {}))
        assert r.status_code == 403, (url, r.text)
    app_client.cookies.clear()
    login(app_client, "sun@a.example.com")  # inspector: reads, does not write
    assert app_client.get("/api/v1/qa/rules").status_code == 200
    r = app_client.post("/api/v1/qa/packs", json={"name": "p", "terms": ["x"]})
    assert r.status_code == 403


def test_packs_and_scorecards(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/qa/packs", json={"name": "空词库", "terms": [" "]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_pack"
    r = app_client.post("/api/v1/qa/packs", json={"name": "brand", "terms": ["鲜果", "鲜果 "]})
    assert r.status_code == 201 and r.json()["terms"] == ["鲜果"]
    pack = r.json()
    assert "brand" in app_client.get("/api/v1/qa/packs").json()["available"]
    app_client.post("/api/v1/qa/rules", json={"key": "brand", "name": "品牌",
                                              "definition": {"kind": "wordpack",
                                                             "pack": "brand"}})
    r = app_client.delete(f"/api/v1/qa/packs/{pack['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "pack_in_use"
    r = app_client.patch(f"/api/v1/qa/packs/{pack['id']}", json={"terms": ["果园"]})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = app_client.post("/api/v1/qa/scorecards", json={
        "name": "卡", "base": 0, "items": {"ghost": {"deduction": 1}}})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["error"]["details"]["errors"]}
    assert fields == {"base", "items.ghost"}
    r = app_client.post("/api/v1/qa/scorecards", json={
        "name": "卡", "base": 100, "is_default": True, "group_weights": {"合规": 2},
        "items": {"brand": {"deduction": 7, "fatal": True}}})
    assert r.status_code == 201, r.text
    card = r.json()
    r = app_client.post("/api/v1/qa/scorecards", json={"name": "卡2", "is_default": True})
    assert r.status_code == 201
    assert app_client.get(f"/api/v1/qa/scorecards/{card['id']}").json()["is_default"] is False
    r = app_client.patch(f"/api/v1/qa/scorecards/{card['id']}", json={"base": 90})
    assert r.status_code == 200 and r.json()["base"] == 90 and r.json()["version"] == 3
    assert app_client.delete(f"/api/v1/qa/scorecards/{card['id']}").status_code == 204


def test_dry_run(app_client, world, uows):
    conv, _ = customer_says(uows, world.inbox_a, "能准时到吗")
    with uows() as uow:
        inbox_actions.do_agent_reply(uow, world.agent_li, conv, content="我保证<b>准时</b>")
    login(app_client, "zhao@a.example.com")
    r = app_client.post("/api/v1/qa/rules/dry-run", json={"definition": PROMISE, "days": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scanned"] == 1 and body["hit_conversations"] == 1 and body["total_hits"] == 1
    assert body["samples"][0]["messages"][0]["spans"] == [[1, 3]]
    r = app_client.post("/api/v1/qa/rules/dry-run", json={"definition": PROMISE, "days": 0})
    assert r.status_code == 422
    r = app_client.post("/api/v1/qa/rules/dry-run",
                        json={"definition": {"kind": "regex", "pattern": "("}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_rule"
    assert app_client.get("/api/v1/qa/rules").json()["items"] == []


def test_export_and_import(app_client, world):
    login(app_client, "wang@a.example.com")
    app_client.post("/api/v1/qa/rules", json={"key": "promise", "name": "承诺",
                                              "definition": PROMISE})
    r = app_client.get("/api/v1/qa/rules/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    ruleset = load_ruleset(r.content)
    assert "promise" in {x.id for x in ruleset.rules}
    exported = r.json()
    app_client.cookies.clear()
    login(app_client, "admin@b.example.com")
    r = app_client.post("/api/v1/qa/rules/import", content=json.dumps(exported),
                        headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert "promise" in r.json()["created"]
    # an upload of a file with one bad rule: nothing stored
    bad = {"rules": [{"kind": "keyword", "id": "fine", "name": "ok", "terms": ["a"]},
                     {"kind": "regex", "id": "broken", "name": "bad", "pattern": "(a*)*"}]}
    r = app_client.post("/api/v1/qa/rules/import",
                        files={"file": ("rules.json", json.dumps(bad).encode(),
                                        "application/json")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_import"
    keys = {x["key"] for x in app_client.get("/api/v1/qa/rules").json()["items"]}
    assert "fine" not in keys and "promise" in keys
    r = app_client.post("/api/v1/qa/rules/import", content=b"{not json",
                        headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_import"
    r = app_client.post("/api/v1/qa/rules/import", files={"file": ("x.json", b"\xff\xfe",
                                                                   "application/json")})
    assert r.status_code == 422


def test_nan_and_infinity_are_refused_not_stored(app_client, world):
    login(app_client, "wang@a.example.com")
    headers = {"content-type": "application/json"}
    for body in ('{"name": "卡", "base": NaN}', '{"name": "卡", "base": 1e400}',
                 '{"name": "卡", "group_weights": {"合规": Infinity}}'):
        r = app_client.post("/api/v1/qa/scorecards", content=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
    for number in ("NaN", "Infinity", "1e400", "-1e300"):
        body = ('{"key": "slow", "name": "慢", "definition": {"kind": "timing", '
                f'"check": "first_reply", "seconds": {number}}}}}')
        r = app_client.post("/api/v1/qa/rules", content=body, headers=headers)
        assert r.status_code == 422, (number, r.text)
    assert app_client.get("/api/v1/qa/scorecards").json()["items"] == []
    rules = app_client.get("/api/v1/qa/rules").json()["items"]
    assert "slow" not in {r["key"] for r in rules}
