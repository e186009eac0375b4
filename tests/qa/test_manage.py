"""Managing rules, word packs and scorecards: validation with every field named, versions,
restore, defaults, soft delete, packs in use, one default card, import/export all or
nothing, audit and RulesChanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from kefu.accounts import actions as account_actions
from kefu.accounts.schemas import TeamCreate
from kefu.core.audit import AuditEntry
from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from kefu.qa import manage
from kefu.qa.engine import check_message, default_rules
from kefu.qa.models import QaRule, QaRuleVersion, QaScorecard, QaWordPack
from kefu.qa.spec import load_ruleset

PROMISE = {"kind": "keyword", "terms": ["保证", "一定"], "exclude": ["不能保证"],
           "deduction": 3, "group": "合规"}


def create(uows: Any, actor: Any, key: str = "promise", **over: Any) -> str:
    with uows() as uow:
        row = manage.do_create_rule(uow, actor, key=key, name=over.pop("name", "承诺"),
                                    definition=over.pop("definition", PROMISE), **over)
        return row.id


def count(uows: Any, model: Any, ws: str) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(
            model.workspace_id == ws)) or 0)


def test_first_rule_installs_defaults_and_is_versioned_and_audited(uows, world, svc):
    events: list[Any] = []
    svc.bus.subscribe("qa.rules_changed", events.append)
    with uows(readonly=True) as uow:
        assert manage.uses_defaults(uow.session, world.admin_wang)
    rid = create(uows, world.admin_wang)
    assert events and events[-1].workspace_id == world.ws_a
    with uows(readonly=True) as uow:
        rows = manage.list_rules(uow.session, world.admin_wang)
        keys = {r.key for r in rows}
        assert keys == {"promise", *(r.id for r in default_rules())}
        assert not manage.uses_defaults(uow.session, world.admin_wang)
        row = uow.session.get(QaRule, rid)
        assert row is not None and row.version == 1 and row.kind == "keyword"
        assert row.definition["terms"] == ["保证", "一定"] and "id" not in row.definition
        versions = manage.list_versions(uow.session, world.admin_wang, rid)
        assert [v.version for v in versions] == [1]
        assert uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "qa.rule.create", AuditEntry.object_id == rid)) == 1
        # the registry sees it
        compiled = svc.qa.get(uow.session, world.ws_a).compiled(None, None)
    assert any(h.rule_id == "promise" for h in check_message(compiled, "agent", "我保证明天到"))


def test_every_bad_field_is_named_and_nothing_is_stored(uows, world):
    bad = {"kind": "keyword", "terms": ["a"], "mode": "sometimes", "within": "far",
           "deduction": "x"}
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_rule(uow, world.admin_wang, key="Bad Key!", name=" ", definition=bad)
    fields = {e["field"] for e in exc.value.details["errors"]}
    assert {"key", "name", "definition.mode", "definition.within",
            "definition.deduction"} <= fields
    assert exc.value.status == 422 and exc.value.code == "invalid_rule"
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_rule(uow, world.admin_wang, key="re1", name="正则",
                              definition={"kind": "regex", "pattern": "(a+)+b"})
    err = exc.value.details["errors"][0]
    assert err["field"] == "definition.pattern" and "backtracking" in err["reason"]
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_rule(uow, world.admin_wang, key="wp", name="包",
                              definition={"kind": "wordpack", "pack": "nope"})
    assert exc.value.details["errors"][0]["field"] == "definition.pack"
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_rule(uow, world.admin_wang, key="k", name="k",
                              definition={"kind": "telepathy"})
    assert exc.value.details["errors"][0]["field"] == "definition.kind"
    assert count(uows, QaRule, world.ws_a) == 0
    assert count(uows, QaRuleVersion, world.ws_a) == 0


def test_duplicate_key_permissions_and_other_workspace(uows, world):
    rid = create(uows, world.admin_wang)
    with uows() as uow, pytest.raises(Conflict) as exc:
        manage.do_create_rule(uow, world.admin_wang, key="promise", name="x",
                              definition=PROMISE)
    assert exc.value.status == 409 and exc.value.code == "rule_key_exists"
    with uows() as uow, pytest.raises(Conflict):  # a default's key once defaults are stored
        manage.do_create_rule(uow, world.admin_wang, key="risky_promise", name="x",
                              definition=PROMISE)
    for actor in (world.agent_li, world.inspector_sun):
        with uows() as uow, pytest.raises(PermissionDenied):
            manage.do_update_rule(uow, actor, rid, enabled=False)
    with uows(readonly=True) as uow, pytest.raises(PermissionDenied):
        manage.list_rules(uow.session, world.agent_li)
    with uows(readonly=True) as uow:  # inspectors read
        assert manage.list_rules(uow.session, world.inspector_sun)
    with uows() as uow, pytest.raises(NotFound):
        manage.do_update_rule(uow, world.admin_b, rid, enabled=False)
    with uows() as uow, pytest.raises(NotFound):
        manage.do_create_rule(uow, world.admin_wang, key="scoped", name="x",
                              definition=PROMISE, inbox_ids=[world.inbox_b])


def test_update_versions_restore_disable_delete(uows, world, svc):
    rid = create(uows, world.admin_wang, inbox_ids=[world.inbox_a])
    with uows() as uow:
        row = manage.do_update_rule(uow, world.admin_wang, rid, name="承诺2",
                                    definition={**PROMISE, "terms": ["包退"]})
        assert row.version == 2
    with uows() as uow:  # the same again: no new version
        row = manage.do_update_rule(uow, world.admin_wang, rid, name="承诺2",
                                    definition={**PROMISE, "terms": ["包退"]})
        assert row.version == 2
    with uows() as uow, pytest.raises(Invalid):
        manage.do_update_rule(uow, world.admin_wang, rid, key="other")
    with uows() as uow:
        row = manage.do_set_rule_enabled(uow, world.admin_wang, rid, False)
        assert row.version == 3 and row.enabled is False and row.inbox_ids == [world.inbox_a]
    with uows(readonly=True) as uow:
        keys = {r.id for r in svc.qa.get(uow.session, world.ws_a).rules}
        assert "promise" not in keys
    with uows() as uow:
        row = manage.do_restore_version(uow, world.admin_wang, rid, 1)
        assert row.version == 4 and row.name == "承诺" and row.enabled
        assert row.definition["terms"] == ["保证", "一定"]
    with uows(readonly=True) as uow:
        snaps = manage.list_versions(uow.session, world.admin_wang, rid)
        assert [v.version for v in snaps] == [4, 3, 2, 1]
        assert snaps[2].snapshot["definition"]["terms"] == ["包退"]
    with uows() as uow, pytest.raises(NotFound):
        manage.do_restore_version(uow, world.admin_wang, rid, 99)
    with uows() as uow:
        manage.do_delete_rule(uow, world.admin_wang, rid)
    with uows(readonly=True) as uow:
        assert "promise" not in {r.key for r in manage.list_rules(uow.session,
                                                                   world.admin_wang)}
        assert uow.session.get(QaRule, rid) is not None  # soft
    with uows() as uow:  # the key again brings the deleted rule back as a new version
        row = manage.do_create_rule(uow, world.admin_wang, key="promise", name="回来",
                                    definition=PROMISE)
        assert row.id == rid and row.version == 6 and row.deleted_at is None


def test_install_defaults_is_idempotent(uows, world):
    with uows() as uow:
        added = manage.do_install_defaults(uow, world.admin_wang)
        assert len(added) == len(default_rules())
    with uows() as uow:
        assert manage.do_install_defaults(uow, world.admin_wang) == []
    assert count(uows, QaRule, world.ws_a) == len(default_rules())


def test_word_packs(uows, world, svc):
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_pack(uow, world.admin_wang, name="空", terms=["  ", ""])
    assert exc.value.code == "invalid_pack" and "terms" in exc.value.details["errors"][0][
        "field"]
    with uows() as uow:
        pack = manage.do_create_pack(uow, world.admin_wang, name="品牌词",
                                     terms=[" 鲜果 ", "鲜果", "果园"], exclusions=["果园路"])
        pid = pack.id
        assert pack.terms == ["鲜果", "果园"] and pack.version == 1
    with uows() as uow, pytest.raises(Conflict):
        manage.do_create_pack(uow, world.admin_wang, name="品牌词", terms=["x"])
    rid = create(uows, world.admin_wang, key="brand",
                 definition={"kind": "wordpack", "pack": "品牌词"})
    with uows(readonly=True) as uow:
        compiled = svc.qa.get(uow.session, world.ws_a).compiled(None, None)
    assert any(h.rule_id == "brand" for h in check_message(compiled, "agent", "鲜果好吃"))
    with uows() as uow:
        row = manage.do_update_pack(uow, world.admin_wang, pid, terms=["鲜果", "橙子"])
        assert row.version == 2
    with uows() as uow, pytest.raises(Conflict) as exc:
        manage.do_delete_pack(uow, world.admin_wang, pid)
    assert exc.value.code == "pack_in_use" and exc.value.details["rules"] == ["brand"]
    with uows() as uow, pytest.raises(Conflict):
        manage.do_update_pack(uow, world.admin_wang, pid, name="改名")
    with uows() as uow:
        manage.do_set_rule_enabled(uow, world.admin_wang, rid, False)
    with uows() as uow:
        manage.do_delete_pack(uow, world.admin_wang, pid)
    assert count(uows, QaWordPack, world.ws_a) == 0
    # a pack named like a built-in replaces it and may be deleted (the built-in returns)
    with uows() as uow:
        own = manage.do_create_pack(uow, world.admin_wang, name="competitors",
                                    terms=["隔壁果园"])
    with uows(readonly=True) as uow:
        compiled = svc.qa.get(uow.session, world.ws_a).compiled(None, None)
    assert any(h.rule_id == "competitor" for h in check_message(compiled, "agent", "隔壁果园"))
    with uows() as uow:
        manage.do_delete_pack(uow, world.admin_wang, own.id)


def test_scorecards(uows, world):
    with uows() as uow:
        team = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(name="售后"))
        team_id = team.id
    bad = manage.ScorecardInput(name="", base=0, group_weights={"合规": -1},
                                items={"nope": {"deduction": 1},
                                       "risky_promise": {"cap": -1, "colour": "red"}})
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_scorecard(uow, world.admin_wang, bad)
    fields = {e["field"] for e in exc.value.details["errors"]}
    assert {"name", "base", "group_weights.合规", "items.nope", "items.risky_promise.cap",
            "items.risky_promise.colour"} <= fields
    with uows() as uow, pytest.raises(NotFound):
        manage.do_create_scorecard(uow, world.admin_wang, manage.ScorecardInput(
            name="B", inbox_ids=[world.inbox_b]))
    with uows() as uow:
        a = manage.do_create_scorecard(uow, world.admin_wang, manage.ScorecardInput(
            name="默认", base=100, group_weights={"合规": 1.5}, is_default=True,
            items={"risky_promise": {"deduction": 8, "fatal": False}})).id
        b = manage.do_create_scorecard(uow, world.admin_wang, manage.ScorecardInput(
            name="售后卡", inbox_ids=[world.inbox_a], team_ids=[team_id])).id
    with uows() as uow:
        row = manage.do_update_scorecard(uow, world.admin_wang, b, {"is_default": True})
        assert row.version == 2 and row.is_default
    with uows(readonly=True) as uow:
        cards = {c.id: c for c in manage.list_scorecards(uow.session, world.admin_wang)}
        assert cards[a].is_default is False and cards[b].is_default is True
        assert sum(c.is_default for c in cards.values()) == 1
    with uows() as uow, pytest.raises(Invalid):
        manage.do_update_scorecard(uow, world.admin_wang, a, {"base": -5})
    with uows() as uow:
        manage.do_delete_scorecard(uow, world.admin_wang, a)
    assert count(uows, QaScorecard, world.ws_a) == 1


def test_export_is_a_rules_file_and_import_round_trips(uows, world):
    with uows(readonly=True) as uow:  # no rows yet: the defaults
        data = manage.export_rules(uow.session, world.admin_wang)
    assert {r["id"] for r in data["rules"]} == {r.id for r in default_rules()}
    with uows() as uow:
        manage.do_create_pack(uow, world.admin_wang, name="brand", terms=["鲜果"])
    create(uows, world.admin_wang, key="brand_rule",
           definition={"kind": "wordpack", "pack": "brand"})
    rid = create(uows, world.admin_wang, key="off", enabled=False)
    with uows(readonly=True) as uow:
        data = manage.export_rules(uow.session, world.admin_wang)
    ruleset = load_ruleset(json.dumps(data, ensure_ascii=False))  # kefu qa inspect --rules
    assert {r.id for r in ruleset.rules} >= {"brand_rule", "off"}
    assert next(r for r in ruleset.rules if r.id == "off").enabled is False
    assert ruleset.packs["brand"].terms == ("鲜果",)
    # into workspace B: everything created
    with uows() as uow:
        result = manage.do_import_rules(uow, world.admin_b, data)
    assert "brand_rule" in result.created and result.packs_created == ["brand"]
    with uows(readonly=True) as uow:
        again = manage.export_rules(uow.session, world.admin_b)
    assert sorted(r["id"] for r in again["rules"]) == sorted(r["id"] for r in data["rules"])
    # back into A, one rule changed: an update, the rest unchanged
    changed = json.loads(json.dumps(data))
    next(r for r in changed["rules"] if r["id"] == "brand_rule")["deduction"] = 9
    changed["scorecard"] = {"base": 90, "group_weights": {"合规": 2}}
    with uows() as uow:
        result = manage.do_import_rules(uow, world.admin_wang, changed)
    assert result.updated == ["brand_rule"] and "off" in result.unchanged
    assert result.scorecard == "created"
    with uows(readonly=True) as uow:
        card = uow.session.scalar(select(QaScorecard).where(
            QaScorecard.workspace_id == world.ws_a))
        assert card is not None and card.base == 90 and card.is_default
        assert uow.session.get(QaRule, rid) is not None


def test_import_is_all_or_nothing(uows, world):
    before = count(uows, QaRule, world.ws_a)
    bad = {"packs": {"p": {"terms": ["x"]}},
           "rules": [{"kind": "keyword", "id": "ok1", "name": "好", "terms": ["a"]},
                     {"kind": "regex", "id": "bad1", "name": "坏", "pattern": "(x+)+"},
                     {"kind": "keyword", "id": "Bad-Key", "name": "坏", "terms": ["b"]}]}
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_import_rules(uow, world.admin_wang, bad)
    assert exc.value.code == "invalid_import"
    assert any(e["field"].startswith("rules[1]") for e in exc.value.details["errors"])
    ok_but_bad_key = {"rules": [{"kind": "keyword", "id": "Bad-Key", "name": "坏",
                                 "terms": ["b"]}]}
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_import_rules(uow, world.admin_wang, ok_but_bad_key)
    assert exc.value.details["errors"][0]["field"] == "rules[0].id"
    assert count(uows, QaRule, world.ws_a) == before == 0
    assert count(uows, QaWordPack, world.ws_a) == 0
    with uows() as uow, pytest.raises(PermissionDenied):
        manage.do_import_rules(uow, world.inspector_sun, {"rules": []})


def test_a_rule_referring_to_other_rules_is_checked_against_them(uows, world):
    create(uows, world.admin_wang)  # installs the defaults too
    with uows() as uow:
        row = manage.do_create_rule(uow, world.admin_wang, key="promise_and_angry",
                                    name="承诺且客户生气",
                                    definition={"kind": "combination",
                                                "all_of": ["promise", "customer_angry"]})
        assert row.kind == "combination"
    with uows() as uow, pytest.raises(Invalid) as exc:
        manage.do_create_rule(uow, world.admin_wang, key="ghost_combo", name="x",
                              definition={"kind": "combination", "all_of": ["ghost"]})
    assert exc.value.details["errors"][0]["field"].startswith("definition")
