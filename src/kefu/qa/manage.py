"""Managing a workspace's inspection rules, word packs and scorecards.

Every write checks ``qa.manage``, is audited, bumps the object's ``version`` and emits
``RulesChanged`` (the registry then recompiles). A rule's definition is the
``kefu.qa.spec`` dict of the rule and is validated by ``spec.rule_from_dict`` plus a compile
against the workspace's packs and other rules, so a bad rule is refused when it is saved;
every problem comes back as one ``Invalid`` (422) listing ``{"field", "reason"}``.

While a workspace has no rule rows at all the registry inspects with the built-in default set.
The first rule created (or imported) therefore installs the defaults first, so adding one
rule never silently switches the defaults off.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team
from kefu.core.audit import record
from kefu.core.errors import Conflict, Invalid, NotFound
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork
from kefu.inbox.models import Inbox
from kefu.qa.access import (
    READ_PERMISSIONS,
    access_pack,
    access_rule,
    access_scorecard,
    require_any,
)
from kefu.qa.engine import compile_rules, default_rules
from kefu.qa.events import RulesChanged
from kefu.qa.models import QaRule, QaRuleVersion, QaScorecard, QaWordPack
from kefu.qa.rules import MAX_NUMBER, RULE_TYPES, AnyRule, WordPack
from kefu.qa.spec import (
    RuleSet,
    SpecError,
    pack_from_dict,
    pack_to_dict,
    rule_from_dict,
    rule_to_dict,
    ruleset_from_obj,
)
from kefu.qa.wordpacks import DEFAULT_PACKS

KEY_RE = re.compile(r"[a-z0-9_]{1,64}")
MAX_NAME = 200
MAX_PACK_NAME = 64
MAX_GROUP = 64
ITEM_FIELDS = ("deduction", "per_hit", "cap", "fatal", "group")
#: what a rule's definition holds besides the kind's own fields: set from the row
_ROW_FIELDS = ("id", "name", "enabled")

Errors = list[tuple[str, str]]


def _actor_id(actor: Actor) -> str | None:
    return actor.user_id or None


def _invalid(errors: Sequence[tuple[str, str]], *, what: str = "rule") -> Invalid:
    labels = {"rule": "规则无效 / The rule is invalid",
              "pack": "词库无效 / The word pack is invalid",
              "scorecard": "评分卡无效 / The scorecard is invalid",
              "import": "规则文件无效，未导入任何内容 / The rules file is invalid: nothing "
                        "was imported"}
    listed = "; ".join(f"{f}: {r}" if f else r for f, r in errors[:5])
    return Invalid(f"{labels[what]}: {listed}", code=f"invalid_{what}",
                   errors=[{"field": f, "reason": r} for f, r in errors])


def _changed(uow: UnitOfWork, workspace_id: str) -> None:
    uow.emit(RulesChanged(workspace_id=workspace_id))


# -- validation ---------------------------------------------------------------------------

def _guess_field(cls: type[AnyRule] | None, data: Mapping[str, Any], reason: str) -> str:
    """A check made in a rule's ``__post_init__`` names no field: find it in the reason."""
    if cls is None:
        return ""
    pattern = data.get("pattern")
    if isinstance(pattern, str) and pattern and repr(pattern) in reason:
        return "pattern"
    if "pattern" in reason or "regular expression" in reason or "quantifier" in reason:
        return "exclude" if "exclude" in {f.name for f in fields(cls)} else ""
    hints = (("no terms", "terms"), ("at_least", "n"), ("within", "within"),
             ("scope", "scope"), ("cap", "cap"), ("seconds", "seconds"),
             ("personal-data", "kinds"), ("threshold", "threshold"))
    names = {f.name for f in fields(cls)}
    for needle, name in hints:
        if needle in reason and name in names:
            return name
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}\b", reason):
            return name
    return ""


def _spec_errors(exc: SpecError, key: str, data: Mapping[str, Any],
                 prefix: str = "definition") -> Errors:
    kind = data.get("kind")
    cls = RULE_TYPES.get(kind) if isinstance(kind, str) else None
    out: Errors = []
    for raw_path, raw_reason in exc.errors:
        reason = raw_reason.removeprefix(f"rule {key}: ")
        path = raw_path or _guess_field(cls, data, reason)
        out.append((f"{prefix}.{path}" if path else prefix, reason))
    return out


def check_key(key: str) -> Errors:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        return [("key", "须为 1–64 个小写字母、数字或下划线 / 1–64 characters a-z, 0-9 or _")]
    return []


def check_name(name: str, field: str = "name", max_len: int = MAX_NAME) -> Errors:
    if not isinstance(name, str) or not name.strip():
        return [(field, "不能为空 / must not be empty")]
    if len(name.strip()) > max_len:
        return [(field, f"不能超过 {max_len} 字 / longer than {max_len} characters")]
    return []


