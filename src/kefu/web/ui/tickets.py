"""The agents' ticket pages (工单): the list (filters, sort by time to breach, "more"), the
new-ticket form (a template's custom fields, per-field errors) and one ticket (header with the
allowed next statuses, custom fields, SLA clocks, watchers, relations, the timeline and the
reply box).

Pages render on the server from ``tickets.queries``. Forms POST here with the session's CSRF
token, call the ticket actions in one unit of work and redirect back with a notice (a refused
action renders the page again with the reason). ``static/tickets.js`` adds the live refresh
(``ticket.*`` frames of ``/ws/agent``), relative due times, attachment uploads to
``/api/v1/ticket-files`` and the reply-mode toggle."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from kefu.accounts.queries import get_workspace
from kefu.core.errors import DomainError, Invalid
from kefu.core.uow import UnitOfWork
from kefu.tickets import actions as ticket_actions
from kefu.tickets import queries as tq
from kefu.tickets import relations
from kefu.tickets.access import access_ticket
from kefu.tickets.models import PRIORITIES, STATUSES, TicketTemplate
from kefu.tickets.schemas import ContactRef, TicketCreate, TicketUpdate
from kefu.web.deps import Auth, services
from kefu.web.i18n import Translator, localize_message
from kefu.web.ui.kb import zone
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


class _TicketIdConvertor(Convertor[str]):
    """Ticket ids are 24 hex characters (``core.ids.new_id``): ``/app/tickets/{id:tid}`` then
    never swallows the sibling pages (``/app/tickets/templates``, ``…/reports`` …)."""

    regex = "[0-9a-f]{24}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("tid", _TicketIdConvertor())

router = APIRouter(include_in_schema=False)
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}

PER_PAGE = 50
SORTS = tq.SORTS
SLA_STATUSES = tq.SLA_STATUSES
#: the status tabs of the list: key -> statuses shown (None: every status)
TABS: dict[str, tuple[str, ...] | None] = {
    "todo": ("new", "open"), "pending": ("pending",), "resolved": ("resolved",),
    "closed": ("closed",), "all": None}
METRICS = ("first_response", "next_response", "resolution")
#: timeline kinds drawn as a message bubble
BUBBLES = frozenset({"reply", "note", "customer"})


# -- time ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """How a due time is shown: colour class, relative text, local time, ISO for the script."""

    cls: str  # ok | warning | breached | paused | met | none
    rel: str
    at: str = ""
    iso: str = ""


def _span(seconds: float, t: Translator) -> str:
    """A duration as words: "35 分钟", "2 小时 5 分钟", "3 天 4 小时" (en: 35 min, 2 h 5 min…)."""
    minutes = max(1, int(abs(seconds) // 60))
    if minutes < 60:
        return t("tickets.dur.min", n=minutes)
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return t("tickets.dur.h_min", h=hours, m=mins) if mins else t("tickets.dur.h", h=hours)
    days, hours = divmod(hours, 24)
    return t("tickets.dur.d_h", d=days, h=hours) if hours else t("tickets.dur.d", d=days)


def due_view(*, next_breach_at: datetime | None, sla_status: str, now: datetime, tz: str,
             t: Translator) -> Due:
    """The due time of a ticket (list rows and the header) coloured by the time left: green
    ok, amber warning (≥ 75 % used), red breached, grey paused, none."""
    if next_breach_at is not None:
        left = (next_breach_at - now).total_seconds()
        at = _short(next_breach_at, tz, now)
        iso = next_breach_at.isoformat()
        if left < 0:
            return Due("breached", t("tickets.due.overdue", d=_span(left, t)), at, iso)
        cls = sla_status if sla_status in ("warning", "breached") else "ok"
        return Due(cls, t("tickets.due.in", d=_span(left, t)), at, iso)
    if sla_status == "paused":
        return Due("paused", t("tickets.due.paused"))
    if sla_status == "breached":
        return Due("breached", t("tickets.due.breached"))
    if sla_status in ("ok", "warning"):
        return Due("met", t("tickets.due.met"))
    return Due("none", t("tickets.due.none"))


def _short(value: datetime, tz: str, now: datetime) -> str:
    local = value.astimezone(zone(tz))
    if local.year != now.astimezone(zone(tz)).year:
        return local.strftime("%Y-%m-%d %H:%M")
    return local.strftime("%m-%d %H:%M")


def fmt_dt(value: datetime | None, tz: str) -> str:
    return "" if value is None else value.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


def ago(value: datetime | None, now: datetime, t: Translator) -> str:
    if value is None:
        return ""
    seconds = (now - value).total_seconds()
    if seconds < 60:
        return t("tickets.just_now")
    return t("tickets.ago", d=_span(seconds, t))


def _parse_iso(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _calendar(uow: UnitOfWork, policy_id: str | None) -> Any:
    """The business calendar of the ticket's SLA policy (24/7 when there is none)."""
    from kefu.tickets import sla
    from kefu.tickets.models import BusinessCalendarRow, SlaPolicy

    policy = uow.session.get(SlaPolicy, policy_id) if policy_id else None
    row = (uow.session.get(BusinessCalendarRow, policy.calendar_id)
           if policy is not None and policy.calendar_id else None)
    if row is None:
        return sla.ALWAYS
    try:
        return sla.calendar_from(row.timezone, row.weekly or {}, row.holidays or [],
                                 row.workdays or [])
    except (ValueError, KeyError):
        return sla.ALWAYS


