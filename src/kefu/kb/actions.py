"""Every write to the knowledge center. Each change is versioned (entries) and audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from kefu.accounts.actor import Actor
from kefu.core.audit import record
from kefu.core.errors import Conflict, Invalid, NotFound
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork
from kefu.kb.access import (
    access_category,
    access_entry,
    access_smalltalk,
    access_synonym,
)
from kefu.kb.events import DictionaryChanged, EntryChanged, SmallTalkChanged
from kefu.kb.models import Category, FaqEntry, FaqVersion, SmallTalk, Synonym
from kefu.kb.schemas import (
    MAX_QUESTION,
    PHRASING_SEPARATOR,
    CategoryCreate,
    CategoryUpdate,
    EntryCreate,
    EntryUpdate,
    SmallTalkCreate,
    SynonymCreate,
)
from kefu.nlp.normalise import normalise

SNAPSHOT_FIELDS = ("question", "phrasings", "answer", "channel_answers", "keywords", "tags",
                   "category_id", "related_ids", "status", "valid_from", "valid_until")
_SPACES = re.compile(r"\s+")


def _actor_id(actor: Actor) -> str | None:
    return actor.user_id or None


def _line(text: str, field: str, max_len: int = MAX_QUESTION) -> str:
    """One line of text: whitespace collapsed; must keep some words after normalising."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) > max_len:
        raise Invalid(f"“{field}”不能超过 {max_len} 字 / {field} is longer than {max_len}",
                      code="too_long", field=field, max_length=max_len)
    if not normalise(text):
        raise Invalid(f"“{field}”需要包含文字 / {field} needs words, not only symbols",
                      code="no_words", field=field, value=text[:50])
    if PHRASING_SEPARATOR in text:
        raise Invalid(f"“{field}”不能包含 {PHRASING_SEPARATOR} / {field} may not contain "
                      f"{PHRASING_SEPARATOR}", code="bad_separator", field=field)
    return text


def _phrasings(texts: list[str], question: str) -> list[str]:
    out: list[str] = []
    seen = {normalise(question)}
    for i, raw in enumerate(texts):
        if not raw.strip():
            continue
        text = _line(raw, f"phrasings[{i}]")
        key = normalise(text)
        if key in seen:
            continue
        seen.add(key)
        out.append(text)
    return out


def _labels(items: list[str], field: str, max_len: int = 40) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(items):
        text = _SPACES.sub(" ", raw).strip()
        if not text:
            continue
        if len(text) > max_len:
            raise Invalid(f"“{field}”每项不能超过 {max_len} 字 / each {field} item is longer "
                          f"than {max_len}", code="too_long", field=f"{field}[{i}]")
        if "," in text or "，" in text:
            raise Invalid(f"“{field}”每项不能包含逗号 / {field} items may not contain commas",
                          code="bad_separator", field=f"{field}[{i}]")
        if text not in out:
            out.append(text)
    return out


def _answer(text: str, field: str = "answer") -> str:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("答案不能为空 / The answer is empty", code="empty_answer", field=field)
    return text


def _validity(start: datetime | None, end: datetime | None) -> None:
    for name, value in (("valid_from", start), ("valid_until", end)):
        if value is not None and value.tzinfo is None:
            raise Invalid("时间需要带时区 / Times need a timezone (e.g. +08:00)",
                          code="naive_datetime", field=name)
    if start is not None and end is not None and end <= start:
        raise Invalid("失效时间必须晚于生效时间 / valid_until must be after valid_from",
                      code="bad_validity", field="valid_until")


def _related(uow: UnitOfWork, actor: Actor, ids: list[str], self_id: str | None) -> list[str]:
    out: list[str] = []
    for rid in ids:
        if rid == self_id or rid in out:
            continue
        access_entry(actor, rid, session=uow.session)
        out.append(rid)
    return out


def snapshot(entry: FaqEntry) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in SNAPSHOT_FIELDS:
        value = getattr(entry, f)
        if isinstance(value, datetime):  # one form per instant, so diffs show real changes
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, (list, dict)):
            value = value.copy()
        data[f] = value
    return data


def _version(uow: UnitOfWork, actor: Actor, entry: FaqEntry, note: str) -> None:
    uow.session.add(FaqVersion(id=new_id(), workspace_id=entry.workspace_id, entry_id=entry.id,
                               version=entry.version, snapshot=snapshot(entry),
                               actor_id=_actor_id(actor), note=note[:200],
                               created_at=uow.clock.now()))


def _changed(uow: UnitOfWork, entry: FaqEntry, *, deleted: bool = False) -> None:
    uow.emit(EntryChanged(workspace_id=entry.workspace_id, entry_id=entry.id, deleted=deleted))


# -- entries ------------------------------------------------------------------------------

