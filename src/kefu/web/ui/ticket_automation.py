"""Automation triggers pages (``/app/tickets/automation``, ``ticket.manage``): the list in
run order with enable / disable, and the editor (name, event, conditions and actions as
JSON with a reference of the fields, operators and actions; a dry run shows which open
tickets match now). A refused save shows every problem next to its path."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kefu.accounts import queries as account_queries
from kefu.accounts.queries import get_workspace
from kefu.core.errors import DomainError, Invalid
from kefu.tickets import automation as auto
from kefu.tickets.models import TicketTemplate
from kefu.web.api.ticket_automation import catalogue
from kefu.web.deps import Auth, services
from kefu.web.i18n import Translator, localize_message
from kefu.web.ui.render import (
    Form,
    csrf_failed_page,
    error_page,
    field,
    form_csrf_ok,
    page_gate,
    read_form,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}

BASE = "/app/tickets/automation"
NOTICES = ("saved", "deleted", "enabled", "disabled")


def _names(request: Request, auth: Auth) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        s = uow.session
        ws = get_workspace(s, auth.actor.workspace_id)
        teams = {t.id: t.name for t in account_queries.list_teams(s, auth.actor)}
        users = account_queries.user_names(s, auth.actor.workspace_id)
        templates = {t.id: t.name for t in s.query(TicketTemplate).filter(
            TicketTemplate.workspace_id == auth.actor.workspace_id)}
    return {"workspace_name": ws.name if ws else "", "team_names": teams, "user_names": users,
            "template_names": templates}


def summary(items: list[dict[str, Any]]) -> str:
    """One line per condition or action, for the list."""
    out = []
    for x in items:
        if "field" in x:
            value = x.get("value")
            shown = "" if value is None else (", ".join(map(str, value)) if isinstance(
                value, list) else str(value))
            out.append(f"{x['field']} {x['op']} {shown}".strip())
        else:
            rest = {k: v for k, v in x.items() if k != "type"}
            out.append(f"{x.get('type')} {json.dumps(rest, ensure_ascii=False)}"
                       if rest else str(x.get("type")))
    return "；".join(out)


@router.get("/app/tickets/automation")
def list_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    t = Translator(locale)
    with services(request).uows(readonly=True) as uow:
        triggers = [auto.trigger_dict(x) for x in auto.list_triggers(uow.session, auth.actor)]
    for x in triggers:
        x["conditions_text"] = summary(x["conditions"]) or t("ticket_automation.always")
        x["actions_text"] = summary(x["actions"])
        x["event_label"] = t({"create": "ticket_automation.event.create",
                              "update": "ticket_automation.event.update",
                              "time": "ticket_automation.event.time"}[x["event"]])
    key = request.query_params.get("notice")
    notice = t(f"ticket_automation.notice.{key}") if key in NOTICES else None
    return render(request, "tickets/automation.html", locale=locale, auth=auth,
                  section="tickets", triggers=triggers, notice=notice, error=None,
                  **_names(request, auth))


def _editor(request: Request, auth: Auth, locale: str, *, trigger_id: str | None,
            values: dict[str, Any], status: int = 200, error: str | None = None,
            errors: dict[str, str] | None = None,
            preview: dict[str, Any] | None = None) -> Response:
    t = Translator(locale)
    events = [{"value": e, "label": t(k)} for e, k in (
        ("create", "ticket_automation.event.create"), ("update", "ticket_automation.event.update"),
        ("time", "ticket_automation.event.time"))]
    return render(request, "tickets/automation_edit.html", locale=locale, auth=auth,
                  status=status, section="tickets", trigger_id=trigger_id, v=values,
                  events=events, error=error,
                  errors={k: localize_message(m, locale) for k, m in (errors or {}).items()},
                  preview=preview, spec=catalogue(), **_names(request, auth))


def _values(trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    if trigger is None:
        return {"name": "", "event": "create", "is_active": True, "position": "",
                "conditions": "[]", "actions": "[]"}
    return {"name": trigger["name"], "event": trigger["event"],
            "is_active": trigger["is_active"], "position": str(trigger["position"]),
            "conditions": json.dumps(trigger["conditions"], ensure_ascii=False, indent=2),
            "actions": json.dumps(trigger["actions"], ensure_ascii=False, indent=2)}


@router.get("/app/tickets/automation/new")
def new_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _editor(request, auth, locale, trigger_id=None, values=_values())


@router.get("/app/tickets/automation/{trigger_id}")
def edit_page(trigger_id: str, request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        with services(request).uows(readonly=True) as uow:
            trigger = auto.trigger_dict(auto.access_trigger(uow.session, auth.actor,
                                                            trigger_id))
    except DomainError as exc:
        return error_page(request, locale=locale, auth=auth, status=exc.status,
                          title_key="error.404.title",
                          message=localize_message(exc.message, locale))
    return _editor(request, auth, locale, trigger_id=trigger_id, values=_values(trigger))


def _form_values(form: Form) -> dict[str, Any]:
    return {"name": field(form, "name"), "event": field(form, "event"),
            "is_active": field(form, "is_active") == "on", "position": field(form, "position"),
            "conditions": field(form, "conditions", "[]"),
            "actions": field(form, "actions", "[]")}


def _parsed(values: dict[str, Any]) -> dict[str, Any]:
    """The form's JSON boxes parsed; a box that is not JSON is an ``invalid_trigger`` error."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"name": values["name"], "event": values["event"],
                           "is_active": values["is_active"]}
    for key in ("conditions", "actions"):
        try:
            out[key] = json.loads(values[key] or "[]")
        except json.JSONDecodeError as exc:
            errors[key] = f"不是合法的 JSON（{exc.msg}，第 {exc.lineno} 行） / " \
                          f"Not valid JSON ({exc.msg}, line {exc.lineno})"
        else:
            if not isinstance(out[key], list):
                errors[key] = "须为 JSON 列表 / must be a JSON list"
    position = (values.get("position") or "").strip()
    if position:
        try:
            out["position"] = int(position)
            if not 0 <= out["position"] <= 1_000_000:
                raise ValueError
        except ValueError:
            errors["position"] = "须为 0 以上的整数 / must be a whole number from 0"
    if errors:
        raise auto.invalid(errors)
    return out