def build_rule(key: str, name: str, definition: object, *,
               enabled: bool = True) -> tuple[AnyRule | None, Errors]:
    """The rule a definition describes, or the problems (``definition.<field>``)."""
    errors = check_key(key) + check_name(name)
    if not isinstance(definition, Mapping):
        return None, [*errors, ("definition", "须为 JSON 对象 / must be a JSON object")]
    body = {k: v for k, v in definition.items() if k not in _ROW_FIELDS}
    try:
        rule = rule_from_dict({**body, "id": key or "draft", "name": name.strip() or "draft",
                               "enabled": enabled})
    except SpecError as exc:
        return None, errors + _spec_errors(exc, key or "draft", body)
    return (None if errors else rule), errors


def workspace_packs(session: Session, workspace_id: str) -> dict[str, WordPack]:
    """The built-in packs overlaid by the workspace's own."""
    packs: dict[str, WordPack] = dict(DEFAULT_PACKS)
    for p in session.scalars(select(QaWordPack).where(QaWordPack.workspace_id == workspace_id)):
        try:
            packs[p.name] = WordPack(p.name, tuple(p.terms), tuple(p.exclusions))
        except ValueError:
            continue
    return packs


def _rows(session: Session, workspace_id: str, *, deleted: bool = False) -> list[QaRule]:
    stmt = select(QaRule).where(QaRule.workspace_id == workspace_id)
    if not deleted:
        stmt = stmt.where(QaRule.deleted_at.is_(None))
    return list(session.scalars(stmt.order_by(QaRule.created_at, QaRule.id)))


def _row_rule(row: QaRule) -> AnyRule | None:
    try:
        return rule_from_dict({**row.definition, "id": row.key, "name": row.name,
                               "enabled": True})
    except SpecError:
        return None


def effective_rules(session: Session, workspace_id: str, *,
                    exclude_key: str | None = None) -> list[AnyRule]:
    """The workspace's enabled rules (the defaults while it stores none)."""
    rows = _rows(session, workspace_id, deleted=True)
    if not rows:
        return [r for r in default_rules() if r.id != exclude_key]
    out = []
    for row in rows:
        if row.deleted_at is None and row.enabled and row.key != exclude_key:
            rule = _row_rule(row)
            if rule is not None:
                out.append(rule)
    return out


def compile_check(rule: AnyRule, others: Sequence[AnyRule],
                  packs: Mapping[str, WordPack]) -> Errors:
    """Compile ``rule`` with the packs and the other rules it may refer to; the problem,
    if any, as ``(definition, reason)``."""
    enabled = dataclasses.replace(rule, enabled=True)
    try:
        compile_rules([enabled], packs)
        return []
    except ValueError as alone:
        first = str(alone)
    try:
        compile_rules([*others, enabled], packs)
        return []
    except ValueError as exc:
        reason = str(exc) if f"rule {rule.id}:" in str(exc) else first
    reason = reason.removeprefix(f"rule {rule.id}: ")
    field = "definition.pack" if "word pack" in reason else "definition"
    return [(field, reason)]


def validate_rule(session: Session, workspace_id: str, key: str, name: str,
                  definition: object, *, enabled: bool = True) -> AnyRule:
    """Everything a rule must pass before it is stored or dry-run; ``Invalid`` otherwise."""
    rule, errors = build_rule(key, name, definition, enabled=enabled)
    if rule is None:
        raise _invalid(errors)
    errors = compile_check(rule, effective_rules(session, workspace_id, exclude_key=key),
                           workspace_packs(session, workspace_id))
    if errors:
        raise _invalid(errors)
    return rule


def _inbox_ids(session: Session, actor: Actor, ids: Iterable[str], field: str) -> list[str]:
    out: list[str] = []
    for i, inbox_id in enumerate(ids):
        if not isinstance(inbox_id, str):
            raise _invalid([(f"{field}[{i}]", "须为收件箱 ID / must be an inbox id")])
        if inbox_id in out:
            continue
        inbox = session.get(Inbox, inbox_id)
        if inbox is None or inbox.workspace_id != actor.workspace_id:
            raise NotFound("收件箱不存在 / No such inbox", code="inbox_not_found", id=inbox_id,
                           field=f"{field}[{i}]")
        out.append(inbox_id)
    return out


def _team_ids(session: Session, actor: Actor, ids: Iterable[str]) -> list[str]:
    out: list[str] = []
    for i, team_id in enumerate(ids):
        team = session.get(Team, team_id) if isinstance(team_id, str) else None
        if team is None or team.workspace_id != actor.workspace_id:
            raise NotFound("团队不存在 / No such team", code="team_not_found", id=str(team_id),
                           field=f"team_ids[{i}]")
        if team_id not in out:
            out.append(team_id)
    return out


# -- rules --------------------------------------------------------------------------------

def _definition(rule: AnyRule) -> dict[str, Any]:
    """The stored form: through the validator once, so equal rules store equal JSON
    (``5`` and ``5.0``)."""
    data = rule_to_dict(rule_from_dict(rule_to_dict(rule)))
    for k in _ROW_FIELDS:
        data.pop(k, None)
    return data