def check_create_entry(uow: UnitOfWork, actor: Actor, data: EntryCreate) -> dict[str, Any]:
    actor.require("kb.write")
    question = _line(data.question, "question")
    values: dict[str, Any] = {
        "question": question,
        "phrasings": _phrasings(data.phrasings, question),
        "answer": _answer(data.answer),
        "channel_answers": {k: _answer(v, f"channel_answers.{k}")
                            for k, v in data.channel_answers.items() if v.strip()},
        "keywords": _labels(data.keywords, "keywords"),
        "tags": _labels(data.tags, "tags"),
        "category_id": None,
        "related_ids": _related(uow, actor, data.related_ids, None),
        "status": data.status,
        "valid_from": data.valid_from,
        "valid_until": data.valid_until,
    }
    _validity(data.valid_from, data.valid_until)
    if data.category_id:
        values["category_id"] = access_category(actor, data.category_id,
                                                session=uow.session).id
    return values


def do_create_entry(uow: UnitOfWork, actor: Actor, data: EntryCreate, *,
                    note: str = "") -> FaqEntry:
    values = check_create_entry(uow, actor, data)
    now = uow.clock.now()
    entry = FaqEntry(id=new_id(), workspace_id=actor.workspace_id, owner_id=_actor_id(actor),
                     version=1, created_at=now, updated_at=now, **values)
    uow.session.add(entry)
    uow.session.flush()
    _version(uow, actor, entry, note or "创建 / created")
    record(uow, workspace_id=entry.workspace_id, actor_id=_actor_id(actor),
           action="kb.entry.create", object_type="kb_entry", object_id=entry.id,
           data={"question": entry.question, "status": entry.status})
    _changed(uow, entry)
    return entry


def _apply(uow: UnitOfWork, actor: Actor, entry: FaqEntry, data: EntryUpdate) -> list[str]:
    given = data.model_fields_set
    new: dict[str, Any] = {}
    if "question" in given and data.question is not None:
        new["question"] = _line(data.question, "question")
    question = new.get("question", entry.question)
    if "phrasings" in given and data.phrasings is not None:
        new["phrasings"] = _phrasings(data.phrasings, question)
    elif "question" in new:
        new["phrasings"] = _phrasings(list(entry.phrasings), question)
    if "answer" in given and data.answer is not None:
        new["answer"] = _answer(data.answer)
    if "channel_answers" in given and data.channel_answers is not None:
        new["channel_answers"] = {k: _answer(v, f"channel_answers.{k}")
                                  for k, v in data.channel_answers.items() if v.strip()}
    if "keywords" in given and data.keywords is not None:
        new["keywords"] = _labels(data.keywords, "keywords")
    if "tags" in given and data.tags is not None:
        new["tags"] = _labels(data.tags, "tags")
    if "category_id" in given:
        new["category_id"] = (access_category(actor, data.category_id, session=uow.session).id
                              if data.category_id else None)
    if "related_ids" in given and data.related_ids is not None:
        new["related_ids"] = _related(uow, actor, data.related_ids, entry.id)
    if "status" in given and data.status is not None:
        new["status"] = data.status
    if "valid_from" in given:
        new["valid_from"] = data.valid_from
    if "valid_until" in given:
        new["valid_until"] = data.valid_until
    _validity(new.get("valid_from", entry.valid_from), new.get("valid_until", entry.valid_until))
    changed = [k for k, v in new.items() if getattr(entry, k) != v]
    for k in changed:
        setattr(entry, k, new[k])
    return changed


def do_update_entry(uow: UnitOfWork, actor: Actor, entry_id: str, data: EntryUpdate) -> FaqEntry:
    """Change some fields; a new version is recorded only when something changed (so a
    retried request is a no-op)."""
    actor.require("kb.write")
    entry = access_entry(actor, entry_id, session=uow.session)
    changed = _apply(uow, actor, entry, data)
    if not changed:
        return entry
    entry.version += 1
    entry.updated_at = uow.clock.now()
    _version(uow, actor, entry, data.note or "修改 / edited: " + ", ".join(changed))
    record(uow, workspace_id=entry.workspace_id, actor_id=_actor_id(actor),
           action="kb.entry.update", object_type="kb_entry", object_id=entry.id,
           data={"changed": changed, "version": entry.version})
    _changed(uow, entry)
    return entry


def do_add_phrasings(uow: UnitOfWork, actor: Actor, entry_id: str,
                     texts: list[str]) -> FaqEntry:
    """Append similar phrasings (the learning loop's one-click action)."""
    entry = access_entry(actor, entry_id, session=uow.session)
    return do_update_entry(uow, actor, entry.id, EntryUpdate(
        phrasings=[*entry.phrasings, *texts], note="新增相似问法 / phrasings added"))


