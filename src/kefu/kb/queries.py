"""Reads for knowledge-center pages and APIs."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.errors import NotFound
from kefu.core.pagination import Page
from kefu.kb.access import access_entry
from kefu.kb.models import Category, FaqEntry, FaqVersion, SmallTalk, Synonym
from kefu.kb.schemas import CategoryRead, EntryRead, SmallTalkRead, SynonymRead, VersionRead


def list_entries(session: Session, actor: Actor, *, q: str = "", status: str | None = None,
                 category_id: str | None = None, tag: str | None = None, limit: int = 50,
                 offset: int = 0) -> Page[EntryRead]:
    """Entries filtered by text (question, phrasings or answer contain ``q``), status,
    category (and its sub-categories) and tag; newest edits first."""
    actor.require("kb.read")
    stmt = select(FaqEntry).where(FaqEntry.workspace_id == actor.workspace_id)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(FaqEntry.question.ilike(like), FaqEntry.answer.ilike(like),
                              func.cast(FaqEntry.phrasings, FaqEntry.answer.type).ilike(like)))
    if status:
        stmt = stmt.where(FaqEntry.status == status)
    if category_id:
        stmt = stmt.where(FaqEntry.category_id.in_(descendants(session, actor, category_id)))
    rows = list(session.scalars(stmt.order_by(FaqEntry.updated_at.desc(), FaqEntry.id)))
    if tag:
        rows = [r for r in rows if tag in r.tags]
    items = [EntryRead.model_validate(r) for r in rows[offset:offset + limit]]
    return Page(items=items, total=len(rows), limit=limit, offset=offset)


def descendants(session: Session, actor: Actor, category_id: str) -> list[str]:
    cats = list(session.execute(select(Category.id, Category.parent_id).where(
        Category.workspace_id == actor.workspace_id)))
    children: dict[str | None, list[str]] = {}
    for cid, parent in cats:
        children.setdefault(parent, []).append(cid)
    out, stack = [], [category_id]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(children.get(node, []))
    return out


def category_tree(session: Session, actor: Actor) -> list[CategoryRead]:
    """Every category with its full path ("售后/退款"), in tree order."""
    actor.require("kb.read")
    cats = list(session.scalars(select(Category).where(
        Category.workspace_id == actor.workspace_id)))
    by_parent: dict[str | None, list[Category]] = {}
    for c in cats:
        by_parent.setdefault(c.parent_id, []).append(c)
    out: list[CategoryRead] = []

    def walk(parent: str | None, prefix: str) -> None:
        for c in sorted(by_parent.get(parent, []), key=lambda c: (c.position, c.name)):
            path = f"{prefix}/{c.name}" if prefix else c.name
            out.append(CategoryRead.model_validate(c).model_copy(update={"path": path}))
            walk(c.id, path)

    walk(None, "")
    return out


def versions(session: Session, actor: Actor, entry_id: str) -> list[VersionRead]:
    entry = access_entry(actor, entry_id, session=session)
    rows = session.scalars(select(FaqVersion).where(FaqVersion.entry_id == entry.id)
                           .order_by(FaqVersion.version.desc()))
    return [VersionRead.model_validate(v) for v in rows]


@dataclass(frozen=True)
class FieldDiff:
    field: str
    before: Any
    after: Any
    lines: list[str]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
    return "" if value is None else str(value)


def diff_versions(session: Session, actor: Actor, entry_id: str, a: int, b: int
                  ) -> list[FieldDiff]:
    """What changed between versions ``a`` and ``b`` of an entry, field by field, with a
    unified line diff of each changed field."""
    entry = access_entry(actor, entry_id, session=session)
    snaps = {v.version: v.snapshot for v in session.scalars(select(FaqVersion).where(
        FaqVersion.entry_id == entry.id, FaqVersion.version.in_((a, b))))}
    for n in (a, b):
        if n not in snaps:
            raise NotFound("没有这个版本 / No such version", code="version_not_found", version=n)
    out: list[FieldDiff] = []
    for key in snaps[b]:
        before, after = snaps[a].get(key), snaps[b].get(key)
        if before == after:
            continue
        lines = list(difflib.unified_diff(_text(before).splitlines(),
                                          _text(after).splitlines(), f"v{a}", f"v{b}",
                                          lineterm="", n=1))[2:]
        out.append(FieldDiff(key, before, after, lines))
    return out


def list_synonyms(session: Session, actor: Actor) -> list[SynonymRead]:
    actor.require("kb.read")
    rows = session.scalars(select(Synonym).where(Synonym.workspace_id == actor.workspace_id)
                           .order_by(Synonym.kind, Synonym.created_at, Synonym.id))
    return [SynonymRead.model_validate(s) for s in rows]


def list_smalltalk(session: Session, actor: Actor) -> list[SmallTalkRead]:
    actor.require("kb.read")
    rows = session.scalars(select(SmallTalk).where(
        SmallTalk.workspace_id == actor.workspace_id).order_by(SmallTalk.created_at,
                                                               SmallTalk.id))
    return [SmallTalkRead.model_validate(s) for s in rows]