def snapshot(row: QaRule) -> dict[str, Any]:
    return {"name": row.name, "enabled": row.enabled, "inbox_ids": list(row.inbox_ids),
            "definition": dict(row.definition)}


def _version(uow: UnitOfWork, actor: Actor | None, row: QaRule) -> None:
    uow.session.add(QaRuleVersion(id=new_id(), workspace_id=row.workspace_id, rule_id=row.id,
                                  version=row.version, snapshot=snapshot(row),
                                  actor_id=_actor_id(actor) if actor else None,
                                  at=uow.clock.now()))


def _new_row(uow: UnitOfWork, actor: Actor, rule: AnyRule, *, enabled: bool,
             inbox_ids: list[str]) -> QaRule:
    now = uow.clock.now()
    row = QaRule(id=new_id(), workspace_id=actor.workspace_id, key=rule.id, name=rule.name,
                 kind=rule.kind, definition=_definition(rule), enabled=enabled,
                 inbox_ids=inbox_ids, version=1, created_by=_actor_id(actor), created_at=now,
                 updated_at=now, deleted_at=None)
    uow.session.add(row)
    uow.session.flush()
    _version(uow, actor, row)
    return row


def _bump(uow: UnitOfWork, actor: Actor, row: QaRule) -> None:
    row.version += 1
    row.updated_at = uow.clock.now()
    _version(uow, actor, row)


def _find_key(session: Session, workspace_id: str, key: str) -> QaRule | None:
    return session.scalar(select(QaRule).where(QaRule.workspace_id == workspace_id,
                                               QaRule.key == key))


def _ensure_rows(uow: UnitOfWork, actor: Actor) -> int:
    """Store the built-in defaults when the workspace has no rule rows (see module doc)."""
    if _rows(uow.session, actor.workspace_id, deleted=True):
        return 0
    for rule in default_rules():
        _new_row(uow, actor, rule, enabled=rule.enabled, inbox_ids=[])
    return len(default_rules())


def do_create_rule(uow: UnitOfWork, actor: Actor, *, key: str, name: str,
                   definition: Mapping[str, Any], enabled: bool = True,
                   inbox_ids: Sequence[str] = ()) -> QaRule:
    """A new rule. A key in use is a 409; the key of a deleted rule brings that rule back
    (as a new version), so old results keep naming it."""
    actor.require("qa.manage")
    rule = validate_rule(uow.session, actor.workspace_id, key, name, definition,
                         enabled=enabled)
    inboxes = _inbox_ids(uow.session, actor, inbox_ids, "inbox_ids")
    existing = _find_key(uow.session, actor.workspace_id, key)
    if existing is not None and existing.deleted_at is None:
        raise Conflict(f"规则标识 {key} 已存在 / A rule with key {key} already exists",
                       code="rule_key_exists", key=key, id=existing.id)
    installed = _ensure_rows(uow, actor)
    if existing is not None:
        existing.deleted_at = None
        row = existing
        _assign(row, rule, enabled, inboxes)
        _bump(uow, actor, row)
    else:
        existing = _find_key(uow.session, actor.workspace_id, key)  # a default just installed
        if existing is not None:
            raise Conflict(f"规则标识 {key} 已被内置规则使用 / Key {key} is a built-in rule's",
                           code="rule_key_exists", key=key, id=existing.id)
        row = _new_row(uow, actor, rule, enabled=enabled, inbox_ids=inboxes)
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.rule.create", object_type="qa_rule", object_id=row.id,
           data={"key": key, "kind": rule.kind, "version": row.version,
                 "defaults_installed": installed})
    _changed(uow, actor.workspace_id)
    return row


def _assign(row: QaRule, rule: AnyRule, enabled: bool, inbox_ids: list[str]) -> None:
    row.name = rule.name
    row.kind = rule.kind
    row.definition = _definition(rule)
    row.enabled = enabled
    row.inbox_ids = inbox_ids


def do_update_rule(uow: UnitOfWork, actor: Actor, rule_id: str, *, name: str | None = None,
                   definition: Mapping[str, Any] | None = None, enabled: bool | None = None,
                   inbox_ids: Sequence[str] | None = None, key: str | None = None) -> QaRule:
    """Change a rule (a new version); an unchanged save is a no-op. The key cannot change
    (results and scorecards name rules by key)."""
    actor.require("qa.manage")
    row = access_rule(actor, rule_id, session=uow.session)
    if key is not None and key != row.key:
        raise _invalid([("key", "规则标识不可修改 / the key of a rule cannot change")])
    new_name = row.name if name is None else name
    new_def = row.definition if definition is None else definition
    new_enabled = row.enabled if enabled is None else enabled
    rule = validate_rule(uow.session, actor.workspace_id, row.key, new_name, new_def,
                         enabled=new_enabled)
    inboxes = (list(row.inbox_ids) if inbox_ids is None
               else _inbox_ids(uow.session, actor, inbox_ids, "inbox_ids"))
    before = snapshot(row)
    _assign(row, rule, new_enabled, inboxes)
    after = snapshot(row)
    if _same(before, after):
        return row
    _bump(uow, actor, row)
    record(uow, workspace_id=row.workspace_id, actor_id=_actor_id(actor),
           action="qa.rule.update", object_type="qa_rule", object_id=row.id,
           data={"key": row.key, "version": row.version,
                 "changed": sorted(k for k in after if before[k] != after[k])})
    _changed(uow, row.workspace_id)
    return row


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, ensure_ascii=False) == json.dumps(
        b, sort_keys=True, ensure_ascii=False)


