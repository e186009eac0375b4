"""Knowledge-center pages (知识中心): the entry list, the entry form, an entry with its
history / diff / rollback, the category tree, and the dictionary (synonyms, protected terms,
stop words, small talk).

Everyone with ``kb.read`` sees the pages; only ``kb.write`` (admins, supervisors) sees the
forms, and a POST from anyone else is a 403 page. Forms carry the session's CSRF token in a
hidden field. A refused write re-renders the form with the error next to the field and the
user's input kept. Every write goes through ``kefu.kb.actions`` in one unit of work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kefu.accounts import queries as account_queries
from kefu.accounts.actor import Actor
from kefu.core.errors import DomainError, NotFound
from kefu.core.uow import UnitOfWork
from kefu.kb import actions as kb_actions
from kefu.kb import queries as kb_queries
from kefu.kb.access import access_category, access_entry, access_smalltalk, access_synonym
from kefu.kb.models import CHANNEL_KEYS, ENTRY_STATUSES, FaqEntry
from kefu.kb.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    EntryCreate,
    EntryRead,
    EntryUpdate,
    SmallTalkCreate,
    SynonymCreate,
)
from kefu.web.api.kb import field_diffs
from kefu.web.deps import Auth, check_csrf, services
from kefu.web.i18n import Translator
from kefu.web.ui.render import (
    Form,
    error_page,
    field,
    fields,
    locale_of,
    page_gate,
    read_form,
    redirect,
    render,
    validation_message,
)

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
#: how many entries the "related entries" picker offers
RELATED_CHOICES = 200
NOTICES = frozenset({"created", "saved", "deleted", "rolled_back"})
SYNONYM_KINDS = ("synonym", "term", "stop")
DEFAULT_TZ = "Asia/Shanghai"
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
_LABEL_SPLIT = re.compile(r"[,，、]")
_TERM_SPLIT = re.compile(r"[,，、=＝\n]")
_INDEX = re.compile(r"\[\d+\]|\.\w+$")


class FormProblem(Exception):
    """A form value the page itself refuses (before any action runs)."""

    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field_name


@dataclass(frozen=True)
class Problem:
    """What to show next to a refused form: the message and the field it is about."""

    message: str
    field: str = ""


# -- time zone ----------------------------------------------------------------------------

def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def fmt_dt(value: datetime | None, tz: str) -> str:
    return "" if value is None else value.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


def to_local_input(value: datetime | str | None, tz: str) -> str:
    """A stored UTC time (or a snapshot's ISO text) as a ``datetime-local`` value."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
    return value.astimezone(zone(tz)).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str, tz: str, name: str, t: Translator) -> datetime | None:
    """A ``datetime-local`` value read in the workspace's time zone (aware)."""
    text = text.strip()
    if not text:
        return None
    for fmt in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)  # noqa: DTZ007 - the zone is attached below
        except ValueError:
            continue
        return naive.replace(tzinfo=zone(tz))
    raise FormProblem(t("kb.error.bad_datetime", field=t(f"field.{name}")), name)


# -- form values --------------------------------------------------------------------------

def lines(text: str) -> list[str]:
    return [s.strip() for s in text.replace("\r\n", "\n").split("\n") if s.strip()]


def labels(text: str) -> list[str]:
    return [s.strip() for s in _LABEL_SPLIT.split(text) if s.strip()]


def terms(text: str) -> list[str]:
    return [s.strip() for s in _TERM_SPLIT.split(text) if s.strip()]


def entry_form(entry: EntryRead | None, tz: str) -> dict[str, Any]:
    """The raw form values of an entry (or of an empty new entry)."""
    if entry is None:
        return {"question": "", "phrasings": "", "answer": "", "keywords": "", "tags": "",
                "category_id": "", "related_ids": [], "status": "draft", "valid_from": "",
                "valid_until": "", "note": "", **{f"answer_{c}": "" for c in CHANNEL_KEYS}}
    return {"question": entry.question, "phrasings": "\n".join(entry.phrasings),
            "answer": entry.answer, "keywords": ", ".join(entry.keywords),
            "tags": ", ".join(entry.tags), "category_id": entry.category_id or "",
            "related_ids": list(entry.related_ids), "status": entry.status,
            "valid_from": to_local_input(entry.valid_from, tz),
            "valid_until": to_local_input(entry.valid_until, tz), "note": "",
            **{f"answer_{c}": entry.channel_answers.get(c, "") for c in CHANNEL_KEYS}}


def form_values(form: Form) -> dict[str, Any]:
    """What the user typed, kept as typed, to show again after a refusal."""
    values = entry_form(None, DEFAULT_TZ)
    for key in values:
        values[key] = fields(form, key) if key == "related_ids" else field(form, key)
    return values