def do_rollback_entry(uow: UnitOfWork, actor: Actor, entry_id: str, version: int) -> FaqEntry:
    actor.require("kb.write")
    entry = access_entry(actor, entry_id, session=uow.session)
    old = uow.session.scalar(select(FaqVersion).where(FaqVersion.entry_id == entry.id,
                                                      FaqVersion.version == version))
    if old is None:
        raise NotFound("没有这个版本 / No such version", code="version_not_found",
                       version=version)
    snap = dict(old.snapshot)
    related = [r for r in snap.get("related_ids", [])
               if uow.session.get(FaqEntry, r) is not None]
    category = snap.get("category_id")
    if category and uow.session.get(Category, category) is None:
        category = None
    data = EntryUpdate.model_validate({**snap, "related_ids": related, "category_id": category,
                                       "note": f"回滚到 v{version} / rolled back to v{version}"})
    return do_update_entry(uow, actor, entry.id, data)


def do_delete_entry(uow: UnitOfWork, actor: Actor, entry_id: str) -> None:
    actor.require("kb.write")
    entry = access_entry(actor, entry_id, session=uow.session)
    # other entries' related lists drop it
    for other in uow.session.scalars(select(FaqEntry).where(
            FaqEntry.workspace_id == entry.workspace_id, FaqEntry.id != entry.id)):
        if entry.id in other.related_ids:
            other.related_ids = [r for r in other.related_ids if r != entry.id]
    record(uow, workspace_id=entry.workspace_id, actor_id=_actor_id(actor),
           action="kb.entry.delete", object_type="kb_entry", object_id=entry.id,
           data={"question": entry.question, "snapshot": snapshot(entry)})
    _changed(uow, entry, deleted=True)
    uow.session.delete(entry)


# -- categories ---------------------------------------------------------------------------

def _check_sibling(uow: UnitOfWork, workspace_id: str, parent_id: str | None, name: str,
                   self_id: str | None = None) -> None:
    stmt = select(Category.id).where(Category.workspace_id == workspace_id,
                                     Category.name == name)
    stmt = stmt.where(Category.parent_id.is_(None) if parent_id is None
                      else Category.parent_id == parent_id)
    found = uow.session.scalar(stmt)
    if found is not None and found != self_id:
        raise Conflict("同级已有同名分类 / A sibling category has this name",
                       code="category_exists", name=name)


def do_create_category(uow: UnitOfWork, actor: Actor, data: CategoryCreate) -> Category:
    actor.require("kb.write")
    name = _line(data.name, "name", 80)
    parent = access_category(actor, data.parent_id, session=uow.session).id \
        if data.parent_id else None
    _check_sibling(uow, actor.workspace_id, parent, name)
    cat = Category(id=new_id(), workspace_id=actor.workspace_id, parent_id=parent, name=name,
                   position=data.position, created_at=uow.clock.now())
    uow.session.add(cat)
    uow.session.flush()
    record(uow, workspace_id=cat.workspace_id, actor_id=_actor_id(actor),
           action="kb.category.create", object_type="kb_category", object_id=cat.id,
           data={"name": name, "parent_id": parent})
    return cat


def ensure_category_path(uow: UnitOfWork, actor: Actor, path: str) -> str | None:
    """The id of the category at ``path`` ("售后/退款"), creating missing levels."""
    parent: str | None = None
    for raw in path.replace("／", "/").split("/"):
        name = raw.strip()
        if not name:
            continue
        stmt = select(Category).where(Category.workspace_id == actor.workspace_id,
                                      Category.name == name)
        stmt = stmt.where(Category.parent_id.is_(None) if parent is None
                          else Category.parent_id == parent)
        cat = uow.session.scalar(stmt)
        if cat is None:
            cat = do_create_category(uow, actor, CategoryCreate(name=name, parent_id=parent))
        parent = cat.id
    return parent


def do_update_category(uow: UnitOfWork, actor: Actor, category_id: str,
                       data: CategoryUpdate) -> Category:
    actor.require("kb.write")
    cat = access_category(actor, category_id, session=uow.session)
    given = data.model_fields_set
    parent = cat.parent_id
    if "parent_id" in given:
        parent = data.parent_id
        seen = {cat.id}
        node = parent
        while node is not None:  # refuse cycles: the new parent may not be below this node
            if node in seen:
                raise Invalid("不能移动到自己的下级 / A category cannot move under itself",
                              code="category_cycle", field="parent_id")
            seen.add(node)
            node = access_category(actor, node, session=uow.session).parent_id
    name = _line(data.name, "name", 80) if data.name is not None else cat.name
    _check_sibling(uow, cat.workspace_id, parent, name, cat.id)
    cat.name, cat.parent_id = name, parent
    if data.position is not None:
        cat.position = data.position
    record(uow, workspace_id=cat.workspace_id, actor_id=_actor_id(actor),
           action="kb.category.update", object_type="kb_category", object_id=cat.id,
           data={"name": name, "parent_id": parent})
    return cat


