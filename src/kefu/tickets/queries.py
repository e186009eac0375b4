"""Reads of tickets for the pages and the API: the list (filters, sorts, keyset pagination),
one ticket with its timeline, and small lookups.

Who sees what: every user holding ``ticket.read`` sees every ticket of their workspace.

Sorting by "time to breach" (``sort="breach"``) pages in two phases so that it stays on the
index ``(workspace_id, team_id, next_breach_at)`` on SQLite and PostgreSQL alike: first the
tickets with a running clock by ``(next_breach_at, id)``, then those without by
``(updated_at desc, id desc)``. The opaque cursor says which phase and where."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, String, and_, cast, func, or_, select

from kefu.accounts.models import Team, User
from kefu.contacts.models import Contact
from kefu.core.errors import Invalid
from kefu.inbox.models import Conversation, Message
from kefu.tickets.access import access_ticket
from kefu.tickets.models import (
    PRIORITIES,
    SOURCES,
    STATUSES,
    TRANSITIONS,
    Ticket,
    TicketEvent,
    TicketFile,
    TicketLink,
    TicketTemplate,
    TicketWatcher,
)

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork

SORTS = ("breach", "updated", "created", "priority", "number")
SLA_STATUSES = ("none", "ok", "warning", "breached", "paused")
#: statuses counted as "still to do" (open work)
ACTIVE_STATUSES = ("new", "open", "pending")
MAX_LIMIT = 200
#: counts stop here ("1000+"): a page load never counts a whole big workspace
COUNT_CAP = 1000


class TicketFilter(BaseModel):
    """What the list shows. ``assignee_id``: a user id, or "none" (unassigned); the caller
    resolves "me". ``team_id``: a team id or "none". ``q``: "#123" (a number), or text found
    in the subject or the contact's name / e-mail."""

    model_config = ConfigDict(extra="ignore")

    status: list[str] | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    priority: list[str] | None = None
    template_id: str | None = None
    tag: str | None = None
    sla_status: str | None = None
    q: str | None = None
    source: str | None = None
    contact_id: str | None = None
    #: tickets a user watches
    watcher_id: str | None = None


class TicketRow(BaseModel):
    id: str
    number: int
    subject: str
    status: str
    priority: str
    team_id: str | None
    team_name: str = ""
    assignee_id: str | None
    assignee_name: str = ""
    contact_id: str | None = None
    contact_name: str = ""
    template_id: str | None = None
    template_name: str = ""
    tags: list[str] = Field(default_factory=list)
    source: str
    sla_status: str
    next_breach_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TicketPage(BaseModel):
    items: list[TicketRow]
    next_cursor: str | None = None


class TicketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workspace_id: str
    number: int
    subject: str
    description: str
    status: str
    priority: str
    source: str
    template_id: str | None
    fields: dict[str, Any]
    tags: list[str]
    contact_id: str | None
    conversation_id: str | None
    team_id: str | None
    assignee_id: str | None
    parent_id: str | None
    merged_into_id: str | None
    external_ref: str | None
    sla_policy_id: str | None
    sla: dict[str, Any]
    next_breach_at: datetime | None
    sla_status: str
    first_response_at: datetime | None
    last_customer_reply_at: datetime | None
    last_agent_reply_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


class FileRef(BaseModel):
    id: str
    name: str
    content_type: str
    size: int


class TimelineItem(BaseModel):
    id: str
    seq: int
    kind: str
    actor_type: str
    actor_id: str | None
    actor_name: str = ""
    public: bool
    body: str | None
    data: dict[str, Any]
    at: datetime
    files: list[FileRef] = Field(default_factory=list)


class Ref(BaseModel):
    """A user or a team (id + name; e-mail for users)."""

    id: str
    name: str
    email: str = ""


class TicketRef(BaseModel):
    id: str
    number: int
    subject: str
    status: str
    #: for links: related | follow_up | split_from | split_to | merged
    kind: str = ""


class TemplateInfo(BaseModel):
    id: str
    name: str
    fields: list[dict[str, Any]]


class ContactInfo(BaseModel):
    id: str
    name: str
    email: str
    phone: str


class TranscriptLine(BaseModel):
    seq: int
    sender_type: str
    sender_name: str = ""
    content: str
    private: bool
    created_at: datetime


