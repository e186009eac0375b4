"""Administration pages: users, teams and web chat inboxes.

Admins change things through plain HTML forms (CSRF token in a hidden field); supervisors see
the same pages read-only; agents and inspectors get a 403 page. Every write goes through
``kefu.accounts.actions`` / ``kefu.inbox.actions`` inside one unit of work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from kefu.accounts import actions as account_actions
from kefu.accounts import queries as account_queries
from kefu.accounts.actor import Actor
from kefu.accounts.schemas import TeamCreate, TeamUpdate, UserCreate, UserUpdate
from kefu.core.errors import DomainError
from kefu.core.uow import UnitOfWork
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.access import access_inbox
from kefu.inbox.schemas import InboxCreate, InboxUpdate, WebchatSettings
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

ROLES = ("admin", "supervisor", "agent", "inspector")
PRECHAT_FIELDS = ("name", "phone", "email")
NOTICES = frozenset({"created", "saved", "deleted", "password_reset", "secret_rotated"})
USERS_PER_PAGE = 100


class FormProblem(Exception):
    """A form value the page itself refuses (before any action runs)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fmt_dt(value: datetime | None, tz: str = "Asia/Shanghai") -> str:
    if value is None:
        return ""
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


# -- access ---------------------------------------------------------------------------------

def _gate(request: Request, *, write: bool) -> tuple[Auth, str] | Response:
    return page_gate(request, *(("admin.manage",) if write else ("admin.manage", "admin.read")))


def _notice(request: Request, t: Translator) -> str | None:
    key = request.query_params.get("notice")
    return t(f"admin.notice.{key}") if key in NOTICES else None


def _workspace(request: Request, actor: Actor) -> tuple[str, str]:
    """The workspace's (name, timezone)."""
    with services(request).uows(readonly=True) as uow:
        ws = account_queries.get_workspace(uow.session, actor.workspace_id)
        return (ws.name, ws.timezone) if ws is not None else ("", "Asia/Shanghai")


def _page(request: Request, auth: Auth, locale: str, template: str, *, section: str,
          status: int = 200, error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    workspace_name, tz = _workspace(request, auth.actor)
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section=section, error=error,
                  workspace_name=workspace_name,
                  notice=None if error else _notice(request, t),
                  can_write=auth.actor.can("admin.manage"), roles=ROLES,
                  fmt_dt=lambda v: fmt_dt(v, tz), **context)


# -- users ----------------------------------------------------------------------------------

def _users_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                error: str | None = None, open_id: str | None = None) -> Response:
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        offset = 0
    with services(request).uows(readonly=True) as uow:
        page = account_queries.list_users(uow.session, auth.actor, limit=USERS_PER_PAGE,
                                          offset=offset)
    return _page(request, auth, locale, "admin/users.html", section="users", status=status,
                 error=error, users=list(page.items), total=page.total, offset=offset,
                 per_page=USERS_PER_PAGE, open_id=open_id)


@router.get("/app/admin")
def admin_home(request: Request) -> Response:
    return redirect("/app/admin/users")


@router.get("/app/admin/users")
def users_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _users_page(request, *gate)


def _write(request: Request, form: Form, *, section: str, open_id: str | None,
           action: Callable[[UnitOfWork, Actor, Translator], str]) -> Response:
    """Run one admin write: gate, CSRF, the action in a unit of work, then redirect."""
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
    renderers: dict[str, Callable[..., Response]] = {
        "users": _users_page, "teams": _teams_page, "inboxes": _inboxes_page}
    rerender = renderers[section]
    try:
        with services(request).uows() as uow:
            notice = action(uow, auth.actor, t)
    except DomainError as exc:
        return rerender(request, auth, locale, status=exc.status, error=t.message(exc.message),
                        open_id=open_id)
    except ValidationError as exc:
        return rerender(request, auth, locale, status=422, error=validation_message(exc, t),
                        open_id=open_id)
    except FormProblem as exc:
        return rerender(request, auth, locale, status=422, error=exc.message, open_id=open_id)
    return redirect(f"/app/admin/{section}?notice={notice}")


