"""Permission-checked loads of quality-inspection objects. Another workspace's object is as
missing as one that never existed."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.errors import NotFound
from kefu.qa.models import QaRule, QaScorecard, QaWordPack

T = TypeVar("T", QaRule, QaWordPack, QaScorecard)

_MISSING: dict[type, tuple[str, str]] = {
    QaRule: ("质检规则不存在 / No such inspection rule", "rule_not_found"),
    QaWordPack: ("词库不存在 / No such word pack", "pack_not_found"),
    QaScorecard: ("评分卡不存在 / No such scorecard", "scorecard_not_found"),
}

#: who may read rule definitions, packs and scorecards (agents may not)
READ_PERMISSIONS = ("qa.review", "qa.manage")


def require_any(actor: Actor, *permissions: str) -> None:
    """``actor.require`` for the first of ``permissions`` unless the actor holds one."""
    if not any(actor.can(p) for p in permissions):
        actor.require(permissions[0])


def _access(actor: Actor, model: type[T], object_id: str, session: Session,
            permissions: tuple[str, ...]) -> T:
    require_any(actor, *permissions)
    obj = session.get(model, object_id)
    if obj is None or obj.workspace_id != actor.workspace_id:
        message, code = _MISSING[model]
        raise NotFound(message, code=code, id=object_id)
    return obj


def access_rule(actor: Actor, rule_id: str, *, session: Session, deleted: bool = False,
                permissions: tuple[str, ...] = READ_PERMISSIONS) -> QaRule:
    """A rule of the actor's workspace; a soft-deleted rule only with ``deleted=True``."""
    rule = _access(actor, QaRule, rule_id, session, permissions)
    if rule.deleted_at is not None and not deleted:
        message, code = _MISSING[QaRule]
        raise NotFound(message, code=code, id=rule_id)
    return rule


def access_pack(actor: Actor, pack_id: str, *, session: Session,
                permissions: tuple[str, ...] = READ_PERMISSIONS) -> QaWordPack:
    return _access(actor, QaWordPack, pack_id, session, permissions)


def access_scorecard(actor: Actor, scorecard_id: str, *, session: Session,
                     permissions: tuple[str, ...] = READ_PERMISSIONS) -> QaScorecard:
    return _access(actor, QaScorecard, scorecard_id, session, permissions)
