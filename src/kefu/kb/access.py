"""Permission-checked loads of knowledge-center objects."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.errors import NotFound
from kefu.kb.models import Category, Document, FaqEntry, SmallTalk, Synonym


def access_entry(actor: Actor, entry_id: str, *, session: Session) -> FaqEntry:
    actor.require("kb.read")
    entry = session.get(FaqEntry, entry_id)
    if entry is None or entry.workspace_id != actor.workspace_id:
        raise NotFound("知识条目不存在 / No such knowledge entry", code="entry_not_found",
                       id=entry_id)
    return entry


def access_category(actor: Actor, category_id: str, *, session: Session) -> Category:
    actor.require("kb.read")
    cat = session.get(Category, category_id)
    if cat is None or cat.workspace_id != actor.workspace_id:
        raise NotFound("分类不存在 / No such category", code="category_not_found",
                       id=category_id)
    return cat


def access_synonym(actor: Actor, synonym_id: str, *, session: Session) -> Synonym:
    actor.require("kb.read")
    syn = session.get(Synonym, synonym_id)
    if syn is None or syn.workspace_id != actor.workspace_id:
        raise NotFound("同义词不存在 / No such synonym group", code="synonym_not_found",
                       id=synonym_id)
    return syn


def access_smalltalk(actor: Actor, smalltalk_id: str, *, session: Session) -> SmallTalk:
    actor.require("kb.read")
    st = session.get(SmallTalk, smalltalk_id)
    if st is None or st.workspace_id != actor.workspace_id:
        raise NotFound("寒暄不存在 / No such small-talk item", code="smalltalk_not_found",
                       id=smalltalk_id)
    return st


def access_document(actor: Actor, document_id: str, *, session: Session) -> Document:
    actor.require("kb.read")
    doc = session.get(Document, document_id)
    if doc is None or doc.workspace_id != actor.workspace_id:
        raise NotFound("文档不存在 / No such document", code="document_not_found",
                       id=document_id)
    return doc