class TicketDetail(BaseModel):
    ticket: TicketRead
    template: TemplateInfo | None
    fields: dict[str, Any]
    contact: ContactInfo | None
    team_name: str = ""
    assignee_name: str = ""
    timeline: list[TimelineItem]
    watchers: list[Ref]
    links: list[TicketRef]
    parent: TicketRef | None
    children: list[TicketRef]
    merged_into: TicketRef | None
    transcript: list[TranscriptLine]
    next_statuses: list[str]
    users: list[Ref]
    teams: list[Ref]


# --- the list --------------------------------------------------------------------------


def _bad(field: str, value: Any) -> Invalid:
    return Invalid("筛选条件无效 / Invalid filter", code="invalid_filter", field=field,
                   value=value)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_NUMBER = re.compile(r"^#?(\d{1,9})$")


def _filtered(stmt: Select[Any], workspace_id: str, flt: TicketFilter) -> Select[Any]:
    stmt = stmt.where(Ticket.workspace_id == workspace_id)
    if flt.status:
        bad = [s for s in flt.status if s not in STATUSES]
        if bad:
            raise _bad("status", bad)
        stmt = stmt.where(Ticket.status.in_(flt.status))
    if flt.priority:
        bad = [p for p in flt.priority if p not in PRIORITIES]
        if bad:
            raise _bad("priority", bad)
        stmt = stmt.where(Ticket.priority.in_(flt.priority))
    if flt.team_id:
        stmt = stmt.where(Ticket.team_id.is_(None) if flt.team_id == "none"
                          else Ticket.team_id == flt.team_id)
    if flt.assignee_id:
        stmt = stmt.where(Ticket.assignee_id.is_(None) if flt.assignee_id == "none"
                          else Ticket.assignee_id == flt.assignee_id)
    if flt.template_id:
        stmt = stmt.where(Ticket.template_id == flt.template_id)
    if flt.source:
        if flt.source not in SOURCES:
            raise _bad("source", flt.source)
        stmt = stmt.where(Ticket.source == flt.source)
    if flt.sla_status:
        if flt.sla_status not in SLA_STATUSES:
            raise _bad("sla_status", flt.sla_status)
        stmt = stmt.where(Ticket.sla_status == flt.sla_status)
    if flt.contact_id:
        stmt = stmt.where(Ticket.contact_id == flt.contact_id)
    if flt.watcher_id:
        stmt = stmt.where(Ticket.id.in_(select(TicketWatcher.ticket_id).where(
            TicketWatcher.user_id == flt.watcher_id)))
    if flt.tag and flt.tag.strip():
        # tags are stored as JSON text (no ASCII escaping): look for the quoted tag
        pattern = _like(json.dumps(flt.tag.strip(), ensure_ascii=False))
        stmt = stmt.where(cast(Ticket.tags, String).like(pattern, escape="\\"))
    q = (flt.q or "").strip()
    if q:
        m = _NUMBER.match(q)
        text_match: ColumnElement[bool] = or_(
            Ticket.subject.ilike(_like(q), escape="\\"),
            Ticket.contact_id.in_(select(Contact.id).where(
                Contact.workspace_id == workspace_id,
                or_(Contact.name.ilike(_like(q), escape="\\"),
                    Contact.email.ilike(_like(q), escape="\\")))),
        )
        if m:
            number_match = Ticket.number == int(m.group(1))
            stmt = stmt.where(number_match if q.startswith("#") else or_(number_match,
                                                                         text_match))
        else:
            stmt = stmt.where(text_match)
    return stmt


