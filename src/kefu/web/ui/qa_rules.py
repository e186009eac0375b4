"""Quality inspection pages: the /app/qa landing page, rules (list, kind-specific editor with
the errors next to the fields, version history with restore, dry run), word packs and
scorecards. Reading needs ``qa.review`` or ``qa.manage``; writing ``qa.manage``."""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING
from dataclasses import fields as dc_fields
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from kefu.accounts import queries as account_queries
from kefu.core.errors import DomainError
from kefu.inbox import queries as inbox_queries
from kefu.qa import dryrun, manage
from kefu.qa.access import READ_PERMISSIONS, access_pack, access_rule, access_scorecard
from kefu.qa.engine import default_rules
from kefu.qa.rules import RULE_TYPES
from kefu.qa.spec import rule_to_dict
from kefu.web.deps import Auth, services
from kefu.web.i18n import Translator
from kefu.web.ui.admin import fmt_dt
from kefu.web.ui.render import (
    Form,
    csrf_failed_page,
    error_page,
    field,
    fields,
    form_csrf_ok,
    locale_of,
    page_gate,
    read_form,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

NOTICES = frozenset({"saved", "deleted", "restored", "installed", "imported", "enabled",
                     "disabled"})
ROLES = ("agent", "customer", "bot")
#: the fields every rule has: edited with their own inputs
COMMON = ("id", "name", "scope", "deduction", "per_hit", "cap", "fatal", "group", "enabled",
          "channels", "alert", "block")
#: kinds with their own inputs, and the fields those inputs edit; every other field of a
#: kind (and every field of a kind not listed) is edited in a JSON textarea
FORM_FIELDS: dict[str, frozenset[str]] = {
    "keyword": frozenset({"terms", "mode", "n", "near", "within", "exclude"}),
    "regex": frozenset({"pattern", "exclude"}),
    "wordpack": frozenset({"pack", "exclude"}),
    "pii": frozenset({"kinds"}),
    "timing": frozenset({"check", "seconds"}),
    "sentiment": frozenset({"threshold", "mode"}),
}
FORM_KINDS = tuple(FORM_FIELDS)
PII_KINDS = ("mobile", "id_card", "bank_card", "email")
KEYWORD_MODES = ("any", "all", "at_least", "none")
MAX_IMPORT_BYTES = 8 * 1024 * 1024
#: upload routes (POST path -> largest file) for ``web.routes.UPLOAD_LIMITS``
UPLOAD_LIMITS: dict[str, int] = {"/app/qa/rules/import": MAX_IMPORT_BYTES}


# -- helpers --------------------------------------------------------------------------------

def _extra_fields(kind: str) -> dict[str, Any]:
    """The fields of ``kind`` without their own input → their defaults (None if required)."""
    cls = RULE_TYPES.get(kind)
    if cls is None:
        return {}
    out: dict[str, Any] = {}
    for f in dc_fields(cls):
        if f.name in COMMON or f.name in FORM_FIELDS.get(kind, frozenset()):
            continue
        default = f.default
        if default is MISSING:
            value: Any = None
        elif isinstance(default, frozenset | tuple):
            value = sorted(default) if isinstance(default, frozenset) else list(default)
        else:
            value = default
        out[f.name] = value
    return out


def _literal_options(kind: str, name: str) -> list[str]:
    """The allowed values of a ``Literal`` field of a rule class (e.g. the timing checks)."""
    cls = RULE_TYPES.get(kind)
    if cls is None:
        return []
    try:
        hint = typing.get_type_hints(cls).get(name)
    except Exception:  # a forward reference the hints cannot resolve: plain text input
        return []
    return [str(a) for a in typing.get_args(hint) if isinstance(a, str)]


def highlight(text: str, spans: list[Any]) -> Markup:
    """``text`` escaped, with each span wrapped in ``<mark>``."""
    out: list[str] = []
    pos = 0
    for s0, e0 in sorted((int(s), int(e)) for s, e in spans):
        start, end = max(s0, pos), min(e0, len(text))
        if end <= start:
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))  # noqa: S704 - every piece is escaped above


