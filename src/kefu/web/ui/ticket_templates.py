"""Ticket template pages (``ticket.manage``): the list and the edit form with a field editor.

The field editor needs no script: each field is a row of inputs named ``<name>_<row>``
(``key``, ``label``, ``type``, ``required``, ``options`` one per line, ``help``, ``pos`` for
the order, ``remove``). A blank row is always offered at the end; "add a field" re-renders
the form with one more. A refused save renders the form again with each row's problems."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from kefu.accounts.queries import get_workspace, list_teams
from kefu.core.errors import DomainError
from kefu.tickets import templates as tpl
from kefu.tickets.models import FIELD_TYPES, PRIORITIES
from kefu.web.deps import Auth, services
from kefu.web.i18n import Translator
from kefu.web.ui.render import (
    Form,
    csrf_failed_page,
    error_page,
    field,
    form_csrf_ok,
    locale_of,
    page_gate,
    read_form,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
NOTICES = frozenset({"created", "saved", "deleted"})
MAX_ROWS = 60
_PATH_RE = re.compile(r"^fields\[(\d+)\](?:\.(\w+))?$")


def _type_labels(t: Translator) -> dict[str, str]:
    return {"text": t("ticket_templates.type.text"), "number": t("ticket_templates.type.number"),
            "date": t("ticket_templates.type.date"), "select": t("ticket_templates.type.select"),
            "multiselect": t("ticket_templates.type.multiselect"),
            "attachment": t("ticket_templates.type.attachment")}


def _page(request: Request, auth: Auth, locale: str, template: str, *, status: int = 200,
          error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    key = request.query_params.get("notice")
    notice = t(f"ticket_templates.notice.{key}") if key in NOTICES and not error else None
    with services(request).uows(readonly=True) as uow:
        ws = get_workspace(uow.session, auth.actor.workspace_id)
        teams = list_teams(uow.session, auth.actor)
    actor = auth.actor
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section="tickets", tab="templates", error=error,
                  notice=notice, workspace_name=ws.name if ws else "",
                  slug=ws.slug if ws else "", teams=teams, boot_json="{}",
                  can_write=actor.can("ticket.write"), can_manage=actor.can("ticket.manage"),
                  can_reports=actor.can("ticket.reports"), field_types=FIELD_TYPES,
                  type_labels=_type_labels(t), priorities=PRIORITIES, **context)


@router.get("/app/tickets/templates")
def list_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    with services(request).uows(readonly=True) as uow:
        items = [tpl.template_read(x) for x in tpl.list_templates(uow.session, auth.actor)]
        counts = tpl.usage_counts(uow.session, auth.actor.workspace_id)
    return _page(request, auth, locale, "tickets/templates.html", items=items, counts=counts)


# -- the edit form ----------------------------------------------------------------------------

def _rows_from_spec(spec: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"key": f.get("key", ""), "label": f.get("label", ""), "type": f.get("type", "text"),
             "required": bool(f.get("required")), "options": "\n".join(f.get("options") or []),
             "help": f.get("help", ""), "pos": i + 1, "errors": {}}
            for i, f in enumerate(spec)]


def _blank(pos: int) -> dict[str, Any]:
    return {"key": "", "label": "", "type": "text", "required": False, "options": "",
            "help": "", "pos": pos, "errors": {}, "blank": True}


def _rows_from_form(form: Form) -> list[dict[str, Any]]:
    try:
        n = min(int(field(form, "rows", "0")), MAX_ROWS)
    except ValueError:
        n = 0
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
               "key": field(form, f"key_{i}").strip(),
               "label": field(form, f"label_{i}").strip(),
               "type": field(form, f"type_{i}", "text"),
               "required": field(form, f"required_{i}") == "1",
               "options": field(form, f"options_{i}"), "help": field(form, f"help_{i}").strip(),
               "remove": field(form, f"remove_{i}") == "1", "errors": {}}
        try:
            row["pos"] = float(field(form, f"pos_{i}", str(i + 1)))
        except ValueError:
            row["pos"] = i + 1
        if row["remove"] or (not row["key"] and not row["label"]):
            continue
        rows.append(row)
    rows.sort(key=lambda r: r["pos"])
    for i, r in enumerate(rows):
        r["pos"] = i + 1
    return rows


def _spec_from_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        spec: dict[str, Any] = {"key": r["key"], "label": r["label"], "type": r["type"],
                                "required": r["required"], "help": r["help"]}
        if r["type"] in ("select", "multiselect"):
            spec["options"] = [o.strip() for o in r["options"].splitlines() if o.strip()]
        out.append(spec)
    return out


def _values(form: Form) -> dict[str, Any]:
    return {"name": field(form, "name").strip(), "description": field(form, "description").strip(),
            "default_team_id": field(form, "default_team_id") or None,
            "default_priority": field(form, "default_priority", "P3"),
            "public": field(form, "public") == "1", "is_active": field(form, "is_active") == "1",
            "position": field(form, "position", "0") or "0"}


def _edit(request: Request, auth: Auth, locale: str, *, item: dict[str, Any],
          rows: list[dict[str, Any]], status: int = 200, error: str | None = None,
          extra_blank: int = 1) -> Response:
    shown = [*rows, *(_blank(len(rows) + i + 1) for i in range(extra_blank))]
    return _page(request, auth, locale, "tickets/templates_edit.html", status=status,
                 error=error, item=item, rows=shown)


def _apply_errors(rows: list[dict[str, Any]], errors: dict[str, str], t: Translator) -> str:
    general = []
    for path, msg in errors.items():
        m = _PATH_RE.match(path)
        if m and int(m.group(1)) < len(rows):
            rows[int(m.group(1))]["errors"][m.group(2) or "row"] = t.message(msg)
        else:
            general.append(t.message(msg))
    return "；".join(general)


@router.get("/app/tickets/templates/new")
def new_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    item = {"id": None, "name": "", "description": "", "default_team_id": None,
            "default_priority": "P3", "public": False, "is_active": True, "position": 0}
    return _edit(request, auth, locale, item=item, rows=[], extra_blank=2)


@router.get("/app/tickets/templates/{template_id}")
def edit_page(template_id: str, request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        with services(request).uows(readonly=True) as uow:
            item = tpl.template_read(tpl.access_template(auth.actor, template_id,
                                                         session=uow.session))
    except DomainError:
        t = Translator(locale)
        return error_page(request, locale=locale, auth=auth, status=404,
                          title_key="ticket_templates.not_found_title",
                          message=t("ticket_templates.not_found"))
    return _edit(request, auth, locale, item=item, rows=_rows_from_spec(item["fields"]))


async def _save(request: Request, template_id: str | None) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    t = Translator(locale)
    rows = _rows_from_form(form)
    values = _values(form)
    item = {"id": template_id, **values}
    if field(form, "op") == "add":
        return _edit(request, auth, locale, item=item, rows=rows, extra_blank=2)
    try:
        if template_id is None:
            data_c = tpl.TemplateCreate(**values, fields=_spec_from_rows(rows))
            with services(request).uows() as uow:
                made = tpl.do_create_template(uow, auth.actor, data_c)
                new_id = made.id
            return redirect(f"/app/tickets/templates/{new_id}?notice=created")
        data_u = tpl.TemplateUpdate(**values, fields=_spec_from_rows(rows))
        with services(request).uows() as uow:
            tpl.do_update_template(uow, auth.actor, template_id, data_u)
        return redirect(f"/app/tickets/templates/{template_id}?notice=saved")
    except ValidationError as exc:
        names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        return _edit(request, auth, locale, item=item, rows=rows, status=422,
                     error=t("ticket_templates.error.values", fields=", ".join(names)))
    except DomainError as exc:
        message = t.message(exc.message)
        errors = exc.details.get("errors")
        if isinstance(errors, dict):
            extra = _apply_errors(rows, errors, t)
            message = f"{message}{'：' + extra if extra else ''}"
        return _edit(request, auth, locale, item=item, rows=rows,
                     status=exc.status if exc.status < 500 else 422, error=message)


@router.post("/app/tickets/templates/new")
async def create_submit(request: Request) -> Response:
    return await _save(request, None)


@router.post("/app/tickets/templates/{template_id}")
async def edit_submit(template_id: str, request: Request) -> Response:
    return await _save(request, template_id)


@router.post("/app/tickets/templates/{template_id}/delete")
async def delete_submit(template_id: str, request: Request) -> Response:
    gate = page_gate(request, "ticket.manage")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    t = Translator(locale)
    try:
        with services(request).uows() as uow:
            tpl.do_delete_template(uow, auth.actor, template_id)
    except DomainError as exc:
        with services(request).uows(readonly=True) as uow:
            items = [tpl.template_read(x) for x in tpl.list_templates(uow.session, auth.actor)]
            counts = tpl.usage_counts(uow.session, auth.actor.workspace_id)
        return _page(request, auth, locale, "tickets/templates.html", items=items,
                     counts=counts, status=exc.status, error=t.message(exc.message))
    return redirect("/app/tickets/templates?notice=deleted")
