"""Ticket settings pages (``ticket.manage``): SLA policies in order of precedence, business
calendars (weekly hours, holidays, 调休 workdays, time zone), team assignment and team lead,
and the workspace's ticket settings (reopen window, auto close, digest hour).

Forms POST with the session's CSRF token and redirect to the overview with a notice; a
refused form is shown again with each field's reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from kefu.accounts.models import User
from kefu.core.calendar import WEEKDAYS
from kefu.core.errors import DomainError, Invalid
from kefu.tickets import policies
from kefu.tickets.models import PRIORITIES, SLA_METRICS, TicketTemplate
from kefu.web.deps import Auth, check_csrf, services
from kefu.web.i18n import Translator, localize_message
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
)

router = APIRouter(include_in_schema=False)
BASE = "/app/tickets/settings"
NOTICES = frozenset({"calendar_saved", "calendar_deleted", "policy_saved", "policy_deleted",
                     "policy_moved", "team_saved", "settings_saved"})
MANAGE = "ticket.manage"


def _page(request: Request, auth: Auth, locale: str, template: str, *, tab: str,
          status: int = 200, error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    key = request.query_params.get("notice")
    notice = t(f"sla.notice.{key}") if key in NOTICES and not error else None
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section="tickets", tab=tab, error=error, notice=notice,
                  weekdays=WEEKDAYS, priorities=PRIORITIES, metrics=SLA_METRICS, **context)


def _errors(exc: DomainError, locale: str) -> tuple[str, dict[str, str]]:
    listed = exc.details.get("errors") or []
    out: dict[str, str] = {}
    for item in listed:
        if isinstance(item, dict) and item.get("field") not in out:
            out[str(item.get("field"))] = localize_message(str(item.get("reason", "")), locale)
    head = localize_message(exc.message.split(": ")[0], locale)
    return head, out


async def _form(request: Request, auth: Auth, locale: str) -> Form | Response:
    form = await read_form(request)
    try:
        check_csrf(request, auth, field(form, "csrf_token"))
    except DomainError:
        t = Translator(locale)
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title", message=t("error.csrf.body"))
    return form


def _domain_error(request: Request, auth: Auth, locale: str, exc: DomainError) -> Response:
    return error_page(request, locale=locale, auth=auth, status=exc.status,
                      title_key="error.403.title" if exc.status == 403 else "sla.error.title",
                      message=localize_message(exc.message, locale))


# -- the overview ---------------------------------------------------------------------------

def _users(session: Any, workspace_id: str) -> list[tuple[str, str]]:
    return [(u.id, u.name) for u in session.scalars(select(User).where(
        User.workspace_id == workspace_id, User.is_active.is_(True)).order_by(User.name))]


@router.get(BASE)
def overview(request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    actor = auth.actor
    with services(request).uows(readonly=True) as uow:
        cals = policies.list_calendars(uow.session, actor)
        names = {c.id: c.name for c in cals}
        rows = [policies.policy_read(p) for p in policies.list_policies(uow.session, actor)]
        teams = policies.list_team_settings(uow.session, actor)
        settings = policies.ticket_settings(uow.session, actor.workspace_id)
        users = _users(uow.session, actor.workspace_id)
        templates = {t.id: t.name for t in uow.session.scalars(select(TicketTemplate).where(
            TicketTemplate.workspace_id == actor.workspace_id))}
    return _page(request, auth, locale, "tickets/sla.html", tab="overview",
                 calendars=[policies.calendar_read(c) for c in cals], calendar_names=names,
                 policies=rows, teams=teams, settings=settings, users=users,
                 template_names=templates, modes=("manual", "round_robin", "least_loaded"))


@router.post(f"{BASE}/teams")
async def save_team(request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _form(request, auth, locale)
    if isinstance(form, Response):
        return form
    try:
        with services(request).uows() as uow:
            policies.do_set_team_settings(uow, auth.actor, field(form, "team_id"),
                                          assignment=field(form, "assignment"),
                                          lead_id=field(form, "lead_id") or None)
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return redirect(f"{BASE}?notice=team_saved#teams")


def _int_or_text(raw: str) -> Any:
    try:
        return int(raw.strip())
    except ValueError:
        return raw


@router.post(f"{BASE}/general")
async def save_settings(request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _form(request, auth, locale)
    if isinstance(form, Response):
        return form
    values = {k: _int_or_text(field(form, k)) for k in policies.DEFAULT_SETTINGS if k in form}
    try:
        with services(request).uows() as uow:
            policies.do_set_ticket_settings(uow, auth.actor, values)
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return redirect(f"{BASE}?notice=settings_saved#general")


# -- calendars ------------------------------------------------------------------------------

def _calendar_form(form: Form) -> dict[str, Any]:
    return {"name": field(form, "name"), "timezone": field(form, "timezone"),
            "weekly": {d: field(form, f"weekly.{d}") for d in WEEKDAYS},
            "holidays": field(form, "holidays"), "workdays": field(form, "workdays")}


def _calendar_values(c: dict[str, Any]) -> dict[str, Any]:
    return {"name": c["name"], "timezone": c["timezone"],
            "weekly": {d: ", ".join(c["weekly"].get(d, [])) for d in WEEKDAYS},
            "holidays": "\n".join(c["holidays"]), "workdays": "\n".join(c["workdays"])}


@router.get(f"{BASE}/calendars/new")
def calendar_new(request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    blank = {"name": "", "timezone": "Asia/Shanghai",
             "weekly": {d: ("09:00-12:00, 13:30-18:00" if i < 5 else "")
                        for i, d in enumerate(WEEKDAYS)}, "holidays": "", "workdays": ""}
    return _page(request, auth, locale, "tickets/sla_calendar.html", tab="calendar",
                 calendar=None, c=blank, errors={})


@router.get(f"{BASE}/calendars/{{calendar_id}}")
def calendar_edit(calendar_id: str, request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        with services(request).uows(readonly=True) as uow:
            row = policies.calendar_read(policies.access_calendar(
                auth.actor, calendar_id, session=uow.session))
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return _page(request, auth, locale, "tickets/sla_calendar.html", tab="calendar",
                 calendar=row, c=_calendar_values(row), errors={})


async def _save_calendar(request: Request, calendar_id: str | None) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _form(request, auth, locale)
    if isinstance(form, Response):
        return form
    values = _calendar_form(form)
    try:
        with services(request).uows() as uow:
            if calendar_id is None:
                policies.do_create_calendar(uow, auth.actor, **values)
            else:
                policies.do_update_calendar(uow, auth.actor, calendar_id, **values)
    except Invalid as exc:
        head, errors = _errors(exc, locale)
        return _page(request, auth, locale, "tickets/sla_calendar.html", tab="calendar",
                     status=422, error=head, calendar={"id": calendar_id} if calendar_id
                     else None, c=values, errors=errors)
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return redirect(f"{BASE}?notice=calendar_saved#calendars")


@router.post(f"{BASE}/calendars/new")
async def calendar_create(request: Request) -> Response:
    return await _save_calendar(request, None)


@router.post(f"{BASE}/calendars/{{calendar_id}}")
async def calendar_update(calendar_id: str, request: Request) -> Response:
    return await _save_calendar(request, calendar_id)


async def _delete(request: Request, delete: Callable[[Any, Any, str], None], object_id: str,
                  done: str) -> Response:
    """A delete button: check, delete, back to the settings page with ``done`` (notice and
    anchor)."""
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _form(request, auth, locale)
    if isinstance(form, Response):
        return form
    try:
        with services(request).uows() as uow:
            delete(uow, auth.actor, object_id)
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return redirect(f"{BASE}?notice={done}")


@router.post(f"{BASE}/calendars/{{calendar_id}}/delete")
async def calendar_delete(calendar_id: str, request: Request) -> Response:
    return await _delete(request, policies.do_delete_calendar, calendar_id,
                         "calendar_deleted#calendars")


# -- policies -------------------------------------------------------------------------------

def _policy_form(form: Form) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = {}
    for p in PRIORITIES:
        for m in SLA_METRICS:
            raw = field(form, f"targets.{p}.{m}").strip()
            if raw:
                targets.setdefault(p, {})[m] = _int_or_text(raw)
    tiers = [x.strip() for x in field(form, "tiers").replace("，", ",").split(",") if x.strip()]
    return {"name": field(form, "name"),
            "conditions": {"priorities": fields(form, "priorities"), "tiers": tiers,
                           "template_ids": fields(form, "template_ids")},
            "targets": targets, "calendar_id": field(form, "calendar_id") or None,
            "escalate_after_minutes": _int_or_text(field(form, "escalate_after_minutes", "60")),
            "is_active": field(form, "is_active") == "1"}


def _policy_context(request: Request, auth: Auth) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        cals = [(c.id, c.name) for c in policies.list_calendars(uow.session, auth.actor)]
        templates = [(t.id, t.name) for t in uow.session.scalars(select(TicketTemplate).where(
            TicketTemplate.workspace_id == auth.actor.workspace_id).order_by(
            TicketTemplate.name))]
    return {"calendar_choices": cals, "template_choices": templates}


@router.get(f"{BASE}/policies/new")
def policy_new(request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    blank: dict[str, Any] = {
        "name": "", "conditions": {"priorities": [], "tiers": [], "template_ids": []},
        "targets": {}, "calendar_id": None, "escalate_after_minutes": 60, "is_active": True}
    return _page(request, auth, locale, "tickets/sla_policy.html", tab="policy",
                 policy=None, p=blank, errors={}, **_policy_context(request, auth))


@router.get(f"{BASE}/policies/{{policy_id}}")
def policy_edit(policy_id: str, request: Request) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        with services(request).uows(readonly=True) as uow:
            row = policies.policy_read(policies.access_policy(auth.actor, policy_id,
                                                              session=uow.session))
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return _page(request, auth, locale, "tickets/sla_policy.html", tab="policy",
                 policy=row, p=row, errors={}, **_policy_context(request, auth))


async def _save_policy(request: Request, policy_id: str | None) -> Response:
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _form(request, auth, locale)
    if isinstance(form, Response):
        return form
    values = _policy_form(form)
    try:
        with services(request).uows() as uow:
            if policy_id is None:
                policies.do_create_policy(uow, auth.actor, values)
            else:
                policies.do_update_policy(uow, auth.actor, policy_id, values)
    except Invalid as exc:
        head, errors = _errors(exc, locale)
        return _page(request, auth, locale, "tickets/sla_policy.html", tab="policy",
                     status=422, error=head, policy={"id": policy_id} if policy_id else None,
                     p=values, errors=errors, **_policy_context(request, auth))
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return redirect(f"{BASE}?notice=policy_saved#policies")


@router.post(f"{BASE}/policies/new")
async def policy_create(request: Request) -> Response:
    return await _save_policy(request, None)


@router.post(f"{BASE}/policies/{{policy_id}}")
async def policy_update(policy_id: str, request: Request) -> Response:
    return await _save_policy(request, policy_id)


@router.post(f"{BASE}/policies/{{policy_id}}/delete")
async def policy_delete(policy_id: str, request: Request) -> Response:
    return await _delete(request, policies.do_delete_policy, policy_id,
                         "policy_deleted#policies")


@router.post(f"{BASE}/policies/{{policy_id}}/move")
async def policy_move(policy_id: str, request: Request) -> Response:
    """Move a policy one place up or down (``direction`` = up | down)."""
    gate = page_gate(request, MANAGE)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _form(request, auth, locale)
    if isinstance(form, Response):
        return form
    step = -1 if field(form, "direction") == "up" else 1
    try:
        with services(request).uows() as uow:
            policies.access_policy(auth.actor, policy_id, session=uow.session,
                                   permission=MANAGE)
            order = [p.id for p in policies.list_policies(uow.session, auth.actor)]
            i = order.index(policy_id)
            j = i + step
            if 0 <= j < len(order):
                order[i], order[j] = order[j], order[i]
                policies.do_reorder_policies(uow, auth.actor, order)
    except DomainError as exc:
        return _domain_error(request, auth, locale, exc)
    return redirect(f"{BASE}?notice=policy_moved#policies")