@router.post("/app/admin/users")
async def user_create(request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        data = UserCreate.model_validate({
            "email": field(form, "email").strip(), "name": field(form, "name").strip(),
            "role": field(form, "role", "agent"), "password": field(form, "password"),
            "locale": field(form, "locale", "zh-CN")})
        account_actions.do_create_user(uow, workspace_id=actor.workspace_id, data=data,
                                       actor=actor)
        return "created"

    return await run_in_threadpool(_write, request, form, section="users", open_id="new",
                                   action=action)


@router.post("/app/admin/users/{user_id}")
async def user_update(user_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        values: dict[str, Any] = {"name": field(form, "name").strip() or None,
                                  "role": field(form, "role") or None,
                                  "locale": field(form, "locale") or None}
        active = field(form, "is_active")
        if active in ("1", "0"):
            values["is_active"] = active == "1"
        account_actions.do_update_user(uow, actor, user_id, UserUpdate.model_validate(values))
        return "saved"

    return await run_in_threadpool(_write, request, form, section="users", open_id=user_id,
                                   action=action)


@router.post("/app/admin/users/{user_id}/password")
async def user_password(user_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        values = {"password": field(form, "password")}
        if user_id == actor.user_id:  # changing one's own password needs the current one
            values["current_password"] = field(form, "current_password")
        data = UserUpdate.model_validate(values)
        account_actions.do_update_user(uow, actor, user_id, data)
        return "password_reset"

    return await run_in_threadpool(_write, request, form, section="users", open_id=user_id,
                                   action=action)


# -- teams ----------------------------------------------------------------------------------

def _teams_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                error: str | None = None, open_id: str | None = None) -> Response:
    with services(request).uows(readonly=True) as uow:
        teams = account_queries.list_teams(uow.session, auth.actor)
        users = list(account_queries.list_users(uow.session, auth.actor, limit=200,
                                                offset=0).items)
    names = {u.id: u.name for u in users}
    return _page(request, auth, locale, "admin/teams.html", section="teams", status=status,
                 error=error, teams=teams, users=users, names=names, open_id=open_id)


@router.get("/app/admin/teams")
def teams_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _teams_page(request, *gate)


@router.post("/app/admin/teams")
async def team_create(request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        data = TeamCreate.model_validate({
            "name": field(form, "name").strip(), "description": field(form, "description"),
            "member_ids": fields(form, "member_ids")})
        account_actions.do_create_team(uow, actor, data)
        return "created"

    return await run_in_threadpool(_write, request, form, section="teams", open_id="new",
                                   action=action)


@router.post("/app/admin/teams/{team_id}")
async def team_update(team_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        data = TeamUpdate.model_validate({
            "name": field(form, "name").strip(), "description": field(form, "description"),
            "member_ids": fields(form, "member_ids")})
        account_actions.do_update_team(uow, actor, team_id, data)
        return "saved"

    return await run_in_threadpool(_write, request, form, section="teams", open_id=team_id,
                                   action=action)


@router.post("/app/admin/teams/{team_id}/delete")
async def team_delete(team_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        account_actions.do_delete_team(uow, actor, team_id)
        return "deleted"

    return await run_in_threadpool(_write, request, form, section="teams", open_id=team_id,
                                   action=action)


# -- inboxes --------------------------------------------------------------------------------

def parse_origins(text: str, t: Translator) -> list[str]:
    """One origin per line (or comma separated): ``https://shop.example.com``."""
    out: list[str] = []
    for raw in re.split(r"[\s,]+", text.strip()):
        if not raw:
            continue
        parts = urlsplit(raw)
        if (parts.scheme not in ("http", "https") or not parts.netloc
                or parts.path not in ("", "/") or parts.query or parts.fragment
                or "@" in parts.netloc):
            raise FormProblem(t("admin.inboxes.bad_origin", origin=raw[:200]))
        out.append(f"{parts.scheme}://{parts.netloc}".lower())
    return list(dict.fromkeys(out))


def base_url(request: Request) -> str:
    public = services(request).settings.public_url.rstrip("/")
    return public or str(request.base_url).rstrip("/")


def embed_snippet(base: str, inbox_id: str) -> str:
    return f'<script src="{base}/widget.js" data-inbox="{inbox_id}" async></script>'


def identity_snippet(base: str, inbox_id: str) -> str:
    return (f'<script src="{base}/widget.js" data-inbox="{inbox_id}"\n'
            '        data-user-id="USER_ID" data-user-hash="HMAC_SHA256_HEX" async></script>')


def _settings_of(raw: dict[str, Any]) -> WebchatSettings:
    try:
        return WebchatSettings.model_validate(raw or {})
    except ValidationError:
        return WebchatSettings()


def _inboxes_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                  error: str | None = None, open_id: str | None = None) -> Response:
    base = base_url(request)
    show_secret = auth.actor.can("admin.manage")
    rows: list[dict[str, Any]] = []
    with services(request).uows(readonly=True) as uow:
        for inbox in inbox_queries.list_inboxes(uow.session, auth.actor):
            secret = (access_inbox(auth.actor, inbox.id, session=uow.session).secret
                      if show_secret else None)
            rows.append({"id": inbox.id, "name": inbox.name, "channel_type": inbox.channel_type,
                         "is_active": inbox.is_active, "created_at": inbox.created_at,
                         "settings": _settings_of(inbox.settings), "secret": secret,
                         "snippet": embed_snippet(base, inbox.id),
                         "identity_snippet": identity_snippet(base, inbox.id)})
    return _page(request, auth, locale, "admin/inboxes.html", section="inboxes", status=status,
                 error=error, inboxes=rows, open_id=open_id, prechat_choices=PRECHAT_FIELDS,
                 base_url=base)


@router.get("/app/admin/inboxes")
def inboxes_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _inboxes_page(request, *gate)


def _webchat_settings(form: Form, t: Translator) -> WebchatSettings:
    return WebchatSettings.model_validate({
        "greeting": field(form, "greeting").strip() or WebchatSettings().greeting,
        "prechat_enabled": field(form, "prechat_enabled") == "1",
        "prechat_fields": [f for f in fields(form, "prechat_fields") if f in PRECHAT_FIELDS],
        "prechat_required": field(form, "prechat_required") == "1",
        "allowed_origins": parse_origins(field(form, "allowed_origins"), t),
        "require_verified_identity": field(form, "require_verified_identity") == "1",
        "color": field(form, "color", "#1f6feb").strip() or "#1f6feb",
    })


@router.post("/app/admin/inboxes")
async def inbox_create(request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        greeting = field(form, "greeting").strip() or WebchatSettings().greeting
        data = InboxCreate.model_validate({
            "name": field(form, "name").strip(), "channel_type": "webchat",
            "settings": {"greeting": greeting}})
        inbox_actions.do_create_inbox(uow, actor, workspace_id=actor.workspace_id, data=data)
        return "created"

    return await run_in_threadpool(_write, request, form, section="inboxes", open_id="new",
                                   action=action)


@router.post("/app/admin/inboxes/{inbox_id}")
async def inbox_update(inbox_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        data = InboxUpdate(name=field(form, "name").strip() or None,
                           settings=_webchat_settings(form, t),
                           is_active=field(form, "is_active") == "1")
        inbox_actions.do_update_inbox(uow, actor, inbox_id, data)
        return "saved"

    return await run_in_threadpool(_write, request, form, section="inboxes", open_id=inbox_id,
                                   action=action)


@router.post("/app/admin/inboxes/{inbox_id}/rotate-secret")
async def inbox_rotate(inbox_id: str, request: Request) -> Response:
    form = await read_form(request)

    def action(uow: UnitOfWork, actor: Actor, t: Translator) -> str:
        inbox_actions.do_rotate_inbox_secret(uow, actor, inbox_id)
        return "secret_rotated"

    return await run_in_threadpool(_write, request, form, section="inboxes", open_id=inbox_id,
                                   action=action)