def entry_data(form: Form, tz: str, t: Translator) -> dict[str, Any]:
    """The entry fields of a submitted form, ready for ``EntryCreate`` / ``EntryUpdate``."""
    status = field(form, "status", "draft")
    return {
        "question": field(form, "question").strip(),
        "phrasings": lines(field(form, "phrasings")),
        "answer": field(form, "answer"),
        "channel_answers": {c: field(form, f"answer_{c}") for c in CHANNEL_KEYS
                            if field(form, f"answer_{c}").strip()},
        "keywords": labels(field(form, "keywords")),
        "tags": labels(field(form, "tags")),
        "category_id": field(form, "category_id") or None,
        "related_ids": [r for r in fields(form, "related_ids") if r],
        "status": status,
        "valid_from": parse_local(field(form, "valid_from"), tz, "valid_from", t),
        "valid_until": parse_local(field(form, "valid_until"), tz, "valid_until", t),
    }


def problem_of(exc: Exception, t: Translator) -> Problem:
    if isinstance(exc, DomainError):
        name = str(exc.details.get("field", ""))
        return Problem(t.message(exc.message), _INDEX.sub("", name))
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        loc = [str(p) for p in errors[0].get("loc", ()) if not isinstance(p, int)] \
            if errors else []
        name = loc[0] if loc else ""
        if name == "channel_answers" and len(loc) > 1:
            name = f"answer_{loc[1]}"
        return Problem(validation_message(exc, t), name)
    if isinstance(exc, FormProblem):
        return Problem(exc.message, exc.field)
    raise exc


# -- access and page frame ----------------------------------------------------------------

def _gate(request: Request, *, write: bool) -> tuple[Auth, str] | Response:
    return page_gate(request, *(("kb.write",) if write else ("kb.write", "kb.read")))


def _workspace(request: Request, actor: Actor) -> tuple[str, str]:
    """The workspace's (name, timezone)."""
    with services(request).uows(readonly=True) as uow:
        ws = account_queries.get_workspace(uow.session, actor.workspace_id)
        return (ws.name, ws.timezone) if ws is not None else ("", DEFAULT_TZ)


def _page(request: Request, auth: Auth, locale: str, template: str, *, tab: str,
          status: int = 200, problem: Problem | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    workspace_name, tz = _workspace(request, auth.actor)
    key = request.query_params.get("notice")
    notice = t(f"kb.notice.{key}") if key in NOTICES and problem is None else None
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section="kb", tab=tab, workspace_name=workspace_name,
                  error=problem.message if problem else None,
                  error_field=problem.field if problem else "", notice=notice,
                  can_write=auth.actor.can("kb.write"), tz=tz,
                  fmt_dt=lambda v: fmt_dt(v, tz), statuses=ENTRY_STATUSES,
                  channels=CHANNEL_KEYS, **context)


def _not_found(request: Request, auth: Auth, locale: str, exc: DomainError) -> Response:
    t = Translator(locale)
    return error_page(request, locale=locale, auth=auth, status=404,
                      title_key="kb.error.not_found", message=t.message(exc.message))


Rerender = Callable[[Auth, str, int, Problem], Response]


def _write(request: Request, form: Form, *, action: Callable[[UnitOfWork, Actor, str,
                                                               Translator], str],
           rerender: Rerender) -> Response:
    """Run one write: gate, CSRF, the action in a unit of work, then redirect to the URL it
    returns. A missing object is a 404 page; any other refusal re-renders the form."""
    gate = _gate(request, write=True)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    t = Translator(locale)
    try:
        check_csrf(request, auth, field(form, "csrf_token"))
    except DomainError:
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title", message=t("error.csrf.body"))
    _, tz = _workspace(request, auth.actor)
    try:
        with services(request).uows() as uow:
            target = action(uow, auth.actor, tz, t)
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, auth, locale, exc)
        return rerender(auth, locale, exc.status, problem_of(exc, t))
    except (ValidationError, FormProblem) as exc:
        return rerender(auth, locale, 422, problem_of(exc, t))
    return redirect(target)


def _entries(session: Session, actor: Actor, ids: list[str]) -> list[FaqEntry]:
    """The entries of ``ids`` this actor may see, skipping ids that are gone."""
    out = []
    for rid in ids:
        try:
            out.append(access_entry(actor, rid, session=session))
        except NotFound:
            continue
    return out