def clock_views(uow: UnitOfWork, ticket: tq.TicketRead, now: datetime, tz: str,
                t: Translator) -> list[dict[str, Any]]:
    """The SLA block: one entry per clock (target, due, time left or met/breached/paused)."""
    from kefu.tickets import sla

    clocks = (ticket.sla or {}).get("clocks") or {}
    if not clocks:
        return []
    cal = _calendar(uow, ticket.sla_policy_id)
    out = []
    for metric in METRICS:
        raw = clocks.get(metric)
        if not isinstance(raw, dict):
            continue
        try:
            clock = sla.Clock.from_dict(raw)
            ratio = clock.ratio(cal, now)
        except (ValueError, TypeError, KeyError):
            continue
        if clock.stopped_at is not None:
            if clock.breached_at is not None:
                due = Due("breached", t("tickets.sla.breached_at",
                                        at=_short(clock.breached_at, tz, now)))
            else:
                due = Due("met", t("tickets.sla.met_at", at=_short(clock.stopped_at, tz, now)))
        elif clock.paused_at is not None:
            due = Due("paused", t("tickets.sla.paused_since",
                                  at=_short(clock.paused_at, tz, now)))
        elif clock.due_at is not None:
            left = (clock.due_at - now).total_seconds()
            at = _short(clock.due_at, tz, now)
            if left < 0 or clock.breached_at is not None:
                due = Due("breached", t("tickets.due.overdue", d=_span(left, t)), at,
                          clock.due_at.isoformat())
            else:
                cls = "warning" if ratio >= 0.75 else "ok"
                due = Due(cls, t("tickets.due.in", d=_span(left, t)), at,
                          clock.due_at.isoformat())
        else:
            due = Due("none", t("tickets.due.none"))
        out.append({"metric": metric, "target": _span(clock.target_s, t), "due": due,
                    "percent": max(0, min(100, round(ratio * 100)))})
    return out


# -- page plumbing ---------------------------------------------------------------------------


def _ws(request: Request, auth: Auth) -> tuple[str, str]:
    with services(request).uows(readonly=True) as uow:
        ws = get_workspace(uow.session, auth.actor.workspace_id)
        return (ws.name, ws.timezone) if ws is not None else ("", "Asia/Shanghai")


def _strings(t: Translator) -> dict[str, str]:
    """What tickets.js needs to redraw due times and the live banner."""
    keys = ("tickets.dur.min", "tickets.dur.h", "tickets.dur.h_min", "tickets.dur.d",
            "tickets.dur.d_h", "tickets.due.in", "tickets.due.overdue", "tickets.just_now",
            "tickets.ago", "tickets.live.banner", "tickets.live.ticket_changed",
            "tickets.upload.uploading", "tickets.upload.failed", "tickets.upload.remove",
            "tickets.reply.send", "tickets.reply.send_note")
    return {k: t(k) for k in keys}