def do_delete_category(uow: UnitOfWork, actor: Actor, category_id: str) -> None:
    actor.require("kb.write")
    cat = access_category(actor, category_id, session=uow.session)
    children = uow.session.scalar(select(func.count()).where(Category.parent_id == cat.id))
    entries = uow.session.scalar(select(func.count()).where(FaqEntry.category_id == cat.id))
    if children or entries:
        raise Conflict("分类不为空 / The category is not empty", code="category_not_empty",
                       children=children, entries=entries)
    record(uow, workspace_id=cat.workspace_id, actor_id=_actor_id(actor),
           action="kb.category.delete", object_type="kb_category", object_id=cat.id,
           data={"name": cat.name})
    uow.session.delete(cat)


# -- dictionary and small talk ------------------------------------------------------------

def do_create_synonym(uow: UnitOfWork, actor: Actor, data: SynonymCreate) -> Synonym:
    actor.require("kb.write")
    terms: list[str] = []
    for i, raw in enumerate(data.terms):
        t = normalise(raw)
        if not t:
            raise Invalid("词条需要包含文字 / A term needs words", code="no_words",
                          field=f"terms[{i}]")
        if len(t) > 40:
            raise Invalid("词条太长 / The term is too long", code="too_long",
                          field=f"terms[{i}]")
        if t not in terms:
            terms.append(t)
    if data.kind == "synonym" and len(terms) < 2:
        raise Invalid("同义词组至少需要两个词 / A synonym group needs two terms or more",
                      code="too_few_terms", field="terms")
    syn = Synonym(id=new_id(), workspace_id=actor.workspace_id, kind=data.kind, terms=terms,
                  created_at=uow.clock.now())
    uow.session.add(syn)
    uow.session.flush()
    record(uow, workspace_id=syn.workspace_id, actor_id=_actor_id(actor),
           action="kb.synonym.create", object_type="kb_synonym", object_id=syn.id,
           data={"kind": syn.kind, "terms": terms})
    uow.emit(DictionaryChanged(workspace_id=syn.workspace_id))
    return syn


def do_delete_synonym(uow: UnitOfWork, actor: Actor, synonym_id: str) -> None:
    actor.require("kb.write")
    syn = access_synonym(actor, synonym_id, session=uow.session)
    record(uow, workspace_id=syn.workspace_id, actor_id=_actor_id(actor),
           action="kb.synonym.delete", object_type="kb_synonym", object_id=syn.id,
           data={"kind": syn.kind, "terms": syn.terms})
    uow.session.delete(syn)
    uow.emit(DictionaryChanged(workspace_id=syn.workspace_id))


def do_create_smalltalk(uow: UnitOfWork, actor: Actor, data: SmallTalkCreate) -> SmallTalk:
    actor.require("kb.write")
    phr = _phrasings(data.phrasings[1:], _line(data.phrasings[0], "phrasings[0]"))
    st = SmallTalk(id=new_id(), workspace_id=actor.workspace_id,
                   phrasings=[_line(data.phrasings[0], "phrasings[0]"), *phr],
                   reply=_answer(data.reply, "reply"), created_at=uow.clock.now())
    uow.session.add(st)
    uow.session.flush()
    record(uow, workspace_id=st.workspace_id, actor_id=_actor_id(actor),
           action="kb.smalltalk.create", object_type="kb_smalltalk", object_id=st.id,
           data={"phrasings": st.phrasings})
    uow.emit(SmallTalkChanged(workspace_id=st.workspace_id))
    return st


def do_update_smalltalk(uow: UnitOfWork, actor: Actor, smalltalk_id: str,
                        data: SmallTalkCreate) -> SmallTalk:
    actor.require("kb.write")
    st = access_smalltalk(actor, smalltalk_id, session=uow.session)
    first = _line(data.phrasings[0], "phrasings[0]")
    st.phrasings = [first, *_phrasings(data.phrasings[1:], first)]
    st.reply = _answer(data.reply, "reply")
    record(uow, workspace_id=st.workspace_id, actor_id=_actor_id(actor),
           action="kb.smalltalk.update", object_type="kb_smalltalk", object_id=st.id,
           data={"phrasings": st.phrasings})
    uow.emit(SmallTalkChanged(workspace_id=st.workspace_id))
    return st


def do_delete_smalltalk(uow: UnitOfWork, actor: Actor, smalltalk_id: str) -> None:
    actor.require("kb.write")
    st = access_smalltalk(actor, smalltalk_id, session=uow.session)
    record(uow, workspace_id=st.workspace_id, actor_id=_actor_id(actor),
           action="kb.smalltalk.delete", object_type="kb_smalltalk", object_id=st.id,
           data={"phrasings": st.phrasings})
    uow.session.delete(st)
    uow.emit(SmallTalkChanged(workspace_id=st.workspace_id))