def _not_found(request: Request, auth: Auth, locale: str, exc: DomainError) -> Response:
    return error_page(request, locale=locale, auth=auth, status=exc.status,
                      title_key="error.404.title" if exc.status == 404 else "error.403.title",
                      message=Translator(locale).message(exc.message))


def _page(request: Request, auth: Auth, locale: str, template: str, *, tab: str,
          status: int = 200, error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    key = request.query_params.get("notice")
    notice = t(f"qa_rules.notice.{key}") if key in NOTICES and not error else None
    with services(request).uows(readonly=True) as uow:
        ws = account_queries.get_workspace(uow.session, auth.actor.workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    can = auth.actor.can
    return render(request, template, locale=locale, auth=auth, status=status, remember=remember,
                  section="qa", tab=tab, error=error, notice=notice,
                  workspace_name=ws.name if ws is not None else "",
                  can_manage=can("qa.manage"),
                  can_read_rules=any(can(p) for p in READ_PERMISSIONS),
                  fmt_dt=lambda v: fmt_dt(v, tz), highlight=highlight, **context)


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace("\r", "").split("\n") if x.strip()]


def _number(raw: str) -> Any:
    """A form number: int or float; the raw text when it is not one (the validator names
    the field)."""
    raw = raw.strip()
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw  # "nan", "inf": the validator says no


def _inboxes(request: Request, auth: Auth) -> list[Any]:
    with services(request).uows(readonly=True) as uow:
        return list(inbox_queries.list_inboxes(uow.session, auth.actor))


def _gate_read(request: Request) -> tuple[Auth, str] | Response:
    return page_gate(request, *READ_PERMISSIONS)


def _gate_write(request: Request) -> tuple[Auth, str] | Response:
    return page_gate(request, "qa.manage")


def _error_text(exc: DomainError, t: Translator) -> str:
    errors = exc.details.get("errors")
    if not errors:
        return t.message(exc.message)
    head = t("qa_rules.error.fix")
    listed = "；".join(f"{e['field'] or '—'}: {t.message(e['reason'])}" for e in errors)
    return f"{head} {listed}"


def _field_errors(exc: DomainError | None, t: Translator) -> dict[str, str]:
    """``{"pattern": reason, "key": reason, "items.k.cap": reason …}`` for the inputs."""
    out: dict[str, str] = {}
    if exc is None:
        return out
    for e in exc.details.get("errors") or []:
        name = str(e.get("field") or "").removeprefix("definition.").removeprefix("definition")
        name = name.split("[", 1)[0]
        reason = t.message(str(e.get("reason", "")))
        out.setdefault(name or "_", reason)
        out.setdefault(name.split(".", 1)[0] or "_", reason)
    if "field" in exc.details:  # e.g. an inbox of another workspace
        out.setdefault(str(exc.details["field"]).split("[", 1)[0], t.message(exc.message))
    return out


# -- the landing page -----------------------------------------------------------------------

@router.get("/app/qa")
def index(request: Request) -> Response:
    gate = page_gate(request, "qa.read", "qa.review", "qa.manage", "qa.alerts")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    can = auth.actor.can
    links = [
        ("rules", "/app/qa/rules", any(can(p) for p in READ_PERMISSIONS)),
        ("live", "/app/qa/live", can("qa.alerts")),
        ("review", "/app/qa/review", can("qa.review")),
        ("mine", "/app/qa/mine", can("qa.read")),
        ("reports", "/app/qa/reports", can("qa.review") or can("qa.manage")),
    ]
    return _page(request, auth, locale, "qa/index.html", tab="index",
                 links=[(k, href) for k, href, ok in links if ok])


# -- rules ----------------------------------------------------------------------------------

@router.get("/app/qa/rules")
def rules_page(request: Request) -> Response:
    gate = _gate_read(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    error = None
    if request.query_params.get("error") == "import":
        error = Translator(locale)("qa_rules.error.import")
    return _rules_list(request, auth, locale, error=error)


def _rules_list(request: Request, auth: Auth, locale: str, *, status: int = 200,
                error: str | None = None) -> Response:
    with services(request).uows(readonly=True) as uow:
        rows = manage.list_rules(uow.session, auth.actor)
        defaults = manage.uses_defaults(uow.session, auth.actor)
    inbox_names = {i.id: i.name for i in _inboxes(request, auth)}
    builtin = [rule_to_dict(r) for r in default_rules()] if defaults else []
    return _page(request, auth, locale, "qa/rules.html", tab="rules", status=status,
                 error=error, rules=rows, uses_defaults=defaults, builtin=builtin,
                 inbox_names=inbox_names, kinds=sorted(RULE_TYPES))


async def _post(request: Request, write: Callable[[Auth, Form], str],
                on_error: Callable[[Auth, str, Form, DomainError], Response]) -> Response:
    """A form post: gate, CSRF, then ``write`` (returns where to go) in the threadpool."""
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)

    def run() -> Response:
        try:
            target = write(auth, form)
        except DomainError as exc:
            return on_error(auth, locale, form, exc)
        return redirect(target)

    return await run_in_threadpool(run)


def _list_error(request: Request) -> Callable[[Auth, str, Form, DomainError], Response]:
    def handle(auth: Auth, locale: str, form: Form, exc: DomainError) -> Response:
        if exc.status == 404:
            return _not_found(request, auth, locale, exc)
        return _rules_list(request, auth, locale, status=exc.status,
                           error=_error_text(exc, Translator(locale)))
    return handle


@router.post("/app/qa/rules/install-defaults")
async def install_defaults(request: Request) -> Response:
    def write(auth: Auth, form: Form) -> str:
        with services(request).uows() as uow:
            manage.do_install_defaults(uow, auth.actor)
        return "/app/qa/rules?notice=installed"

    return await _post(request, write, _list_error(request))


@router.post("/app/qa/rules/import")
async def import_rules(request: Request) -> Response:
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await request.form()
    token = form.get("csrf_token")
    upload = form.get("file")
    raw = b"" if upload is None or isinstance(upload, str) else await upload.read(
        MAX_IMPORT_BYTES + 1)
    await form.close()
    if not form_csrf_ok(request, auth, {"csrf_token": [token if isinstance(token, str) else ""]}):
        return csrf_failed_page(request, auth, locale)
    t = Translator(locale)

    def run() -> Response:
        try:
            if not raw or len(raw) > MAX_IMPORT_BYTES:
                raise DomainError(t("qa_rules.error.import_file"), code="invalid_import")
            try:
                data = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DomainError(f"{t('qa_rules.error.import_json')} ({exc})",
                                  code="invalid_import") from None
            with services(request).uows() as uow:
                manage.do_import_rules(uow, auth.actor, data)
        except DomainError as exc:
            return _rules_list(request, auth, locale, status=422, error=_error_text(exc, t))
        return redirect("/app/qa/rules?notice=imported")

    return await run_in_threadpool(run)


@router.post("/app/qa/rules/{rule_id}/toggle")
async def toggle_rule(rule_id: str, request: Request) -> Response:
    def write(auth: Auth, form: Form) -> str:
        on = field(form, "enabled") == "on"
        with services(request).uows() as uow:
            manage.do_set_rule_enabled(uow, auth.actor, rule_id, on)
        return f"/app/qa/rules?notice={'enabled' if on else 'disabled'}"

    return await _post(request, write, _list_error(request))


@router.post("/app/qa/rules/{rule_id}/delete")
async def delete_rule(rule_id: str, request: Request) -> Response:
    def write(auth: Auth, form: Form) -> str:
        with services(request).uows() as uow:
            manage.do_delete_rule(uow, auth.actor, rule_id)
        return "/app/qa/rules?notice=deleted"

    return await _post(request, write, _list_error(request))


@router.post("/app/qa/rules/{rule_id}/versions/{version}/restore")
async def restore_version(rule_id: str, version: int, request: Request) -> Response:
    def write(auth: Auth, form: Form) -> str:
        with services(request).uows() as uow:
            manage.do_restore_version(uow, auth.actor, rule_id, version)
        return f"/app/qa/rules/{rule_id}?notice=restored"

    def on_error(auth: Auth, locale: str, form: Form, exc: DomainError) -> Response:
        if exc.status == 404:
            return _not_found(request, auth, locale, exc)
        return _editor(request, auth, locale, rule_id=rule_id, status=exc.status, exc=exc)

    return await _post(request, write, on_error)


# -- the rule editor ------------------------------------------------------------------------

def _form_rule(form: Form, kind: str) -> tuple[str, str, dict[str, Any], bool, list[str],
                                                 str | None]:
    """(key, name, definition, enabled, inbox_ids, json problem) from the editor form."""
    definition: dict[str, Any] = {"kind": kind,
                                  "scope": [r for r in fields(form, "scope") if r in ROLES],
                                  "per_hit": field(form, "per_hit") == "on",
                                  "fatal": field(form, "fatal") == "on",
                                  "alert": field(form, "alert") == "on",
                                  "block": field(form, "block") == "on",
                                  "channels": [c.strip() for c in field(form, "channels")
                                               .replace("，", ",").split(",") if c.strip()],
                                  "group": field(form, "group").strip() or "合规"}
    if field(form, "deduction").strip():
        definition["deduction"] = _number(field(form, "deduction"))
    cap = field(form, "cap").strip()
    definition["cap"] = _number(cap) if cap else None
    problem = None
    if kind == "keyword":
        definition.update(terms=_lines(field(form, "terms")), mode=field(form, "mode") or "any",
                          near=_lines(field(form, "near")), exclude=_lines(field(form, "exclude")))
        for name in ("n", "within"):
            if field(form, name).strip():
                definition[name] = _number(field(form, name))
    elif kind == "regex":
        definition.update(pattern=field(form, "pattern"), exclude=_lines(field(form, "exclude")))
    elif kind == "wordpack":
        definition.update(pack=field(form, "pack").strip(),
                          exclude=_lines(field(form, "exclude")))
    elif kind == "pii":
        definition["kinds"] = [k for k in fields(form, "kinds") if k]
    elif kind == "timing":
        definition["check"] = field(form, "check").strip()
        definition["seconds"] = _number(field(form, "seconds")) if field(
            form, "seconds").strip() else None
    elif kind == "sentiment":
        if field(form, "threshold").strip():
            definition["threshold"] = _number(field(form, "threshold"))
        if field(form, "mode").strip():
            definition["mode"] = field(form, "mode").strip()
    extras = _extra_fields(kind)
    if extras or kind not in RULE_TYPES:
        raw = field(form, "definition_json").strip() or "{}"
        try:
            extra = json.loads(raw)
        except json.JSONDecodeError as exc:
            extra, problem = {}, f"JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        if isinstance(extra, dict):
            handled = {*COMMON, "kind", *FORM_FIELDS.get(kind, ())}
            definition.update({k: v for k, v in extra.items() if k not in handled})
        elif problem is None:
            problem = "JSON: must be an object"
    if kind == "timing" and definition.get("seconds") is None:
        definition.pop("seconds")
    return (field(form, "key").strip(), field(form, "name").strip(), definition,
            field(form, "enabled") == "on", [i for i in fields(form, "inbox_ids") if i],
            problem)


def _shown(key: str, name: str, definition: Mapping[str, Any], enabled: bool,
           inbox_ids: list[str]) -> dict[str, Any]:
    """What the editor's inputs show."""
    kind = str(definition.get("kind", "keyword"))
    extra = {k: definition.get(k, v) for k, v in _extra_fields(kind).items()}
    return {"key": key, "name": name, "kind": kind, "enabled": enabled,
            "inbox_ids": inbox_ids, "d": dict(definition), "has_json": bool(extra),
            "json": json.dumps(extra, ensure_ascii=False, indent=1)}


def _blank(kind: str) -> dict[str, Any]:
    base: dict[str, Any] = {"kind": kind, "scope": ["agent"], "deduction": 5.0,
                            "per_hit": False, "cap": None, "fatal": False, "group": "合规",
                            "channels": [], "alert": False, "block": False}
    cls = RULE_TYPES.get(kind)
    for f in dc_fields(cls) if cls is not None else ():
        if f.name == "scope" and isinstance(f.default, frozenset):
            base["scope"] = sorted(f.default)
    if kind == "keyword":
        base.update(terms=[], mode="any", n=1, near=[], within=10, exclude=[])
    elif kind == "pii":
        base["kinds"] = list(PII_KINDS)
    elif kind == "sentiment":
        base["threshold"] = 1.0
    elif kind == "timing":
        base.update(check="first_reply", seconds=15)
    return {**_extra_fields(kind), **base}


def _editor(request: Request, auth: Auth, locale: str, *, rule_id: str | None = None,
            shown: dict[str, Any] | None = None, status: int = 200,
            exc: DomainError | None = None, extra_error: str | None = None,
            result: dict[str, Any] | None = None, days: int = dryrun.DEFAULT_DAYS,
            dry_inbox: str = "") -> Response:
    t = Translator(locale)
    rule = None
    versions: list[Any] = []
    users: dict[str, str] = {}
    with services(request).uows(readonly=True) as uow:
        if rule_id is not None:
            rule = access_rule(auth.actor, rule_id, session=uow.session)
            versions = manage.list_versions(uow.session, auth.actor, rule_id)
            users = account_queries.user_names(uow.session, auth.actor.workspace_id)
        packs = manage.pack_names(uow.session, auth.actor)
    if shown is None:
        if rule is not None:
            shown = _shown(rule.key, rule.name, {**rule.definition, "kind": rule.kind},
                           rule.enabled, list(rule.inbox_ids))
        else:
            kind = request.query_params.get("kind") or "keyword"
            kind = kind if kind in RULE_TYPES else "keyword"
            shown = _shown("", "", _blank(kind), True, [])
    errors = _field_errors(exc, t)
    if extra_error:
        errors.setdefault("definition_json", extra_error)
    error = _error_text(exc, t) if exc is not None else extra_error
    kind = shown["kind"]
    return _page(request, auth, locale, "qa/rule_edit.html", tab="rules", status=status,
                 error=error, rule=rule, r=shown, errors=errors, versions=versions,
                 users=users, packs=packs, inboxes=_inboxes(request, auth),
                 kinds=sorted(RULE_TYPES), form_kinds=FORM_KINDS, roles=ROLES,
                 pii_kinds=PII_KINDS, modes=KEYWORD_MODES,
                 checks=_literal_options(kind, "check") if kind == "timing" else [],
                 form_fields=sorted(FORM_FIELDS.get(kind, ())),
                 sentiment_modes=_literal_options(kind, "mode") if kind == "sentiment" else [],
                 result=result, days=days, max_days=dryrun.MAX_DAYS, dry_inbox=dry_inbox)


@router.get("/app/qa/rules/new")
def new_rule(request: Request) -> Response:
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _editor(request, auth, locale)


@router.get("/app/qa/rules/{rule_id}")
def edit_rule(rule_id: str, request: Request) -> Response:
    gate = _gate_read(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        return _editor(request, auth, locale, rule_id=rule_id)
    except DomainError as exc:
        return _not_found(request, auth, locale, exc)


async def _save(request: Request, rule_id: str | None) -> Response:
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    kind = field(form, "kind") or "keyword"
    key, name, definition, enabled, inbox_ids, problem = _form_rule(form, kind)
    shown = _shown(key, name, definition, enabled, inbox_ids)
    if problem:
        shown["json"] = field(form, "definition_json")

    def run() -> Response:
        if problem:
            return _editor(request, auth, locale, rule_id=rule_id, shown=shown, status=422,
                           extra_error=problem)
        try:
            with services(request).uows() as uow:
                if rule_id is None:
                    row = manage.do_create_rule(uow, auth.actor, key=key, name=name,
                                                definition=definition, enabled=enabled,
                                                inbox_ids=inbox_ids)
                else:
                    row = manage.do_update_rule(uow, auth.actor, rule_id, name=name,
                                                definition=definition, enabled=enabled,
                                                inbox_ids=inbox_ids)
                target = f"/app/qa/rules/{row.id}?notice=saved"
        except DomainError as exc:
            if rule_id is not None and exc.code == "rule_not_found":
                return _not_found(request, auth, locale, exc)
            return _editor(request, auth, locale, rule_id=rule_id, shown=shown,
                           status=exc.status, exc=exc)
        return redirect(target)

    return await run_in_threadpool(run)


@router.post("/app/qa/rules/new")
async def create_rule(request: Request) -> Response:
    return await _save(request, None)


@router.post("/app/qa/rules/dry-run")
async def dry_run(request: Request) -> Response:
    """The editor's draft run over recent conversations (nothing is saved)."""
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    kind = field(form, "kind") or "keyword"
    key, name, definition, enabled, inbox_ids, problem = _form_rule(form, kind)
    shown = _shown(key, name, definition, enabled, inbox_ids)
    rule_id = field(form, "rule_id") or None
    try:
        days = int(field(form, "days") or dryrun.DEFAULT_DAYS)
    except ValueError:
        days = dryrun.DEFAULT_DAYS
    dry_inbox = field(form, "dry_inbox")

    def run() -> Response:
        if problem:
            shown["json"] = field(form, "definition_json")
            return _editor(request, auth, locale, rule_id=rule_id, shown=shown, status=422,
                           extra_error=problem, days=days, dry_inbox=dry_inbox)
        try:
            with services(request).uows(readonly=True) as uow:
                result = dryrun.dry_run(uow.session, auth.actor, definition,
                                        now=uow.clock.now(), days=days,
                                        inbox_id=dry_inbox or None, name=name,
                                        key=key or dryrun.DRAFT_KEY).as_dict()
        except DomainError as exc:
            try:
                return _editor(request, auth, locale, rule_id=rule_id, shown=shown,
                               status=exc.status, exc=exc, days=days, dry_inbox=dry_inbox)
            except DomainError as missing:
                return _not_found(request, auth, locale, missing)
        try:
            return _editor(request, auth, locale, rule_id=rule_id, shown=shown,
                           result=result, days=days, dry_inbox=dry_inbox)
        except DomainError as missing:
            return _not_found(request, auth, locale, missing)

    return await run_in_threadpool(run)


@router.post("/app/qa/rules/{rule_id}")
async def update_rule(rule_id: str, request: Request) -> Response:
    return await _save(request, rule_id)


# -- word packs -----------------------------------------------------------------------------

def _packs_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                error: str | None = None) -> Response:
    with services(request).uows(readonly=True) as uow:
        packs = manage.list_packs(uow.session, auth.actor)
        users = {p.name: manage.rules_using_pack(uow.session, auth.actor.workspace_id, p.name)
                 for p in packs}
    from kefu.qa.wordpacks import DEFAULT_PACKS

    own = {p.name for p in packs}
    builtin = [(n, len(p.terms)) for n, p in sorted(DEFAULT_PACKS.items()) if n not in own]
    return _page(request, auth, locale, "qa/packs.html", tab="packs", status=status,
                 error=error, packs=packs, used_by=users, builtin=builtin)


@router.get("/app/qa/packs")
def packs_page(request: Request) -> Response:
    gate = _gate_read(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _packs_page(request, auth, locale)


def _pack_editor(request: Request, auth: Auth, locale: str, *, pack_id: str | None,
                 shown: dict[str, Any] | None = None, status: int = 200,
                 exc: DomainError | None = None) -> Response:
    t = Translator(locale)
    pack = None
    if pack_id is not None:
        with services(request).uows(readonly=True) as uow:
            pack = access_pack(auth.actor, pack_id, session=uow.session)
    if shown is None:
        if pack is not None:
            shown = {"name": pack.name, "terms": "\n".join(pack.terms),
                     "exclusions": "\n".join(pack.exclusions)}
        else:
            from kefu.qa.wordpacks import DEFAULT_PACKS

            base = DEFAULT_PACKS.get(request.query_params.get("from", ""))
            shown = {"name": base.name if base else "",
                     "terms": "\n".join(base.terms) if base else "",
                     "exclusions": "\n".join(base.exclusions) if base else ""}
    return _page(request, auth, locale, "qa/pack_edit.html", tab="packs", status=status,
                 error=_error_text(exc, t) if exc else None, errors=_field_errors(exc, t),
                 pack=pack, p=shown)


@router.get("/app/qa/packs/new")
def new_pack(request: Request) -> Response:
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _pack_editor(request, auth, locale, pack_id=None)


@router.get("/app/qa/packs/{pack_id}")
def edit_pack(pack_id: str, request: Request) -> Response:
    gate = _gate_read(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        return _pack_editor(request, auth, locale, pack_id=pack_id)
    except DomainError as exc:
        return _not_found(request, auth, locale, exc)


async def _save_pack(request: Request, pack_id: str | None) -> Response:
    def write(auth: Auth, form: Form) -> str:
        name = field(form, "name")
        terms = _lines(field(form, "terms"))
        exclusions = _lines(field(form, "exclusions"))
        with services(request).uows() as uow:
            if pack_id is None:
                manage.do_create_pack(uow, auth.actor, name=name, terms=terms,
                                      exclusions=exclusions)
            else:
                manage.do_update_pack(uow, auth.actor, pack_id, name=name, terms=terms,
                                      exclusions=exclusions)
        return "/app/qa/packs?notice=saved"

    def on_error(auth: Auth, locale: str, form: Form, exc: DomainError) -> Response:
        if exc.code == "pack_not_found":
            return _not_found(request, auth, locale, exc)
        shown = {k: field(form, k) for k in ("name", "terms", "exclusions")}
        return _pack_editor(request, auth, locale, pack_id=pack_id, shown=shown,
                            status=exc.status, exc=exc)

    return await _post(request, write, on_error)


@router.post("/app/qa/packs/new")
async def create_pack(request: Request) -> Response:
    return await _save_pack(request, None)


@router.post("/app/qa/packs/{pack_id}/delete")
async def delete_pack(pack_id: str, request: Request) -> Response:
    def write(auth: Auth, form: Form) -> str:
        with services(request).uows() as uow:
            manage.do_delete_pack(uow, auth.actor, pack_id)
        return "/app/qa/packs?notice=deleted"

    def on_error(auth: Auth, locale: str, form: Form, exc: DomainError) -> Response:
        if exc.status == 404:
            return _not_found(request, auth, locale, exc)
        return _packs_page(request, auth, locale, status=exc.status,
                           error=Translator(locale).message(exc.message))

    return await _post(request, write, on_error)


@router.post("/app/qa/packs/{pack_id}")
async def update_pack(pack_id: str, request: Request) -> Response:
    return await _save_pack(request, pack_id)


# -- scorecards -----------------------------------------------------------------------------

@router.get("/app/qa/scorecards")
def scorecards_page(request: Request) -> Response:
    gate = _gate_read(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    with services(request).uows(readonly=True) as uow:
        cards = manage.list_scorecards(uow.session, auth.actor)
        teams = {tm.id: tm.name for tm in account_queries.list_teams(uow.session, auth.actor)}
    inbox_names = {i.id: i.name for i in _inboxes(request, auth)}
    return _page(request, auth, locale, "qa/scorecards.html", tab="scorecards", cards=cards,
                 inbox_names=inbox_names, team_names=teams)


def _weights_text(weights: Mapping[str, float]) -> str:
    return "\n".join(f"{g}={w:g}" for g, w in weights.items())


def _card_form(form: Form, keys: list[str]) -> tuple[manage.ScorecardInput, dict[str, Any]]:
    weights: dict[str, Any] = {}
    for line in _lines(field(form, "group_weights")):
        group, _, value = line.replace("＝", "=").partition("=")
        weights[group.strip()] = _number(value) if value.strip() else ""
    items: dict[str, Any] = {}
    for key in keys:
        item: dict[str, Any] = {}
        if field(form, f"item_{key}_deduction").strip():
            item["deduction"] = _number(field(form, f"item_{key}_deduction"))
        if field(form, f"item_{key}_cap").strip():
            item["cap"] = _number(field(form, f"item_{key}_cap"))
        if field(form, f"item_{key}_group").strip():
            item["group"] = field(form, f"item_{key}_group").strip()
        for flag in ("per_hit", "fatal"):
            value = field(form, f"item_{key}_{flag}")
            if value in ("yes", "no"):
                item[flag] = value == "yes"
        if item:
            items[key] = item
    base = _number(field(form, "base")) if field(form, "base").strip() else 100
    data = manage.ScorecardInput(
        name=field(form, "name"), base=base, group_weights=weights, items=items,
        inbox_ids=[i for i in fields(form, "inbox_ids") if i],
        team_ids=[i for i in fields(form, "team_ids") if i],
        is_default=field(form, "is_default") == "on")
    shown = {"name": data.name, "base": field(form, "base"),
             "group_weights": field(form, "group_weights"), "items": items,
             "inbox_ids": list(data.inbox_ids), "team_ids": list(data.team_ids),
             "is_default": data.is_default}
    return data, shown


def _card_editor(request: Request, auth: Auth, locale: str, *, card_id: str | None,
                 shown: dict[str, Any] | None = None, status: int = 200,
                 exc: DomainError | None = None) -> Response:
    t = Translator(locale)
    card = None
    with services(request).uows(readonly=True) as uow:
        if card_id is not None:
            card = access_scorecard(auth.actor, card_id, session=uow.session)
        rules = manage.list_rules(uow.session, auth.actor)
        rule_list = ([(r.key, r.name) for r in rules] if rules
                     else [(r.id, r.name) for r in default_rules()])
        teams = account_queries.list_teams(uow.session, auth.actor)
    if shown is None:
        if card is not None:
            shown = {"name": card.name, "base": f"{card.base:g}",
                     "group_weights": _weights_text(card.group_weights),
                     "items": dict(card.items), "inbox_ids": list(card.inbox_ids),
                     "team_ids": list(card.team_ids), "is_default": card.is_default}
        else:
            shown = {"name": "", "base": "100", "group_weights": "", "items": {},
                     "inbox_ids": [], "team_ids": [], "is_default": False}
    return _page(request, auth, locale, "qa/scorecard_edit.html", tab="scorecards",
                 status=status, error=_error_text(exc, t) if exc else None,
                 errors=_field_errors(exc, t), card=card, c=shown, rule_list=rule_list,
                 inboxes=_inboxes(request, auth), teams=teams)


@router.get("/app/qa/scorecards/new")
def new_scorecard(request: Request) -> Response:
    gate = _gate_write(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _card_editor(request, auth, locale, card_id=None)


@router.get("/app/qa/scorecards/{card_id}")
def edit_scorecard(card_id: str, request: Request) -> Response:
    gate = _gate_read(request)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        return _card_editor(request, auth, locale, card_id=card_id)
    except DomainError as exc:
        return _not_found(request, auth, locale, exc)


async def _save_card(request: Request, card_id: str | None) -> Response:
    state: dict[str, Any] = {}

    def write(auth: Auth, form: Form) -> str:
        with services(request).uows(readonly=True) as uow:
            keys = manage.rule_keys(uow.session, auth.actor.workspace_id)
        data, state["shown"] = _card_form(form, keys)
        with services(request).uows() as uow:
            if card_id is None:
                manage.do_create_scorecard(uow, auth.actor, data)
            else:
                manage.do_update_scorecard(uow, auth.actor, card_id, {
                    "name": data.name, "base": data.base, "group_weights": data.group_weights,
                    "items": data.items, "inbox_ids": data.inbox_ids,
                    "team_ids": data.team_ids, "is_default": data.is_default})
        return "/app/qa/scorecards?notice=saved"

    def on_error(auth: Auth, locale: str, form: Form, exc: DomainError) -> Response:
        if exc.code == "scorecard_not_found":
            return _not_found(request, auth, locale, exc)
        return _card_editor(request, auth, locale, card_id=card_id, shown=state.get("shown"),
                            status=exc.status, exc=exc)

    return await _post(request, write, on_error)


@router.post("/app/qa/scorecards/new")
async def create_scorecard(request: Request) -> Response:
    return await _save_card(request, None)


@router.post("/app/qa/scorecards/{card_id}/delete")
async def delete_scorecard(card_id: str, request: Request) -> Response:
    def write(auth: Auth, form: Form) -> str:
        with services(request).uows() as uow:
            manage.do_delete_scorecard(uow, auth.actor, card_id)
        return "/app/qa/scorecards?notice=deleted"

    def on_error(auth: Auth, locale: str, form: Form, exc: DomainError) -> Response:
        return _not_found(request, auth, locale, exc)

    return await _post(request, write, on_error)


@router.post("/app/qa/scorecards/{card_id}")
async def update_scorecard(card_id: str, request: Request) -> Response:
    return await _save_card(request, card_id)
