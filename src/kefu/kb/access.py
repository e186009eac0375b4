"""Permission-checked loads of knowledge-center objects."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.errors import NotFound
from kefu.kb.models import Category, Document, FaqEntry, SmallTalk, Synonym

T = TypeVar("T", FaqEntry, Category, Synonym, SmallTalk, Document)

_MISSING: dict[type, tuple[str, str]] = {
    FaqEntry: ("知识条目不存在 / No such knowledge entry", "entry_not_found"),
    Category: ("分类不存在 / No such category", "category_not_found"),
    Synonym: ("同义词不存在 / No such synonym group", "synonym_not_found"),
    SmallTalk: ("寒暄不存在 / No such small-talk item", "smalltalk_not_found"),
    Document: ("文档不存在 / No such document", "document_not_found"),
}


def _access(actor: Actor, model: type[T], object_id: str, session: Session) -> T:
    """Load one object for someone who may read the knowledge base; another workspace's
    object is as missing as one that never existed."""
    actor.require("kb.read")
    obj = session.get(model, object_id)
    if obj is None or obj.workspace_id != actor.workspace_id:
        message, code = _MISSING[model]
        raise NotFound(message, code=code, id=object_id)
    return obj


def access_entry(actor: Actor, entry_id: str, *, session: Session) -> FaqEntry:
    return _access(actor, FaqEntry, entry_id, session)


def access_category(actor: Actor, category_id: str, *, session: Session) -> Category:
    return _access(actor, Category, category_id, session)


def access_synonym(actor: Actor, synonym_id: str, *, session: Session) -> Synonym:
    return _access(actor, Synonym, synonym_id, session)


def access_smalltalk(actor: Actor, smalltalk_id: str, *, session: Session) -> SmallTalk:
    return _access(actor, SmallTalk, smalltalk_id, session)


def access_document(actor: Actor, document_id: str, *, session: Session) -> Document:
    return _access(actor, Document, document_id, session)