def _encode(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ValueError(cursor)
        return data
    except ValueError as exc:
        raise Invalid("分页游标无效 / Invalid cursor", code="invalid_cursor") from exc


def _dt(value: Any) -> datetime:
    try:
        out = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise Invalid("分页游标无效 / Invalid cursor", code="invalid_cursor") from exc
    if out.tzinfo is None:
        raise Invalid("分页游标无效 / Invalid cursor", code="invalid_cursor")
    return out


def _after(keys: Sequence[tuple[Any, bool, Any]]) -> ColumnElement[bool]:
    """Rows strictly after a position in an ordering of ``(column, descending, value)``."""
    clauses: list[ColumnElement[bool]] = []
    for i, (col, desc, value) in enumerate(keys):
        eqs = [c == v for c, _d, v in keys[:i]]
        cmp = col < value if desc else col > value
        clauses.append(and_(*eqs, cmp))
    first, first_desc, first_value = keys[0]
    if len(keys) == 1:
        return clauses[0]
    # the leading bound lets the database start the index range there (an OR alone does not)
    bound = first <= first_value if first_desc else first >= first_value
    return and_(bound, or_(*clauses))


def _order(sort: str) -> list[tuple[Any, bool]]:
    if sort == "updated":
        return [(Ticket.updated_at, True), (Ticket.id, True)]
    if sort == "created":
        return [(Ticket.created_at, True), (Ticket.id, True)]
    if sort == "priority":
        return [(Ticket.priority, False), (Ticket.number, True)]
    if sort == "number":
        return [(Ticket.number, True)]
    raise _bad("sort", sort)


def _key_value(row: Ticket, col: Any) -> Any:
    value = getattr(row, col.key)
    return value.isoformat() if isinstance(value, datetime) else value


def _from_cursor(col: Any, value: Any) -> Any:
    if col.key in ("updated_at", "created_at", "next_breach_at"):
        return _dt(value)
    if col.key == "number":
        # an integer column: a bigger number (or a bool) would fail in the database
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise Invalid("分页游标无效 / Invalid cursor", code="invalid_cursor")
    elif not isinstance(value, str):
        raise Invalid("分页游标无效 / Invalid cursor", code="invalid_cursor")
    return value


def _keyset(uow: UnitOfWork, base: Select[Any], order: list[tuple[Any, bool]],
            position: dict[str, Any] | None, limit: int) -> list[Ticket]:
    stmt = base
    if position is not None:
        keys = [(col, desc, _from_cursor(col, position.get(col.key))) for col, desc in order]
        stmt = stmt.where(_after(keys))
    stmt = stmt.order_by(*[col.desc() if desc else col.asc() for col, desc in order])
    return list(uow.session.scalars(stmt.limit(limit)).all())


def _position(row: Ticket, order: list[tuple[Any, bool]]) -> dict[str, Any]:
    return {col.key: _key_value(row, col) for col, _desc in order}


_BREACH_ORDER: list[tuple[Any, bool]] = [(Ticket.next_breach_at, False), (Ticket.id, False)]
_NULL_ORDER: list[tuple[Any, bool]] = [(Ticket.updated_at, True), (Ticket.id, True)]


def list_tickets(uow: UnitOfWork, actor: Actor, flt: TicketFilter, *, sort: str = "breach",
                 limit: int = 50, cursor: str | None = None) -> TicketPage:
    """One page of the workspace's tickets matching ``flt``; ``next_cursor`` fetches the
    next page (None: this was the last)."""
    actor.require("ticket.read")
    if sort not in SORTS:
        raise _bad("sort", sort)
    limit = max(1, min(int(limit), MAX_LIMIT))
    base = _filtered(select(Ticket), actor.workspace_id, flt)
    pos = _decode(cursor) if cursor else None
    rows: list[Ticket]
    next_cursor: str | None = None
    if sort == "breach":
        phase = pos.get("phase", "b") if pos else "b"
        if phase not in ("b", "n"):
            raise Invalid("分页游标无效 / Invalid cursor", code="invalid_cursor")
        if pos is not None and pos.get("start"):
            pos = None  # the first page of phase "n"
        rows = []
        if phase == "b":
            rows = _keyset(uow, base.where(Ticket.next_breach_at.is_not(None)), _BREACH_ORDER,
                           pos, limit + 1)
            if len(rows) > limit:
                rows = rows[:limit]
                next_cursor = _encode({"phase": "b", **_position(rows[-1], _BREACH_ORDER)})
            else:
                pos, phase = None, "n"
        if phase == "n" and next_cursor is None:
            room = limit - len(rows)
            more = _keyset(uow, base.where(Ticket.next_breach_at.is_(None)), _NULL_ORDER, pos,
                           room + 1)
            if len(more) > room:
                more = more[:room]
                next_cursor = _encode(
                    {"phase": "n", **_position(more[-1], _NULL_ORDER)} if more
                    else {"phase": "n", "start": True, "id": ""})
            rows.extend(more)
    else:
        order = _order(sort)
        rows = _keyset(uow, base, order, pos, limit + 1)
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = _encode(_position(rows[-1], order) | {"id": rows[-1].id})
    return TicketPage(items=ticket_rows(uow, rows), next_cursor=next_cursor)


def count_tickets(uow: UnitOfWork, actor: Actor, flt: TicketFilter, *,
                  cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many tickets match, counted up to ``cap``: ``(count, more)`` — ``more`` is True
    when there are more than ``cap`` (show "1000+")."""
    actor.require("ticket.read")
    sub = _filtered(select(Ticket.id), actor.workspace_id, flt).limit(cap + 1).subquery()
    n = uow.session.scalar(select(func.count()).select_from(sub)) or 0
    return min(n, cap), n > cap


def _names(uow: UnitOfWork, model: Any, ids: set[str]) -> dict[str, str]:
    ids.discard("")
    if not ids:
        return {}
    return dict(uow.session.execute(select(model.id, model.name).where(model.id.in_(ids)))
                .all())


def ticket_rows(uow: UnitOfWork, tickets: Sequence[Ticket]) -> list[TicketRow]:
    teams = _names(uow, Team, {t.team_id for t in tickets if t.team_id})
    users = _names(uow, User, {t.assignee_id for t in tickets if t.assignee_id})
    contacts = _names(uow, Contact, {t.contact_id for t in tickets if t.contact_id})
    templates = _names(uow, TicketTemplate, {t.template_id for t in tickets if t.template_id})
    return [TicketRow(
        id=t.id, number=t.number, subject=t.subject, status=t.status, priority=t.priority,
        team_id=t.team_id, team_name=teams.get(t.team_id or "", ""),
        assignee_id=t.assignee_id, assignee_name=users.get(t.assignee_id or "", ""),
        contact_id=t.contact_id, contact_name=contacts.get(t.contact_id or "", ""),
        template_id=t.template_id, template_name=templates.get(t.template_id or "", ""),
        tags=list(t.tags or []), source=t.source, sla_status=t.sla_status,
        next_breach_at=t.next_breach_at, created_at=t.created_at, updated_at=t.updated_at,
    ) for t in tickets]


# --- one ticket ------------------------------------------------------------------------


def ticket_read(ticket: Ticket) -> TicketRead:
    return TicketRead.model_validate(ticket)


def _ref(t: Ticket, kind: str = "") -> TicketRef:
    return TicketRef(id=t.id, number=t.number, subject=t.subject, status=t.status, kind=kind)


def timeline(uow: UnitOfWork, ticket: Ticket, *, public_only: bool = False,
             after_seq: int = 0) -> list[TimelineItem]:
    """The ticket's events in order (``public_only``: what the customer may see)."""
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                     TicketEvent.seq > after_seq)
    if public_only:
        stmt = stmt.where(TicketEvent.public.is_(True))
    events = uow.session.scalars(stmt.order_by(TicketEvent.seq)).all()
    users = _names(uow, User, {e.actor_id for e in events
                               if e.actor_type == "user" and e.actor_id})
    contacts = _names(uow, Contact, {e.actor_id for e in events
                                     if e.actor_type == "customer" and e.actor_id})
    file_ids = {f for e in events for f in (e.data or {}).get("file_ids", [])
                if isinstance(f, str)}
    files: dict[str, FileRef] = {}
    if file_ids:
        for f in uow.session.execute(select(
                TicketFile.id, TicketFile.name, TicketFile.content_type, TicketFile.size).where(
                TicketFile.id.in_(file_ids),
                TicketFile.workspace_id == ticket.workspace_id)).all():
            files[f.id] = FileRef(id=f.id, name=f.name, content_type=f.content_type,
                                  size=f.size)
    out: list[TimelineItem] = []
    for e in events:
        data = e.data or {}
        if e.actor_type == "user":
            name = users.get(e.actor_id or "", "")
        elif e.actor_type == "customer":
            name = contacts.get(e.actor_id or "", "")
        else:
            name = str(data.get("by_label", ""))
        out.append(TimelineItem(
            id=e.id, seq=e.seq, kind=e.kind, actor_type=e.actor_type, actor_id=e.actor_id,
            actor_name=name, public=e.public, body=e.body, data=data, at=e.at,
            files=[files[f] for f in data.get("file_ids", []) if f in files]))
    return out


def transcript(uow: UnitOfWork, conversation_id: str, *, workspace_id: str,
               limit: int = 500) -> list[TranscriptLine]:
    conv = uow.session.get(Conversation, conversation_id)
    if conv is None or conv.workspace_id != workspace_id:
        return []
    msgs = uow.session.scalars(select(Message).where(Message.conversation_id == conv.id)
                               .order_by(Message.seq).limit(limit)).all()
    ids = {m.sender_id for m in msgs if m.sender_id}
    names = {**_names(uow, User, set(ids)), **_names(uow, Contact, set(ids))}
    return [TranscriptLine(seq=m.seq, sender_type=m.sender_type,
                           sender_name=names.get(m.sender_id or "", ""), content=m.content,
                           private=m.private, created_at=m.created_at) for m in msgs]


def workspace_users(uow: UnitOfWork, workspace_id: str) -> list[Ref]:
    rows = uow.session.execute(select(User.id, User.name, User.email).where(
        User.workspace_id == workspace_id, User.is_active.is_(True)).order_by(User.name, User.id))
    return [Ref(id=r.id, name=r.name, email=r.email) for r in rows]


def workspace_teams(uow: UnitOfWork, workspace_id: str) -> list[Ref]:
    rows = uow.session.execute(select(Team.id, Team.name).where(
        Team.workspace_id == workspace_id).order_by(Team.name, Team.id))
    return [Ref(id=r.id, name=r.name) for r in rows]


def watcher_ids(uow: UnitOfWork, ticket_id: str) -> list[str]:
    return list(uow.session.scalars(select(TicketWatcher.user_id).where(
        TicketWatcher.ticket_id == ticket_id).order_by(TicketWatcher.user_id)).all())


def ticket_links(uow: UnitOfWork, ticket: Ticket) -> list[TicketRef]:
    rows = uow.session.execute(
        select(Ticket, TicketLink.kind).join(TicketLink, TicketLink.other_id == Ticket.id)
        .where(TicketLink.ticket_id == ticket.id).order_by(Ticket.number)).all()
    return [_ref(t, kind) for t, kind in rows]


def children_of(uow: UnitOfWork, ticket: Ticket) -> list[Ticket]:
    return list(uow.session.scalars(select(Ticket).where(
        Ticket.parent_id == ticket.id, Ticket.workspace_id == ticket.workspace_id)
        .order_by(Ticket.number)).all())


def get_detail(uow: UnitOfWork, actor: Actor, ticket_id: str) -> TicketDetail:
    """Everything the ticket page shows."""
    ticket = access_ticket(uow, actor, ticket_id)
    s = uow.session
    template = s.get(TicketTemplate, ticket.template_id) if ticket.template_id else None
    contact = s.get(Contact, ticket.contact_id) if ticket.contact_id else None
    users = workspace_users(uow, ticket.workspace_id)
    user_names = {u.id: u.name for u in users}
    teams = workspace_teams(uow, ticket.workspace_id)
    team_names = {t.id: t.name for t in teams}
    wids = watcher_ids(uow, ticket.id)
    wnames = _names(uow, User, set(wids))
    parent = s.get(Ticket, ticket.parent_id) if ticket.parent_id else None
    merged = s.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
    return TicketDetail(
        ticket=ticket_read(ticket),
        template=TemplateInfo(id=template.id, name=template.name, fields=list(template.fields))
        if template else None,
        fields=dict(ticket.fields or {}),
        contact=ContactInfo(id=contact.id, name=contact.name, email=contact.email,
                            phone=contact.phone) if contact else None,
        team_name=team_names.get(ticket.team_id or "", ""),
        assignee_name=user_names.get(ticket.assignee_id or "", "")
        or _names(uow, User, {ticket.assignee_id or ""}).get(ticket.assignee_id or "", ""),
        timeline=timeline(uow, ticket),
        watchers=sorted((Ref(id=w, name=wnames.get(w, "")) for w in wids),
                        key=lambda r: (r.name, r.id)),
        links=ticket_links(uow, ticket),
        parent=_ref(parent) if parent is not None else None,
        children=[_ref(c) for c in children_of(uow, ticket)],
        merged_into=_ref(merged) if merged is not None else None,
        transcript=transcript(uow, ticket.conversation_id, workspace_id=ticket.workspace_id)
        if ticket.conversation_id else [],
        next_statuses=[s_ for s_ in STATUSES if s_ in TRANSITIONS[ticket.status]],
        users=users,
        teams=teams,
    )


def tickets_of_conversation(uow: UnitOfWork, actor: Actor,
                            conversation_id: str) -> list[TicketRow]:
    """The tickets made from one conversation (newest first)."""
    actor.require("ticket.read")
    rows = uow.session.scalars(select(Ticket).where(
        Ticket.workspace_id == actor.workspace_id, Ticket.conversation_id == conversation_id)
        .order_by(Ticket.number.desc()).limit(50)).all()
    return ticket_rows(uow, rows)