def _offset(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        return 0


# -- entry list ---------------------------------------------------------------------------

@router.get("/app/kb")
def entries_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    params = request.query_params
    q = params.get("q", "")[:200]
    status = params.get("status") if params.get("status") in ENTRY_STATUSES else None
    tag = params.get("tag", "").strip()[:40] or None
    offset = _offset(request)
    with services(request).uows(readonly=True) as uow:
        cats = kb_queries.category_tree(uow.session, auth.actor)
        cat_ids = {c.id for c in cats}
        category_id = params.get("category_id") if params.get("category_id") in cat_ids \
            else None
        page = kb_queries.list_entries(uow.session, auth.actor, q=q, status=status,
                                       category_id=category_id, tag=tag, limit=PER_PAGE,
                                       offset=offset)
    filters = {k: v for k, v in (("q", q), ("status", status), ("category_id", category_id),
                                 ("tag", tag)) if v}
    return _page(request, auth, locale, "kb/list.html", tab="entries",
                 entries=list(page.items), total=page.total, offset=offset, per_page=PER_PAGE,
                 filters=filters, query=urlencode(filters), categories=cats,
                 paths={c.id: c.path for c in cats})


# -- the entry form -----------------------------------------------------------------------

def _form_page(request: Request, auth: Auth, locale: str, *, entry_id: str | None,
               values: dict[str, Any] | None = None, status: int = 200,
               problem: Problem | None = None) -> Response:
    _, tz = _workspace(request, auth.actor)
    with services(request).uows(readonly=True) as uow:
        entry = (EntryRead.model_validate(access_entry(auth.actor, entry_id,
                                                       session=uow.session))
                 if entry_id else None)
        cats = kb_queries.category_tree(uow.session, auth.actor)
        choices = [e for e in kb_queries.list_entries(uow.session, auth.actor,
                                                      limit=RELATED_CHOICES).items
                   if e.id != entry_id]
        names = account_queries.user_names(uow.session, auth.actor.workspace_id)
    if values is None:
        values = entry_form(entry, tz)
    chosen = set(values["related_ids"])
    known = {e.id for e in choices}
    if chosen - known:  # keep related entries older than the picker's choices
        with services(request).uows(readonly=True) as uow:
            choices.extend(EntryRead.model_validate(row)
                           for row in _entries(uow.session, auth.actor, sorted(chosen - known)))
    owner = names.get(entry.owner_id or "", "") if entry else auth.actor.name
    return _page(request, auth, locale, "kb/form.html", tab="entries", status=status,
                 problem=problem, entry=entry, values=values, categories=cats,
                 choices=choices, owner=owner)


@router.get("/app/kb/new")
def new_entry_page(request: Request) -> Response:
    gate = _gate(request, write=True)
    if isinstance(gate, Response):
        return gate
    # prefilled from the bot's learning loop: ?question=…&phrasings=one%0Aper%0Aline
    values = entry_form(None, DEFAULT_TZ)
    values["question"] = (request.query_params.get("question") or "")[:200]
    values["phrasings"] = (request.query_params.get("phrasings") or "")[:20_000]
    return _form_page(request, *gate, entry_id=None, values=values)


@router.post("/app/kb/entries")
async def entry_create(request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        data = EntryCreate.model_validate(entry_data(form, tz, t))
        entry = kb_actions.do_create_entry(uow, actor, data, note=field(form, "note"))
        return f"/app/kb/entries/{entry.id}?notice=created"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _form_page(request, auth, locale, entry_id=None, values=form_values(form),
                          status=status, problem=problem)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.get("/app/kb/entries/{entry_id}/edit")
def edit_entry_page(entry_id: str, request: Request) -> Response:
    gate = _gate(request, write=True)
    if isinstance(gate, Response):
        return gate
    try:
        return _form_page(request, *gate, entry_id=entry_id)
    except DomainError as exc:
        if exc.status != 404:
            raise
        return _not_found(request, *gate, exc)


@router.post("/app/kb/entries/{entry_id}")
async def entry_update(entry_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        access_entry(actor, entry_id, session=uow.session)  # a missing entry is a 404 first
        data = EntryUpdate.model_validate({**entry_data(form, tz, t),
                                           "note": field(form, "note").strip()})
        kb_actions.do_update_entry(uow, actor, entry_id, data)
        return f"/app/kb/entries/{entry_id}?notice=saved"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _form_page(request, auth, locale, entry_id=entry_id, values=form_values(form),
                          status=status, problem=problem)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


# -- one entry: details, history, diff, rollback -------------------------------------------

def _diff_class(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"


def _diff_lines(d: kb_queries.FieldDiff, tz: str) -> list[tuple[str, str]]:
    """The diff's lines with their CSS class; validity times shown in the workspace zone."""
    if d.field in ("valid_from", "valid_until"):
        lines = [f"-{to_local_input(d.before, tz).replace('T', ' ')}" if d.before else None,
                 f"+{to_local_input(d.after, tz).replace('T', ' ')}" if d.after else None]
        return [(_diff_class(x), x) for x in lines if x]
    return [(_diff_class(x), x) for x in d.lines]


def _version_param(request: Request, name: str) -> int | None:
    try:
        value = int(request.query_params.get(name, ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def _entry_page(request: Request, auth: Auth, locale: str, entry_id: str, *,
                status: int = 200, problem: Problem | None = None) -> Response:
    _, tz = _workspace(request, auth.actor)
    with services(request).uows(readonly=True) as uow:
        try:
            entry = EntryRead.model_validate(access_entry(auth.actor, entry_id,
                                                          session=uow.session))
        except DomainError as exc:
            if exc.status != 404:
                raise
            return _not_found(request, auth, locale, exc)
        history = kb_queries.versions(uow.session, auth.actor, entry_id)
        numbers = [v.version for v in history]
        a = _version_param(request, "a")
        b = _version_param(request, "b")
        if a is None or b is None or a not in numbers or b not in numbers:
            a, b = (numbers[1], numbers[0]) if len(numbers) > 1 else (None, None)
        diff = ([{"field": d.field, "lines": _diff_lines(d, tz)}
                 for d in field_diffs(kb_queries.diff_versions(uow.session, auth.actor,
                                                               entry_id, a, b))]
                if a is not None and b is not None else None)
        cats = {c.id: c.path for c in kb_queries.category_tree(uow.session, auth.actor)}
        related = [{"id": row.id, "question": row.question}
                   for row in _entries(uow.session, auth.actor, entry.related_ids)]
        names = account_queries.user_names(uow.session, auth.actor.workspace_id)
    return _page(request, auth, locale, "kb/entry.html", tab="entries", status=status,
                 problem=problem, entry=entry, history=history, diff=diff, diff_a=a,
                 diff_b=b, category_path=cats.get(entry.category_id or "", ""),
                 related=related, names=names)


@router.get("/app/kb/entries/{entry_id}")
def entry_page(entry_id: str, request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _entry_page(request, *gate, entry_id)


@router.post("/app/kb/entries/{entry_id}/rollback")
async def entry_rollback(entry_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        access_entry(actor, entry_id, session=uow.session)
        try:
            version = int(field(form, "version"))
        except ValueError:
            raise FormProblem(t("kb.error.bad_version"), "version") from None
        kb_actions.do_rollback_entry(uow, actor, entry_id, version)
        return f"/app/kb/entries/{entry_id}?notice=rolled_back"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _entry_page(request, auth, locale, entry_id, status=status, problem=problem)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.post("/app/kb/entries/{entry_id}/delete")
async def entry_delete(entry_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        kb_actions.do_delete_entry(uow, actor, entry_id)
        return "/app/kb?notice=deleted"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _entry_page(request, auth, locale, entry_id, status=status, problem=problem)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


# -- categories ---------------------------------------------------------------------------

def _below(cats: list[CategoryRead], category_id: str) -> set[str]:
    """``category_id`` and every category under it (not valid as its new parent)."""
    out = {category_id}
    changed = True
    while changed:
        changed = False
        for c in cats:
            if c.parent_id in out and c.id not in out:
                out.add(c.id)
                changed = True
    return out


def _categories_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                     problem: Problem | None = None, open_id: str | None = None,
                     values: dict[str, str] | None = None) -> Response:
    with services(request).uows(readonly=True) as uow:
        cats = kb_queries.category_tree(uow.session, auth.actor)
    by_id = {c.id: c for c in cats}

    def depth(c: CategoryRead) -> int:
        n, node = 0, c.parent_id
        while node is not None and node in by_id and n < 50:
            n, node = n + 1, by_id[node].parent_id
        return n

    rows = [{"cat": c, "depth": depth(c),
             "children": sum(1 for o in cats if o.parent_id == c.id),
             "parents": [o for o in cats if o.id not in _below(cats, c.id)]} for c in cats]
    return _page(request, auth, locale, "kb/categories.html", tab="categories", status=status,
                 problem=problem, rows=rows, categories=cats, open_id=open_id,
                 values=values or {"name": "", "parent_id": ""})


@router.get("/app/kb/categories")
def categories_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _categories_page(request, *gate)


@router.post("/app/kb/categories")
async def category_create(request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        kb_actions.do_create_category(uow, actor, CategoryCreate.model_validate({
            "name": field(form, "name").strip(), "parent_id": field(form, "parent_id") or None}))
        return "/app/kb/categories?notice=created"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _categories_page(request, auth, locale, status=status, problem=problem,
                                open_id="new", values={"name": field(form, "name"),
                                                       "parent_id": field(form, "parent_id")})

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.post("/app/kb/categories/{category_id}")
async def category_update(category_id: str, request: Request) -> Response:
    """Rename and/or move (``parent_id`` empty for the top level)."""
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        access_category(actor, category_id, session=uow.session)
        values: dict[str, Any] = {"name": field(form, "name").strip() or None}
        if "parent_id" in form:
            values["parent_id"] = field(form, "parent_id") or None
        kb_actions.do_update_category(uow, actor, category_id,
                                      CategoryUpdate.model_validate(values))
        return "/app/kb/categories?notice=saved"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _categories_page(request, auth, locale, status=status, problem=problem,
                                open_id=category_id)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.post("/app/kb/categories/{category_id}/delete")
async def category_delete(category_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        kb_actions.do_delete_category(uow, actor, category_id)
        return "/app/kb/categories?notice=deleted"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _categories_page(request, auth, locale, status=status, problem=problem,
                                open_id=category_id)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


# -- dictionary and small talk ------------------------------------------------------------

def _dictionary_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                     problem: Problem | None = None, open_id: str | None = None,
                     values: dict[str, str] | None = None) -> Response:
    with services(request).uows(readonly=True) as uow:
        synonyms = kb_queries.list_synonyms(uow.session, auth.actor)
        smalltalk = kb_queries.list_smalltalk(uow.session, auth.actor)
    groups = {kind: [s for s in synonyms if s.kind == kind] for kind in SYNONYM_KINDS}
    return _page(request, auth, locale, "kb/dictionary.html", tab="dictionary", status=status,
                 problem=problem, groups=groups, kinds=SYNONYM_KINDS, smalltalk=smalltalk,
                 open_id=open_id, values=values or {})


@router.get("/app/kb/dictionary")
def dictionary_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _dictionary_page(request, *gate)


@router.post("/app/kb/synonyms")
async def synonym_create(request: Request) -> Response:
    form = await read_form(request)
    kind = field(form, "kind", "synonym")

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        kb_actions.do_create_synonym(uow, actor, SynonymCreate.model_validate({
            "kind": kind, "terms": terms(field(form, "terms"))}))
        return "/app/kb/dictionary?notice=created"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _dictionary_page(request, auth, locale, status=status, problem=problem,
                                open_id=f"new-{kind}",
                                values={"kind": kind, "terms": field(form, "terms")})

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.post("/app/kb/synonyms/{synonym_id}/delete")
async def synonym_delete(synonym_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        access_synonym(actor, synonym_id, session=uow.session)
        kb_actions.do_delete_synonym(uow, actor, synonym_id)
        return "/app/kb/dictionary?notice=deleted"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _dictionary_page(request, auth, locale, status=status, problem=problem)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


def _smalltalk_data(form: Form) -> SmallTalkCreate:
    return SmallTalkCreate.model_validate({"phrasings": lines(field(form, "phrasings")),
                                           "reply": field(form, "reply")})


@router.post("/app/kb/smalltalk")
async def smalltalk_create(request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        kb_actions.do_create_smalltalk(uow, actor, _smalltalk_data(form))
        return "/app/kb/dictionary?notice=created"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _dictionary_page(request, auth, locale, status=status, problem=problem,
                                open_id="new-smalltalk",
                                values={"phrasings": field(form, "phrasings"),
                                        "reply": field(form, "reply")})

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.post("/app/kb/smalltalk/{smalltalk_id}")
async def smalltalk_update(smalltalk_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        access_smalltalk(actor, smalltalk_id, session=uow.session)
        kb_actions.do_update_smalltalk(uow, actor, smalltalk_id, _smalltalk_data(form))
        return "/app/kb/dictionary?notice=saved"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _dictionary_page(request, auth, locale, status=status, problem=problem,
                                open_id=smalltalk_id,
                                values={"phrasings": field(form, "phrasings"),
                                        "reply": field(form, "reply")})

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)


@router.post("/app/kb/smalltalk/{smalltalk_id}/delete")
async def smalltalk_delete(smalltalk_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, tz: str, t: Translator) -> str:
        kb_actions.do_delete_smalltalk(uow, actor, smalltalk_id)
        return "/app/kb/dictionary?notice=deleted"

    def rerender(auth: Auth, locale: str, status: int, problem: Problem) -> Response:
        return _dictionary_page(request, auth, locale, status=status, problem=problem)

    return await run_in_threadpool(_write, request, form, action=action, rerender=rerender)