def _notices(t: Translator) -> dict[str, str]:
    return {"created": t("tickets.notice.created"), "updated": t("tickets.notice.updated"),
            "replied": t("tickets.notice.replied"), "noted": t("tickets.notice.noted"),
            "watched": t("tickets.notice.watched"), "unwatched": t("tickets.notice.unwatched"),
            "watcher_added": t("tickets.notice.watcher_added"),
            "watcher_removed": t("tickets.notice.watcher_removed"),
            "linked": t("tickets.notice.linked"), "unlinked": t("tickets.notice.unlinked"),
            "merged": t("tickets.notice.merged"), "split": t("tickets.notice.split"),
            "child": t("tickets.notice.child")}


def _page(request: Request, auth: Auth, locale: str, template: str, *, status: int = 200,
          error: str | None = None, tab: str = "list", **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    key = request.query_params.get("notice") or ""
    notice = _notices(t).get(key) if not error else None
    name, tz = _ws(request, auth)
    actor = auth.actor
    now = services(request).clock.now()
    boot = {"locale": locale, "now": now.isoformat(), "strings": _strings(t)}
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section="tickets", tab=tab, error=error, notice=notice,
                  workspace_name=name, tz=tz, now=now,
                  fmt_dt=lambda v: fmt_dt(v, tz), ago=lambda v: ago(v, now, t),
                  due_of=lambda r: due_view(next_breach_at=r.next_breach_at,
                                            sla_status=r.sla_status, now=now, tz=tz, t=t),
                  can_write=actor.can("ticket.write"), can_manage=actor.can("ticket.manage"),
                  can_reports=actor.can("ticket.reports"), me=actor.user_id,
                  boot_json=json.dumps(boot, ensure_ascii=False), **context)


def _not_found(request: Request, auth: Auth, locale: str, exc: DomainError) -> Response:
    return error_page(request, locale=locale, auth=auth, status=exc.status,
                      title_key="error.404.title" if exc.status == 404 else "error.403.title",
                      message=localize_message(exc.message, locale))


async def _read_form(request: Request) -> Form:
    """The posted form without NUL characters (PostgreSQL cannot store them in text)."""
    form = await read_form(request)
    return {k.replace("\x00", ""): [v.replace("\x00", "") for v in vs]
            for k, vs in form.items()}


def _query(request: Request, name: str) -> str:
    """A query parameter as text without NUL characters."""
    return (request.query_params.get(name) or "").replace("\x00", "")


def field_errors(exc: DomainError, locale: str) -> dict[str, str]:
    """Per-field messages of an ``Invalid`` (``fields`` of invalid_fields, else the one
    ``field`` named), localised."""
    details = exc.details or {}
    out: dict[str, str] = {}
    named = details.get("fields")
    if isinstance(named, dict):
        out.update({str(k): localize_message(str(v), locale) for k, v in named.items()})
    one = details.get("field")
    if isinstance(one, str) and one not in out:
        out[one] = localize_message(exc.message, locale)
    # the form's names for the contact's parts ("contact.email" -> "contact_email")
    return {k.replace("contact.", "contact_"): v for k, v in out.items()}