async def _save(request: Request, trigger_id: str | None) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    values = _form_values(form)
    dry = field(form, "op") == "preview"

    def run() -> Response:
        try:
            data = _parsed(values)
            if dry:
                with services(request).uows(readonly=True) as uow:
                    result = auto.preview(uow.session, auth.actor, event=data["event"],
                                          conditions=data["conditions"], now=uow.clock.now())
                return _editor(request, auth, locale, trigger_id=trigger_id, values=values,
                               preview=result.as_dict())
            with services(request).uows() as uow:
                if trigger_id is None:
                    auto.do_create_trigger(uow, auth.actor, auto.TriggerIn(**data))
                else:
                    auto.do_update_trigger(uow, auth.actor, trigger_id,
                                           auto.TriggerPatch(**data))
        except Invalid as exc:
            errors = exc.details.get("errors") if isinstance(exc.details.get("errors"),
                                                             dict) else None
            return _editor(request, auth, locale, trigger_id=trigger_id, values=values,
                           status=422, error=localize_message(exc.message, locale)
                           if not errors else Translator(locale)(
                               "ticket_automation.invalid"), errors=errors)
        except DomainError as exc:
            return error_page(request, locale=locale, auth=auth, status=exc.status,
                              title_key="error.404.title",
                              message=localize_message(exc.message, locale))
        except ValueError as exc:  # pydantic: e.g. a name far too long
            return _editor(request, auth, locale, trigger_id=trigger_id, values=values,
                           status=422, error=str(exc).splitlines()[0])
        return redirect(f"{BASE}?notice=saved")

    return await run_in_threadpool(run)


@router.post("/app/tickets/automation")
async def create(request: Request) -> Response:
    return await _save(request, None)


@router.post("/app/tickets/automation/{trigger_id}")
async def update(trigger_id: str, request: Request) -> Response:
    return await _save(request, trigger_id)


async def _simple(request: Request, trigger_id: str, what: str) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)

    def run() -> Response:
        notice = what
        try:
            with services(request).uows() as uow:
                if what == "deleted":
                    auto.do_delete_trigger(uow, auth.actor, trigger_id)
                else:
                    t = auto.access_trigger(uow.session, auth.actor, trigger_id)
                    active = not t.is_active
                    auto.do_update_trigger(uow, auth.actor, trigger_id,
                                           auto.TriggerPatch(is_active=active))
                    notice = "enabled" if active else "disabled"
        except DomainError as exc:
            return error_page(request, locale=locale, auth=auth, status=exc.status,
                              title_key="error.404.title",
                              message=localize_message(exc.message, locale))
        return redirect(f"{BASE}?notice={notice}")

    return await run_in_threadpool(run)


@router.post("/app/tickets/automation/{trigger_id}/toggle")
async def toggle(trigger_id: str, request: Request) -> Response:
    return await _simple(request, trigger_id, "toggle")


@router.post("/app/tickets/automation/{trigger_id}/delete")
async def delete(trigger_id: str, request: Request) -> Response:
    return await _simple(request, trigger_id, "deleted")