def do_set_rule_enabled(uow: UnitOfWork, actor: Actor, rule_id: str, enabled: bool) -> QaRule:
    return do_update_rule(uow, actor, rule_id, enabled=enabled)


def do_delete_rule(uow: UnitOfWork, actor: Actor, rule_id: str) -> QaRule:
    """Soft delete: the row stays (old results name it), the rule stops inspecting."""
    actor.require("qa.manage")
    row = access_rule(actor, rule_id, session=uow.session)
    row.deleted_at = uow.clock.now()
    _bump(uow, actor, row)
    record(uow, workspace_id=row.workspace_id, actor_id=_actor_id(actor),
           action="qa.rule.delete", object_type="qa_rule", object_id=row.id,
           data={"key": row.key, "version": row.version})
    _changed(uow, row.workspace_id)
    return row


def list_rules(session: Session, actor: Actor) -> list[QaRule]:
    """Every rule of the workspace that is not deleted, enabled or not."""
    require_any(actor, *READ_PERMISSIONS)
    return _rows(session, actor.workspace_id)


def uses_defaults(session: Session, actor: Actor) -> bool:
    """True while the workspace stores no rule: the built-in default set inspects."""
    require_any(actor, *READ_PERMISSIONS)
    return not _rows(session, actor.workspace_id, deleted=True)


def list_versions(session: Session, actor: Actor, rule_id: str) -> list[QaRuleVersion]:
    row = access_rule(actor, rule_id, session=session, deleted=True)
    return list(session.scalars(select(QaRuleVersion).where(QaRuleVersion.rule_id == row.id)
                                .order_by(QaRuleVersion.version.desc())))


def do_restore_version(uow: UnitOfWork, actor: Actor, rule_id: str, version: int) -> QaRule:
    """Bring back an old version's name, definition, inboxes and switch, as a new version
    (validated again: a version that no longer passes is refused)."""
    actor.require("qa.manage")
    row = access_rule(actor, rule_id, session=uow.session, deleted=True)
    old = uow.session.scalar(select(QaRuleVersion).where(QaRuleVersion.rule_id == row.id,
                                                         QaRuleVersion.version == version))
    if old is None:
        raise NotFound("该版本不存在 / No such version", code="version_not_found",
                       version=version)
    snap = old.snapshot
    enabled = bool(snap.get("enabled", True))
    rule = validate_rule(uow.session, actor.workspace_id, row.key, str(snap.get("name", "")),
                         snap.get("definition", {}), enabled=enabled)
    inbox_ids = [i for i in snap.get("inbox_ids", []) if _inbox_exists(uow.session, actor, i)]
    row.deleted_at = None
    _assign(row, rule, enabled, inbox_ids)
    _bump(uow, actor, row)
    record(uow, workspace_id=row.workspace_id, actor_id=_actor_id(actor),
           action="qa.rule.restore", object_type="qa_rule", object_id=row.id,
           data={"key": row.key, "from_version": version, "version": row.version})
    _changed(uow, row.workspace_id)
    return row


def _inbox_exists(session: Session, actor: Actor, inbox_id: object) -> bool:
    inbox = session.get(Inbox, inbox_id) if isinstance(inbox_id, str) else None
    return inbox is not None and inbox.workspace_id == actor.workspace_id


def do_install_defaults(uow: UnitOfWork, actor: Actor) -> list[QaRule]:
    """Store each built-in rule whose key the workspace does not have yet (idempotent:
    a second call adds nothing; a deleted default stays deleted)."""
    actor.require("qa.manage")
    added = []
    for rule in default_rules():
        if _find_key(uow.session, actor.workspace_id, rule.id) is None:
            added.append(_new_row(uow, actor, rule, enabled=rule.enabled, inbox_ids=[]))
    if added:
        record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
               action="qa.rule.install_defaults", object_type="workspace",
               object_id=actor.workspace_id, data={"keys": [r.key for r in added]})
        _changed(uow, actor.workspace_id)
    return added


# -- word packs ---------------------------------------------------------------------------

def _clean_terms(raw: object, field: str) -> tuple[list[str], Errors]:
    if not isinstance(raw, list | tuple) or not all(isinstance(t, str) for t in raw):
        return [], [(field, "须为字符串列表 / must be a list of strings")]
    return list(dict.fromkeys(t.strip() for t in raw if t.strip())), []


