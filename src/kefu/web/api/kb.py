"""The knowledge center (知识中心): FAQ entries with versions, categories, the dictionary
(synonyms, protected terms, stop words), small talk, and the agents' knowledge search.

Reads need ``kb.read`` (every role); writes need ``kb.write`` (admins and supervisors). The
checks live in ``kefu.kb.actions`` / ``kefu.kb.access``; another workspace's object is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.pagination import MAX_LIMIT, Page
from kefu.kb import actions as kb_actions
from kefu.kb import queries as kb_queries
from kefu.kb.access import access_entry
from kefu.kb.schemas import (
    MAX_PHRASINGS,
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    EntryCreate,
    EntryRead,
    EntryUpdate,
    SmallTalkCreate,
    SmallTalkRead,
    SynonymCreate,
    SynonymRead,
    VersionRead,
)
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1/kb", tags=["kb"])

MAX_QUERY = 200


class RollbackRequest(BaseModel):
    version: int = Field(ge=1)


class PhrasingsRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_PHRASINGS)


class FieldDiffRead(BaseModel):
    """One changed field between two versions; ``lines`` is a unified diff without the
    header (lines start with ``+``, ``-``, `` `` or ``@@``)."""

    field: str
    before: Any
    after: Any
    lines: list[str]


class SearchHit(BaseModel):
    entry_id: str
    question: str
    answer: str
    confidence: float
    matched: str


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def field_diffs(diffs: list[kb_queries.FieldDiff]) -> list[kb_queries.FieldDiff]:
    """Drop validity "changes" that are the same instant written in another zone (a snapshot
    taken before reloading keeps the zone the editor sent; later ones are UTC)."""
    out = []
    for d in diffs:
        before, after = _instant(d.before), _instant(d.after)
        if before is not None and after is not None and before == after:
            continue
        out.append(d)
    return out


# -- entries ------------------------------------------------------------------------------

@router.get("/entries", response_model=Page[EntryRead])
def list_entries(request: Request, actor: Actor = Depends(current_actor),
                 q: str = Query("", max_length=MAX_QUERY),
                 status: Literal["draft", "published", "archived"] | None = None,
                 category_id: str | None = Query(None, max_length=40),
                 tag: str | None = Query(None, max_length=40),
                 limit: int = Query(50, ge=1, le=MAX_LIMIT),
                 offset: int = Query(0, ge=0)) -> Page[EntryRead]:
    """Entries whose question, phrasings or answer contain ``q``; ``category_id`` includes
    its sub-categories. Newest edits first."""
    with services(request).uows(readonly=True) as uow:
        return kb_queries.list_entries(uow.session, actor, q=q, status=status,
                                       category_id=category_id, tag=tag, limit=limit,
                                       offset=offset)


@router.post("/entries", response_model=EntryRead, status_code=201)
def create_entry(data: EntryCreate, request: Request,
                 actor: Actor = Depends(current_actor)) -> EntryRead:
    with services(request).uows() as uow:
        return EntryRead.model_validate(kb_actions.do_create_entry(uow, actor, data))


@router.get("/entries/{entry_id}", response_model=EntryRead)
def get_entry(entry_id: str, request: Request,
              actor: Actor = Depends(current_actor)) -> EntryRead:
    with services(request).uows(readonly=True) as uow:
        return EntryRead.model_validate(access_entry(actor, entry_id, session=uow.session))


@router.patch("/entries/{entry_id}", response_model=EntryRead)
def update_entry(entry_id: str, data: EntryUpdate, request: Request,
                 actor: Actor = Depends(current_actor)) -> EntryRead:
    """Change only the fields given; a new version is recorded when something changed."""
    with services(request).uows() as uow:
        return EntryRead.model_validate(kb_actions.do_update_entry(uow, actor, entry_id, data))


@router.delete("/entries/{entry_id}", status_code=204)
def delete_entry(entry_id: str, request: Request, actor: Actor = Depends(current_actor)) -> None:
    with services(request).uows() as uow:
        kb_actions.do_delete_entry(uow, actor, entry_id)


@router.get("/entries/{entry_id}/versions", response_model=list[VersionRead])
def entry_versions(entry_id: str, request: Request,
                   actor: Actor = Depends(current_actor)) -> list[VersionRead]:
    """Every version of an entry, newest first."""
    with services(request).uows(readonly=True) as uow:
        return kb_queries.versions(uow.session, actor, entry_id)


@router.get("/entries/{entry_id}/diff", response_model=list[FieldDiffRead])
def entry_diff(entry_id: str, request: Request, actor: Actor = Depends(current_actor),
               a: int | None = Query(None, ge=1),
               b: int | None = Query(None, ge=1)) -> list[FieldDiffRead]:
    """What changed from version ``a`` to version ``b``, field by field. ``b`` defaults to
    the current version and ``a`` to the one before ``b``."""
    with services(request).uows(readonly=True) as uow:
        if b is None:
            b = access_entry(actor, entry_id, session=uow.session).version
        if a is None:
            a = max(1, b - 1)
        diffs = field_diffs(kb_queries.diff_versions(uow.session, actor, entry_id, a, b))
    return [FieldDiffRead(field=d.field, before=d.before, after=d.after, lines=d.lines)
            for d in diffs]


@router.post("/entries/{entry_id}/rollback", response_model=EntryRead)
def rollback_entry(entry_id: str, data: RollbackRequest, request: Request,
                   actor: Actor = Depends(current_actor)) -> EntryRead:
    """Restore an old version's content as a new version (history is kept)."""
    with services(request).uows() as uow:
        return EntryRead.model_validate(
            kb_actions.do_rollback_entry(uow, actor, entry_id, data.version))