def validation_errors(exc: ValidationError, t: Translator) -> dict[str, str]:
    """A Pydantic error per top-level field (subject, tags, contact …)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        if loc and loc[0] not in out:
            key = loc[0] if loc[0] != "contact" or len(loc) < 2 else f"contact_{loc[1]}"
            out[key] = t("tickets.error.invalid_value")
    return out


# -- the list --------------------------------------------------------------------------------


@dataclass
class ListQuery:
    tab: str
    team: str
    assignee: str
    priority: str
    template: str
    tag: str
    sla: str
    q: str
    sort: str

    def params(self, **override: str) -> dict[str, str]:
        values = {"tab": self.tab, "team": self.team, "assignee": self.assignee,
                  "priority": self.priority, "template": self.template, "tag": self.tag,
                  "sla": self.sla, "q": self.q, "sort": self.sort, **override}
        defaults = {"tab": "todo", "sort": "breach"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}

    def url(self, **override: str) -> str:
        query = urlencode(self.params(**override))
        return "/app/tickets" + (f"?{query}" if query else "")


def _list_query(request: Request) -> ListQuery:
    def one(name: str, allowed: tuple[str, ...] | None = None, default: str = "") -> str:
        value = _query(request, name).strip()[:200]
        if allowed is not None and value not in allowed:
            return default
        return value

    return ListQuery(tab=one("tab", tuple(TABS), "todo"), team=one("team"),
                     assignee=one("assignee"), priority=one("priority", PRIORITIES),
                     template=one("template"), tag=one("tag"),
                     sla=one("sla", SLA_STATUSES), q=one("q"),
                     sort=one("sort", SORTS, "breach"))


def ticket_filter(lq: ListQuery, me: str) -> tq.TicketFilter:
    statuses = TABS.get(lq.tab)
    assignee = {"me": me, "none": "none"}.get(lq.assignee, lq.assignee) or None
    return tq.TicketFilter(status=list(statuses) if statuses else None,
                           team_id=lq.team or None, assignee_id=assignee,
                           priority=[lq.priority] if lq.priority else None,
                           template_id=lq.template or None, tag=lq.tag or None,
                           sla_status=lq.sla or None, q=lq.q or None)


def active_templates(uow: UnitOfWork, workspace_id: str) -> list[TicketTemplate]:
    return list(uow.session.scalars(select(TicketTemplate).where(
        TicketTemplate.workspace_id == workspace_id, TicketTemplate.is_active.is_(True))
        .order_by(TicketTemplate.position, TicketTemplate.name)).all())


@router.get("/app/tickets")
def list_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    lq = _list_query(request)
    cursor = _query(request, "cursor").strip() or None
    flt = ticket_filter(lq, auth.actor.user_id)
    error = None
    try:
        with services(request).uows(readonly=True) as uow:
            page = tq.list_tickets(uow, auth.actor, flt, sort=lq.sort, limit=PER_PAGE,
                                   cursor=cursor)
            count, more = tq.count_tickets(uow, auth.actor, flt)
            teams = tq.workspace_teams(uow, auth.actor.workspace_id)
            users = tq.workspace_users(uow, auth.actor.workspace_id)
            templates = [(x.id, x.name) for x in active_templates(uow, auth.actor.workspace_id)]
    except DomainError as exc:
        if exc.status >= 500 or exc.code not in ("invalid_cursor", "invalid_filter"):
            raise
        error = localize_message(exc.message, locale)
        page, count, more = tq.TicketPage(items=[]), 0, False
        teams, users, templates = [], [], []
    more_url = (lq.url() + ("&" if "?" in lq.url() else "?") + urlencode(
        {"cursor": page.next_cursor})) if page.next_cursor else ""
    if request.query_params.get("partial") == "rows":
        return _page(request, auth, locale, "tickets/_rows.html", rows=page.items,
                     more_url=more_url)
    return _page(request, auth, locale, "tickets/list.html", lq=lq, rows=page.items,
                 more_url=more_url, count=count, count_more=more, teams=teams, users=users,
                 templates=templates, tabs=list(TABS), sorts=SORTS,
                 sla_statuses=SLA_STATUSES, priorities=PRIORITIES, cursor=cursor,
                 status=400 if error else 200, error=error)


# -- the new-ticket form ---------------------------------------------------------------------


def _template_specs(templates: list[TicketTemplate]) -> dict[str, dict[str, Any]]:
    return {x.id: {"id": x.id, "name": x.name, "description": x.description,
                   "fields": list(x.fields or []), "priority": x.default_priority,
                   "team_id": x.default_team_id or ""} for x in templates}


def _new_page(request: Request, auth: Auth, locale: str, *, values: dict[str, Any],
              errors: dict[str, str] | None = None, error: str | None = None,
              status: int = 200) -> Response:
    with services(request).uows(readonly=True) as uow:
        templates = active_templates(uow, auth.actor.workspace_id)
        teams = tq.workspace_teams(uow, auth.actor.workspace_id)
        users = tq.workspace_users(uow, auth.actor.workspace_id)
    specs = _template_specs(templates)
    chosen = specs.get(values.get("template_id") or "")
    if chosen is None and len(specs) == 1 and "template_id" not in values:
        chosen = next(iter(specs.values()))
    if chosen is not None:
        values.setdefault("priority", chosen["priority"])
        values.setdefault("team_id", chosen["team_id"])
    return _page(request, auth, locale, "tickets/new.html", tab="new", status=status,
                 error=error, templates=list(specs.values()), chosen=chosen, values=values,
                 errors=errors or {}, teams=teams, users=users, priorities=PRIORITIES)


@router.get("/app/tickets/new")
def new_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.write")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    qp = request.query_params
    values: dict[str, Any] = {"fields": {}}
    for name in ("template_id", "conversation_id", "subject", "parent_id"):
        value = (_query(request, name) or _query(request, name.removesuffix("_id"))).strip()
        if value:
            values[name] = value[:200]
    if "template" in qp or "template_id" in qp:
        values["template_id"] = (_query(request, "template_id")
                                 or _query(request, "template")).strip()
    return _new_page(request, auth, locale, values=values)


_SPLIT = re.compile(r"[,，、\s]+")


def _form_values(form: Form, spec: list[dict[str, Any]]) -> dict[str, Any]:
    """The new-ticket form as plain values (kept to show the form again on an error)."""
    custom: dict[str, Any] = {}
    for fs in spec:
        key = str(fs.get("key") or "")
        name = f"f_{key}"
        kind = fs.get("type")
        if kind == "multiselect":
            chosen = [v for v in fields(form, name) if v]
            if chosen:
                custom[key] = chosen
        elif kind == "attachment":
            ids = [v for v in fields(form, name) if v]
            if ids:
                custom[key] = ids
        else:
            value = field(form, name).strip()
            if value:
                custom[key] = value
    tags = [x for x in _SPLIT.split(field(form, "tags")) if x]
    return {
        "template_id": field(form, "template_id").strip(),
        "subject": field(form, "subject"), "description": field(form, "description"),
        "priority": field(form, "priority"), "team_id": field(form, "team_id"),
        "assignee_id": field(form, "assignee_id"), "tags": " ".join(tags), "tag_list": tags,
        "contact_name": field(form, "contact_name").strip(),
        "contact_email": field(form, "contact_email").strip(),
        "contact_phone": field(form, "contact_phone").strip(),
        "conversation_id": field(form, "conversation_id").strip(),
        "parent_id": field(form, "parent_id").strip(), "fields": custom,
    }


@router.post("/app/tickets/new")
async def create(request: Request) -> Response:
    gate = page_gate(request, "ticket.write")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    t = Translator(locale)

    def run() -> Response:
        template_id = field(form, "template_id").strip()
        with services(request).uows(readonly=True) as uow:
            tpl = uow.session.get(TicketTemplate, template_id) if template_id else None
            spec = list(tpl.fields or []) if (
                tpl is not None and tpl.workspace_id == auth.actor.workspace_id) else []
        values = _form_values(form, spec)
        contact = None
        if values["contact_name"] or values["contact_email"] or values["contact_phone"]:
            contact = {"name": values["contact_name"], "email": values["contact_email"],
                       "phone": values["contact_phone"]}
        try:
            data = TicketCreate(
                subject=values["subject"], description=values["description"],
                template_id=values["template_id"] or None, fields=values["fields"],
                priority=values["priority"] or None, team_id=values["team_id"] or None,
                assignee_id=values["assignee_id"] or None, tags=values["tag_list"],
                contact=ContactRef(**contact) if contact else None,
                conversation_id=values["conversation_id"] or None,
                parent_id=values["parent_id"] or None)
        except ValidationError as exc:
            return _new_page(request, auth, locale, values=values, status=422,
                             errors=validation_errors(exc, t),
                             error=t("tickets.error.check_fields"))
        try:
            with services(request).uows() as uow:
                ticket = ticket_actions.do_create_ticket(
                    uow, auth.actor, workspace_id=auth.actor.workspace_id, data=data,
                    source="agent")
                ticket_id = ticket.id
        except DomainError as exc:
            errors = field_errors(exc, locale)
            message = (t("tickets.error.check_fields") if errors
                       else localize_message(exc.message, locale))
            return _new_page(request, auth, locale, values=values, errors=errors,
                             error=message, status=exc.status)
        return redirect(f"/app/tickets/{ticket_id}?notice=created")

    return await run_in_threadpool(run)


# -- one ticket ------------------------------------------------------------------------------


def _ref_names(detail: tq.TicketDetail) -> dict[str, dict[str, str]]:
    return {"user": {u.id: u.name for u in detail.users},
            "team": {x.id: x.name for x in detail.teams}}


def change_lines(item: tq.TimelineItem, names: dict[str, dict[str, str]],
                 spec: dict[str, dict[str, Any]], t: Translator,
                 tz: str) -> list[dict[str, str]]:
    """``data.changes`` ({field: [old, new]}) as rows of label, old text, new text."""
    changes = (item.data or {}).get("changes")
    if not isinstance(changes, dict):
        return []
    labels = {
        "status": t("tickets.field.status"), "priority": t("tickets.field.priority"),
        "team_id": t("tickets.field.team"), "assignee_id": t("tickets.field.assignee"),
        "subject": t("tickets.field.subject"), "tags": t("tickets.field.tags"),
        "template_id": t("tickets.field.template"), "parent_id": t("tickets.field.parent"),
        "fields": t("tickets.field.custom"), "merged_into_id": t("tickets.field.merged_into"),
        "contact_id": t("tickets.field.contact"), "description": t("tickets.field.description"),
    }
    statuses = status_labels(t)
    out = []

    def text(name: str, value: Any) -> str:
        if value is None or value in ("", []):
            return "—"
        if name == "status":
            return statuses.get(str(value), str(value))
        if name == "assignee_id":
            return names["user"].get(str(value), str(value))
        if name == "team_id":
            return names["team"].get(str(value), str(value))
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        if isinstance(value, dict):
            return "; ".join(f"{spec.get(k, {}).get('label') or k}: {text('', v)}"
                             for k, v in value.items())
        parsed = _parse_iso(value) if isinstance(value, str) and "T" in value else None
        if parsed is not None:
            return fmt_dt(parsed, tz)
        return str(value)

    for name, pair in changes.items():
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        if name == "fields" and isinstance(pair[0], dict) and isinstance(pair[1], dict):
            old, new = pair[0], pair[1]
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    label = spec.get(key, {}).get("label") or key
                    out.append({"label": str(label), "old": text("", old.get(key)),
                                "new": text("", new.get(key))})
            continue
        out.append({"label": str(labels.get(name) or name), "old": text(name, pair[0]),
                    "new": text(name, pair[1])})
    return out


def status_labels(t: Translator) -> dict[str, str]:
    return {"new": t("tickets.status.new"), "open": t("tickets.status.open"),
            "pending": t("tickets.status.pending"), "resolved": t("tickets.status.resolved"),
            "closed": t("tickets.status.closed")}


def _detail_page(request: Request, auth: Auth, locale: str, ticket_id: str, *,
                 status: int = 200, error: str | None = None,
                 errors: dict[str, str] | None = None,
                 draft: dict[str, str] | None = None) -> Response:
    t = Translator(locale)
    _, tz = _ws(request, auth)
    try:
        with services(request).uows(readonly=True) as uow:
            d = tq.get_detail(uow, auth.actor, ticket_id)
            now = uow.clock.now()
            clocks = clock_views(uow, d.ticket, now, tz, t)
    except DomainError as exc:
        return _not_found(request, auth, locale, exc)
    names = _ref_names(d)
    spec = {str(f.get("key")): f for f in (d.template.fields if d.template else [])}
    lines = {item.id: change_lines(item, names, spec, t, tz) for item in d.timeline}
    from kefu.tickets.fields import spec_for_display

    shown = spec_for_display(d.template.fields if d.template else [], d.fields)
    me = auth.actor.user_id
    watching = any(w.id == me for w in d.watchers)
    return _page(request, auth, locale, "tickets/detail.html", tab="detail", status=status,
                 error=error, d=d, tk=d.ticket, clocks=clocks, lines=lines,
                 shown_fields=shown, spec=spec, watching=watching, errors=errors or {},
                 draft=draft or {}, bubbles=BUBBLES,
                 header_due=due_view(next_breach_at=d.ticket.next_breach_at,
                                     sla_status=d.ticket.sla_status, now=now, tz=tz, t=t),
                 priorities=PRIORITIES, statuses=STATUSES,
                 has_customer_lines=any(i.kind == "customer" for i in d.timeline))


@router.get("/app/tickets/{ticket_id:tid}")
def detail_page(ticket_id: str, request: Request) -> Response:
    gate = page_gate(request, "ticket.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _detail_page(request, auth, locale, ticket_id)


#: a form's action: returns where to go (a ticket id, None: this ticket) and the notice
Act = Callable[[UnitOfWork, Auth, Form], tuple[str | None, str]]


async def _post(request: Request, ticket_id: str, act: Act) -> Response:
    """One form on the ticket page: gate, CSRF, the action in a unit of work, then back to
    the ticket (or another one, when the action returns its id) with a notice; a refused
    action shows the ticket again with the reason."""
    gate = page_gate(request, "ticket.write")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await _read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)
    t = Translator(locale)

    def run() -> Response:
        try:
            with services(request).uows(readonly=True) as uow:
                access_ticket(uow, auth.actor, ticket_id)
        except DomainError as exc:
            return _not_found(request, auth, locale, exc)
        try:
            with services(request).uows() as uow:
                target, notice = act(uow, auth, form)
        except ValidationError:
            return _detail_page(request, auth, locale, ticket_id, status=422,
                                error=t("tickets.error.check_fields"),
                                draft={"body": field(form, "body")})
        except DomainError as exc:
            return _detail_page(request, auth, locale, ticket_id, status=exc.status,
                                error=localize_message(exc.message, locale),
                                errors=field_errors(exc, locale),
                                draft={"body": field(form, "body")})
        anchor = "#tk-timeline-end" if notice in ("replied", "noted") else ""
        return redirect(f"/app/tickets/{target or ticket_id}?notice={notice}{anchor}")

    return await run_in_threadpool(run)


@router.post("/app/tickets/{ticket_id:tid}/update")
async def update(ticket_id: str, request: Request) -> Response:
    """Status buttons, the properties form (priority, team, assignee, tags, subject) and the
    custom fields form: only what the form sends changes."""

    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        data: dict[str, Any] = {}
        for name in ("status", "priority", "subject"):
            if name in form and field(form, name).strip():
                data[name] = field(form, name).strip()
        for name in ("team_id", "assignee_id"):
            if name in form:
                data[name] = field(form, name).strip() or None
        if "team_id" in data and "assignee_id" in data:
            # the properties form always sends the assignee: left as it was, a team change
            # lets the new team's assignment rule decide (as in the API)
            current = access_ticket(uow, auth.actor, ticket_id)
            if data["team_id"] != current.team_id and data["assignee_id"] == current.assignee_id:
                del data["assignee_id"]
        if "tags" in form:
            data["tags"] = [x for x in _SPLIT.split(field(form, "tags")) if x]
        if field(form, "custom") == "1":
            data["fields"] = _custom_update(uow, auth, ticket_id, form)
        if data:
            ticket_actions.do_update_ticket(uow, auth.actor, ticket_id, TicketUpdate(**data))
        return None, "updated"

    return await _post(request, ticket_id, act)


def _custom_update(uow: UnitOfWork, auth: Auth, ticket_id: str, form: Form) -> dict[str, Any]:
    """The custom fields form: each field of the template, an emptied one set to null."""
    ticket = access_ticket(uow, auth.actor, ticket_id)
    tpl = uow.session.get(TicketTemplate, ticket.template_id) if ticket.template_id else None
    spec = list(tpl.fields or []) if tpl is not None else []
    given = _form_values(form, spec)["fields"]
    out: dict[str, Any] = {}
    for fs in spec:
        key = str(fs.get("key") or "")
        if fs.get("type") == "attachment" and f"f_{key}" not in form:
            continue  # attachments are added, not edited here
        new = given.get(key)
        old = (ticket.fields or {}).get(key)
        if new != old and not (new is None and old in (None, "", [])):
            out[key] = new
    return out


@router.post("/app/tickets/{ticket_id:tid}/reply")
async def reply(ticket_id: str, request: Request) -> Response:
    """The reply box: a public reply (公开回复) or an internal note (内部备注)."""

    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        public = field(form, "mode") != "note"
        body = field(form, "body").strip()
        if not body:
            raise Invalid("请填写内容 / Write something first", code="empty_body",
                          field="body")
        ticket_actions.do_reply(uow, auth.actor, ticket_id, body=body, public=public,
                                file_ids=[f for f in fields(form, "file_ids") if f] or None)
        return None, "replied" if public else "noted"

    return await _post(request, ticket_id, act)


@router.post("/app/tickets/{ticket_id:tid}/watchers")
async def watchers(ticket_id: str, request: Request) -> Response:
    """Watch / unwatch for me, or add / remove a colleague (``user_id``)."""

    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        user_id = field(form, "user_id").strip() or auth.actor.user_id
        mine = user_id == auth.actor.user_id
        if field(form, "op") == "remove":
            ticket_actions.do_remove_watcher(uow, auth.actor, ticket_id, user_id)
            return None, "unwatched" if mine else "watcher_removed"
        ticket_actions.do_add_watcher(uow, auth.actor, ticket_id, user_id)
        return None, "watched" if mine else "watcher_added"

    return await _post(request, ticket_id, act)


def _ticket_by_number(uow: UnitOfWork, auth: Auth, raw: str) -> str:
    """A ticket id of this workspace from "#123" / "123" (or an id)."""
    from kefu.tickets.models import Ticket

    text = raw.strip().lstrip("#＃")
    ticket = None
    # isdecimal, not isdigit: "²" is a digit that int() refuses; "１２" (full width) is fine
    if text.isdecimal() and len(text) < 10:
        ticket = uow.session.scalar(select(Ticket).where(
            Ticket.workspace_id == auth.actor.workspace_id, Ticket.number == int(text)))
    elif re.fullmatch(r"[0-9a-f]{24}", text):
        ticket = uow.session.get(Ticket, text)
        if ticket is not None and ticket.workspace_id != auth.actor.workspace_id:
            ticket = None
    if ticket is None:
        raise Invalid("找不到该编号的工单 / No ticket with that number", code="ticket_not_found",
                      field="other")
    return ticket.id


@router.post("/app/tickets/{ticket_id:tid}/links")
async def link(ticket_id: str, request: Request) -> Response:
    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        other = _ticket_by_number(uow, auth, field(form, "other"))
        if field(form, "op") == "remove":
            relations.do_unlink(uow, auth.actor, ticket_id, other)
            return None, "unlinked"
        relations.do_link(uow, auth.actor, ticket_id, other)
        return None, "linked"

    return await _post(request, ticket_id, act)


@router.post("/app/tickets/{ticket_id:tid}/merge")
async def merge(ticket_id: str, request: Request) -> Response:
    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        target = _ticket_by_number(uow, auth, field(form, "other"))
        relations.do_merge(uow, auth.actor, ticket_id, target)
        return target, "merged"

    return await _post(request, ticket_id, act)


@router.post("/app/tickets/{ticket_id:tid}/split")
async def split(ticket_id: str, request: Request) -> Response:
    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        seqs = sorted({int(s) for s in fields(form, "seq") if s.isdecimal() and len(s) < 10})
        subject = field(form, "subject").strip()
        if not seqs:
            raise Invalid("请选择要拆分的客户消息 / Choose the customer lines to split off",
                          code="split_empty", field="seq")
        new = relations.do_split(uow, auth.actor, ticket_id, seqs=seqs,
                                 subject=subject or None)
        return new.id, "split"

    return await _post(request, ticket_id, act)


@router.post("/app/tickets/{ticket_id:tid}/children")
async def child(ticket_id: str, request: Request) -> Response:
    def act(uow: UnitOfWork, auth: Auth, form: Form) -> tuple[str | None, str]:
        data = TicketCreate(subject=field(form, "subject"),
                            description=field(form, "description"),
                            team_id=field(form, "team_id").strip() or None,
                            assignee_id=field(form, "assignee_id").strip() or None)
        new = relations.do_create_child(uow, auth.actor, ticket_id, data)
        return new.id, "child"

    return await _post(request, ticket_id, act)