def check_pack(name: str, terms: object, exclusions: object) -> tuple[str, WordPack]:
    errors = check_name(name, "name", MAX_PACK_NAME)
    clean_terms, e1 = _clean_terms(terms, "terms")
    clean_excl, e2 = _clean_terms(exclusions, "exclusions")
    errors += e1 + e2
    if not errors and not clean_terms:
        errors.append(("terms", "词库不能为空：至少需要一个词 / a word pack needs at least one "
                                "term"))
    if errors:
        raise _invalid(errors, what="pack")
    clean_name = name.strip()
    try:
        pack = pack_from_dict(clean_name, {"terms": clean_terms, "exclusions": clean_excl},
                              path="pack")
    except SpecError as exc:
        raise _invalid([(p.removeprefix("pack."), r) for p, r in exc.errors],
                       what="pack") from None
    return clean_name, pack


def _pack_name_taken(session: Session, workspace_id: str, name: str,
                     own_id: str | None = None) -> None:
    other = session.scalar(select(QaWordPack).where(QaWordPack.workspace_id == workspace_id,
                                                    QaWordPack.name == name))
    if other is not None and other.id != own_id:
        raise Conflict(f"词库 {name} 已存在 / A word pack named {name} already exists",
                       code="pack_name_exists", name=name, id=other.id)


def rules_using_pack(session: Session, workspace_id: str, name: str) -> list[str]:
    """Keys of the enabled rules (not deleted) that read word pack ``name``."""
    rows = _rows(session, workspace_id, deleted=True)
    if not rows:
        return [r.id for r in default_rules() if getattr(r, "pack", None) == name]
    return [r.key for r in rows if r.deleted_at is None and r.enabled
            and r.definition.get("pack") == name]


def do_create_pack(uow: UnitOfWork, actor: Actor, *, name: str, terms: Sequence[str],
                   exclusions: Sequence[str] = ()) -> QaWordPack:
    """A word pack; one named like a built-in pack (``ad_law_absolute`` …) replaces it."""
    actor.require("qa.manage")
    clean_name, pack = check_pack(name, list(terms), list(exclusions))
    _pack_name_taken(uow.session, actor.workspace_id, clean_name)
    row = QaWordPack(id=new_id(), workspace_id=actor.workspace_id, name=clean_name,
                     terms=list(pack.terms), exclusions=list(pack.exclusions), version=1,
                     updated_by=_actor_id(actor), updated_at=uow.clock.now())
    uow.session.add(row)
    uow.session.flush()
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.pack.create", object_type="qa_word_pack", object_id=row.id,
           data={"name": row.name, "terms": len(row.terms)})
    _changed(uow, actor.workspace_id)
    return row


def do_update_pack(uow: UnitOfWork, actor: Actor, pack_id: str, *, name: str | None = None,
                   terms: Sequence[str] | None = None,
                   exclusions: Sequence[str] | None = None) -> QaWordPack:
    """Change a pack (a new version). A pack that enabled rules read cannot be renamed."""
    actor.require("qa.manage")
    row = access_pack(actor, pack_id, session=uow.session)
    clean_name, pack = check_pack(row.name if name is None else name,
                                  list(row.terms if terms is None else terms),
                                  list(row.exclusions if exclusions is None else exclusions))
    if clean_name != row.name:
        _pack_name_taken(uow.session, actor.workspace_id, clean_name, row.id)
        users = rules_using_pack(uow.session, actor.workspace_id, row.name)
        if users and row.name not in DEFAULT_PACKS:
            raise Conflict(f"词库正被规则使用，不能改名 / The pack is used by rules "
                           f"{', '.join(users)} and cannot be renamed",
                           code="pack_in_use", rules=users)
    if (clean_name, list(pack.terms), list(pack.exclusions)) == (
            row.name, list(row.terms), list(row.exclusions)):
        return row
    row.name = clean_name
    row.terms = list(pack.terms)
    row.exclusions = list(pack.exclusions)
    row.version += 1
    row.updated_by = _actor_id(actor)
    row.updated_at = uow.clock.now()
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.pack.update", object_type="qa_word_pack", object_id=row.id,
           data={"name": row.name, "terms": len(row.terms), "version": row.version})
    _changed(uow, actor.workspace_id)
    return row


def do_delete_pack(uow: UnitOfWork, actor: Actor, pack_id: str) -> None:
    """Delete a pack. Refused (409) while an enabled rule reads it, unless a built-in pack of
    the same name takes over again."""
    actor.require("qa.manage")
    row = access_pack(actor, pack_id, session=uow.session)
    users = rules_using_pack(uow.session, actor.workspace_id, row.name)
    if users and row.name not in DEFAULT_PACKS:
        raise Conflict(f"词库正被启用的规则使用，不能删除 / The pack is used by enabled rules "
                       f"{', '.join(users)}", code="pack_in_use", rules=users)
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.pack.delete", object_type="qa_word_pack", object_id=row.id,
           data={"name": row.name, "version": row.version})
    uow.session.delete(row)
    uow.session.flush()
    _changed(uow, actor.workspace_id)