@router.post("/entries/{entry_id}/phrasings", response_model=EntryRead)
def add_phrasings(entry_id: str, data: PhrasingsRequest, request: Request,
                  actor: Actor = Depends(current_actor)) -> EntryRead:
    """Append similar phrasings (duplicates of existing ones are skipped)."""
    with services(request).uows() as uow:
        return EntryRead.model_validate(
            kb_actions.do_add_phrasings(uow, actor, entry_id, data.texts))


# -- categories ---------------------------------------------------------------------------

@router.get("/categories", response_model=list[CategoryRead])
def list_categories(request: Request,
                    actor: Actor = Depends(current_actor)) -> list[CategoryRead]:
    """The category tree in order, each with its full path ("售后/退款")."""
    with services(request).uows(readonly=True) as uow:
        return kb_queries.category_tree(uow.session, actor)


def _category_read(session: Session, actor: Actor, category_id: str) -> CategoryRead:
    """One category with its path (read from the tree, which computes the paths)."""
    session.flush()
    return next(c for c in kb_queries.category_tree(session, actor) if c.id == category_id)


@router.post("/categories", response_model=CategoryRead, status_code=201)
def create_category(data: CategoryCreate, request: Request,
                    actor: Actor = Depends(current_actor)) -> CategoryRead:
    with services(request).uows() as uow:
        category_id = kb_actions.do_create_category(uow, actor, data).id
        return _category_read(uow.session, actor, category_id)


@router.patch("/categories/{category_id}", response_model=CategoryRead)
def update_category(category_id: str, data: CategoryUpdate, request: Request,
                    actor: Actor = Depends(current_actor)) -> CategoryRead:
    """Rename, move (``parent_id``, null for the top level) or reorder a category."""
    with services(request).uows() as uow:
        kb_actions.do_update_category(uow, actor, category_id, data)
        return _category_read(uow.session, actor, category_id)


@router.delete("/categories/{category_id}", status_code=204)
def delete_category(category_id: str, request: Request,
                    actor: Actor = Depends(current_actor)) -> None:
    """Only an empty category (no sub-categories, no entries) can be deleted."""
    with services(request).uows() as uow:
        kb_actions.do_delete_category(uow, actor, category_id)


# -- dictionary ---------------------------------------------------------------------------

@router.get("/synonyms", response_model=list[SynonymRead])
def list_synonyms(request: Request, actor: Actor = Depends(current_actor)) -> list[SynonymRead]:
    """Synonym groups (``synonym``), protected terms (``term``) and stop words (``stop``)."""
    with services(request).uows(readonly=True) as uow:
        return kb_queries.list_synonyms(uow.session, actor)


@router.post("/synonyms", response_model=SynonymRead, status_code=201)
def create_synonym(data: SynonymCreate, request: Request,
                   actor: Actor = Depends(current_actor)) -> SynonymRead:
    with services(request).uows() as uow:
        return SynonymRead.model_validate(kb_actions.do_create_synonym(uow, actor, data))


@router.delete("/synonyms/{synonym_id}", status_code=204)
def delete_synonym(synonym_id: str, request: Request,
                   actor: Actor = Depends(current_actor)) -> None:
    with services(request).uows() as uow:
        kb_actions.do_delete_synonym(uow, actor, synonym_id)


# -- small talk ---------------------------------------------------------------------------

@router.get("/smalltalk", response_model=list[SmallTalkRead])
def list_smalltalk(request: Request,
                   actor: Actor = Depends(current_actor)) -> list[SmallTalkRead]:
    with services(request).uows(readonly=True) as uow:
        return kb_queries.list_smalltalk(uow.session, actor)


@router.post("/smalltalk", response_model=SmallTalkRead, status_code=201)
def create_smalltalk(data: SmallTalkCreate, request: Request,
                     actor: Actor = Depends(current_actor)) -> SmallTalkRead:
    with services(request).uows() as uow:
        return SmallTalkRead.model_validate(kb_actions.do_create_smalltalk(uow, actor, data))


@router.put("/smalltalk/{smalltalk_id}", response_model=SmallTalkRead)
def update_smalltalk(smalltalk_id: str, data: SmallTalkCreate, request: Request,
                     actor: Actor = Depends(current_actor)) -> SmallTalkRead:
    """Replace the phrasings and the reply."""
    with services(request).uows() as uow:
        return SmallTalkRead.model_validate(
            kb_actions.do_update_smalltalk(uow, actor, smalltalk_id, data))


@router.delete("/smalltalk/{smalltalk_id}", status_code=204)
def delete_smalltalk(smalltalk_id: str, request: Request,
                     actor: Actor = Depends(current_actor)) -> None:
    with services(request).uows() as uow:
        kb_actions.do_delete_smalltalk(uow, actor, smalltalk_id)


# -- search -------------------------------------------------------------------------------

@router.get("/search", response_model=list[SearchHit])
def search(request: Request, actor: Actor = Depends(current_actor),
           q: str = Query(min_length=1, max_length=MAX_QUERY),
           k: int = Query(5, ge=1, le=20),
           channel: Literal["web", "wechat", "email"] = "web") -> list[SearchHit]:
    """The agents' knowledge search: the best published entries valid now, with the answer
    for ``channel``, the confidence (0–1) and the phrasing that matched."""
    actor.require("kb.read")
    svc = services(request)
    hits = svc.kb.search(actor.workspace_id, q, now=svc.clock.now(), k=k)
    return [SearchHit(entry_id=h.entry.id, question=h.entry.question,
                      answer=h.entry.answer_for(channel), confidence=round(h.confidence, 4),
                      matched=h.matched) for h in hits]