def list_packs(session: Session, actor: Actor) -> list[QaWordPack]:
    require_any(actor, *READ_PERMISSIONS)
    return list(session.scalars(select(QaWordPack).where(
        QaWordPack.workspace_id == actor.workspace_id).order_by(QaWordPack.name)))


def pack_names(session: Session, actor: Actor) -> list[str]:
    """Every pack a rule may name: built-ins and the workspace's own."""
    return sorted({*DEFAULT_PACKS, *(p.name for p in list_packs(session, actor))})


# -- scorecards ---------------------------------------------------------------------------

@dataclass
class ScorecardInput:
    name: str
    base: float = 100.0
    group_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
    items: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    inbox_ids: Sequence[str] = ()
    team_ids: Sequence[str] = ()
    is_default: bool = False


def rule_keys(session: Session, workspace_id: str) -> list[str]:
    """Keys a scorecard item may name: the stored rules not deleted (the defaults' while the
    workspace stores none)."""
    rows = _rows(session, workspace_id, deleted=True)
    if not rows:
        return [r.id for r in default_rules()]
    return [r.key for r in rows if r.deleted_at is None]


def _number(value: object) -> bool:
    """A finite, reasonably sized number (not NaN, not Infinity, not a bool)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and abs(value) <= MAX_NUMBER)


def _check_item(key: str, raw: object) -> tuple[dict[str, Any], Errors]:
    path = f"items.{key}"
    if not isinstance(raw, Mapping):
        return {}, [(path, "须为对象 / must be an object")]
    errors: Errors = [(f"{path}.{k}", "未知字段 / unknown field")
                      for k in raw if k not in ITEM_FIELDS]
    out: dict[str, Any] = {}
    if "deduction" in raw:
        if _number(raw["deduction"]):
            out["deduction"] = float(raw["deduction"])
        else:
            errors.append((f"{path}.deduction", "须为数字 / must be a number"))
    for flag in ("per_hit", "fatal"):
        if flag in raw:
            if isinstance(raw[flag], bool):
                out[flag] = raw[flag]
            else:
                errors.append((f"{path}.{flag}", "须为 true/false / must be true or false"))
    if "cap" in raw:
        cap = raw["cap"]
        if cap is None or (_number(cap) and float(cap) >= 0):
            out["cap"] = None if cap is None else float(cap)
        else:
            errors.append((f"{path}.cap", "须为非负数字或空 / must be a non-negative number or "
                                          "null"))
    if "group" in raw:
        group = raw["group"]
        if isinstance(group, str) and group.strip() and len(group.strip()) <= MAX_GROUP:
            out["group"] = group.strip()
        else:
            errors.append((f"{path}.group", f"须为 1–{MAX_GROUP} 字的名称 / must be a name of "
                                            f"1–{MAX_GROUP} characters"))
    return out, errors


def check_scorecard(session: Session, actor: Actor, data: ScorecardInput) -> dict[str, Any]:
    errors = check_name(data.name)
    if not _number(data.base) or float(data.base) <= 0:
        errors.append(("base", "须为正数 / must be a positive number"))
    weights: dict[str, float] = {}
    if not isinstance(data.group_weights, Mapping):
        errors.append(("group_weights", "须为对象 / must be an object"))
    else:
        for group, w in data.group_weights.items():
            if not isinstance(group, str) or not group.strip() or len(group) > MAX_GROUP:
                errors.append((f"group_weights.{group}", "组名无效 / invalid group name"))
            elif not _number(w) or float(w) < 0:
                errors.append((f"group_weights.{group}",
                               "须为非负数字 / must be a non-negative number"))
            else:
                weights[group.strip()] = float(w)
    items: dict[str, Any] = {}
    if not isinstance(data.items, Mapping):
        errors.append(("items", "须为对象 / must be an object"))
    else:
        known = set(rule_keys(session, actor.workspace_id))
        for key, raw in data.items.items():
            if key not in known:
                errors.append((f"items.{key}", "没有这个规则标识 / no rule has this key"))
                continue
            item, item_errors = _check_item(key, raw)
            errors += item_errors
            if item:
                items[key] = item
    if errors:
        raise _invalid(errors, what="scorecard")
    return {"name": data.name.strip(), "base": float(data.base), "group_weights": weights,
            "items": items,
            "inbox_ids": _inbox_ids(session, actor, data.inbox_ids, "inbox_ids"),
            "team_ids": _team_ids(session, actor, data.team_ids),
            "is_default": bool(data.is_default)}


def _take_default(uow: UnitOfWork, actor: Actor, own_id: str) -> list[str]:
    """Make ``own_id`` the only default card: the previous default stops being one."""
    moved = []
    for other in uow.session.scalars(select(QaScorecard).where(
            QaScorecard.workspace_id == actor.workspace_id, QaScorecard.is_default.is_(True),
            QaScorecard.id != own_id)):
        other.is_default = False
        other.version += 1
        other.updated_at = uow.clock.now()
        moved.append(other.id)
    return moved


def do_create_scorecard(uow: UnitOfWork, actor: Actor, data: ScorecardInput) -> QaScorecard:
    """A scorecard. Marking it the default takes that role from the previous default card
    (at most one default per workspace)."""
    actor.require("qa.manage")
    values = check_scorecard(uow.session, actor, data)
    row = QaScorecard(id=new_id(), workspace_id=actor.workspace_id, version=1,
                      updated_at=uow.clock.now(), **values)
    uow.session.add(row)
    uow.session.flush()
    moved = _take_default(uow, actor, row.id) if row.is_default else []
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.scorecard.create", object_type="qa_scorecard", object_id=row.id,
           data={"name": row.name, "is_default": row.is_default, "default_from": moved})
    _changed(uow, actor.workspace_id)
    return row


def scorecard_values(row: QaScorecard) -> dict[str, Any]:
    return {"name": row.name, "base": row.base, "group_weights": dict(row.group_weights),
            "items": dict(row.items), "inbox_ids": list(row.inbox_ids),
            "team_ids": list(row.team_ids), "is_default": row.is_default}


def do_update_scorecard(uow: UnitOfWork, actor: Actor, scorecard_id: str,
                        changes: Mapping[str, Any]) -> QaScorecard:
    """Change some fields of a scorecard (a new version)."""
    actor.require("qa.manage")
    row = access_scorecard(actor, scorecard_id, session=uow.session)
    current = scorecard_values(row)
    unknown = sorted(k for k in changes if k not in current)
    if unknown:
        raise _invalid([(k, "未知字段 / unknown field") for k in unknown], what="scorecard")
    values = check_scorecard(uow.session, actor, ScorecardInput(**{**current, **changes}))
    if _same(values, current):
        return row
    for k, v in values.items():
        setattr(row, k, v)
    row.version += 1
    row.updated_at = uow.clock.now()
    moved = _take_default(uow, actor, row.id) if row.is_default else []
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.scorecard.update", object_type="qa_scorecard", object_id=row.id,
           data={"version": row.version, "changed": sorted(
               k for k in values if values[k] != current[k]), "default_from": moved})
    _changed(uow, actor.workspace_id)
    return row


def do_delete_scorecard(uow: UnitOfWork, actor: Actor, scorecard_id: str) -> None:
    actor.require("qa.manage")
    row = access_scorecard(actor, scorecard_id, session=uow.session)
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.scorecard.delete", object_type="qa_scorecard", object_id=row.id,
           data={"name": row.name, "version": row.version})
    uow.session.delete(row)
    uow.session.flush()
    _changed(uow, actor.workspace_id)


def list_scorecards(session: Session, actor: Actor) -> list[QaScorecard]:
    require_any(actor, *READ_PERMISSIONS)
    return list(session.scalars(select(QaScorecard).where(
        QaScorecard.workspace_id == actor.workspace_id).order_by(
            QaScorecard.is_default.desc(), QaScorecard.name, QaScorecard.id)))


# -- import / export ----------------------------------------------------------------------

DEFAULT_CARD_NAME = "默认评分卡"


def export_rules(session: Session, actor: Actor) -> dict[str, Any]:
    """The workspace's rules (deleted ones left out, disabled ones with ``enabled: false``),
    its own word packs and the default card's base and weights, as a ``kefu.qa.spec`` rules
    file (``kefu qa inspect --rules``). Inbox scopes, per-inbox/team cards and item overrides
    name workspace ids and are not part of the format."""
    require_any(actor, *READ_PERMISSIONS)
    rows = _rows(session, actor.workspace_id, deleted=True)
    rules: list[dict[str, Any]] = []
    if not rows:
        rules = [rule_to_dict(r) for r in default_rules()]
    for row in rows:
        if row.deleted_at is not None:
            continue
        rule = _row_rule(row)
        if rule is not None:
            rules.append(rule_to_dict(dataclasses.replace(rule, enabled=row.enabled)))
    packs = {p.name: {"terms": list(p.terms), "exclusions": list(p.exclusions)}
             for p in list_packs(session, actor)}
    card = session.scalar(select(QaScorecard).where(
        QaScorecard.workspace_id == actor.workspace_id, QaScorecard.is_default.is_(True)))
    scorecard = ({"base": card.base, "group_weights": dict(card.group_weights)}
                 if card is not None else {"base": 100.0, "group_weights": {}})
    return {"packs": packs, "rules": rules, "scorecard": scorecard}


@dataclass
class ImportResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    packs_created: list[str]
    packs_updated: list[str]
    scorecard: str | None  # "created" | "updated" | None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _parse_import(session: Session, workspace_id: str, data: object) -> tuple[
        Mapping[str, Any], RuleSet]:
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, Mapping):
        raise _invalid([("", "规则文件须为 JSON 列表或对象 / a rules file is a JSON list of "
                             "rules or an object with 'rules'")], what="import")
    file_packs = data.get("packs", {})
    # the file may name the workspace's own packs without carrying them
    own = {n: pack_to_dict(p) for n, p in workspace_packs(session, workspace_id).items()
           if DEFAULT_PACKS.get(n) != p}
    merged = {**own, **file_packs} if isinstance(file_packs, Mapping) else file_packs
    try:
        ruleset = ruleset_from_obj({**data, "packs": merged})
    except SpecError as exc:
        raise _invalid(exc.errors, what="import") from None
    errors: Errors = []
    for name in file_packs:
        errors += [(f"packs.{name}", r) for _, r in check_name(str(name), "name",
                                                                MAX_PACK_NAME)]
    for i, rule in enumerate(ruleset.rules):
        errors += [(f"rules[{i}].id", r) for _, r in check_key(rule.id)]
        errors += [(f"rules[{i}].name", r) for _, r in check_name(rule.name)]
    if errors:
        raise _invalid(errors, what="import")
    return data, ruleset


def _import_packs(uow: UnitOfWork, actor: Actor, names: Iterable[str], ruleset: RuleSet,
                  result: ImportResult) -> None:
    for name in names:
        pack = ruleset.packs[str(name)]
        row = uow.session.scalar(select(QaWordPack).where(
            QaWordPack.workspace_id == actor.workspace_id, QaWordPack.name == pack.name))
        if row is None:
            do_create_pack(uow, actor, name=pack.name, terms=pack.terms,
                           exclusions=pack.exclusions)
            result.packs_created.append(pack.name)
        elif (list(row.terms), list(row.exclusions)) != (list(pack.terms),
                                                         list(pack.exclusions)):
            do_update_pack(uow, actor, row.id, terms=pack.terms, exclusions=pack.exclusions)
            result.packs_updated.append(pack.name)


def _import_rule(uow: UnitOfWork, actor: Actor, rule: AnyRule, result: ImportResult) -> None:
    existing = _find_key(uow.session, actor.workspace_id, rule.id)
    if existing is None:
        row = _new_row(uow, actor, rule, enabled=rule.enabled, inbox_ids=[])
        result.created.append(rule.id)
    else:
        before = snapshot(existing)
        revived = existing.deleted_at is not None
        existing.deleted_at = None
        _assign(existing, rule, rule.enabled, list(existing.inbox_ids))
        if not revived and _same(before, snapshot(existing)):
            result.unchanged.append(rule.id)
            return
        row = existing
        _bump(uow, actor, row)
        (result.created if revived else result.updated).append(rule.id)
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.rule.import", object_type="qa_rule", object_id=row.id,
           data={"key": row.key, "version": row.version})


def _import_card(uow: UnitOfWork, actor: Actor, ruleset: RuleSet,
                 result: ImportResult) -> None:
    card = uow.session.scalar(select(QaScorecard).where(
        QaScorecard.workspace_id == actor.workspace_id, QaScorecard.is_default.is_(True)))
    base = ruleset.scorecard.base
    weights = dict(ruleset.scorecard.group_weights)
    if card is None:
        do_create_scorecard(uow, actor, ScorecardInput(
            name=DEFAULT_CARD_NAME, base=base, group_weights=weights, is_default=True))
        result.scorecard = "created"
    else:
        version = card.version
        do_update_scorecard(uow, actor, card.id, {"base": base, "group_weights": weights})
        result.scorecard = "updated" if card.version != version else None


def do_import_rules(uow: UnitOfWork, actor: Actor, data: object) -> ImportResult:
    """Import a rules file (parsed JSON). All or nothing: every problem of the file is
    reported and nothing is stored. Rules with a key the workspace has become new versions
    (a deleted one comes back); packs are created or replaced; the file's scorecard (if any)
    sets the default card's base and weights."""
    actor.require("qa.manage")
    data, ruleset = _parse_import(uow.session, actor.workspace_id, data)
    result = ImportResult([], [], [], [], [], None)
    file_packs = data.get("packs", {})
    _import_packs(uow, actor, file_packs if isinstance(file_packs, Mapping) else (), ruleset,
                  result)
    _ensure_rows(uow, actor)
    for rule in ruleset.rules:  # validated together above: stored as they are
        _import_rule(uow, actor, rule, result)
    if isinstance(data.get("scorecard"), Mapping):
        _import_card(uow, actor, ruleset, result)
    record(uow, workspace_id=actor.workspace_id, actor_id=_actor_id(actor),
           action="qa.rules.import", object_type="workspace", object_id=actor.workspace_id,
           data=result.as_dict())
    _changed(uow, actor.workspace_id)
    return result
