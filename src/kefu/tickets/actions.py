"""Every write to tickets (``check_*`` validates and authorises, ``do_*`` changes and emits).

``actor`` is the user acting, or None for the system / automation / the customer, in which
case ``by`` says who it was (see ``tickets.timeline.By``). Every change is written through
``tickets.timeline`` and followed by ``tickets.clocks.sync``.

Everything a call needs is checked before anything is written, so a refused call changes
nothing (and the edge rolls the unit of work back on any error anyway).

Links, merge, split and child tickets are in :mod:`kefu.tickets.relations`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from kefu.accounts.models import Team, User
from kefu.accounts.notifications import do_notify
from kefu.contacts import actions as contact_actions
from kefu.contacts.models import Contact
from kefu.core.errors import Invalid
from kefu.core.ids import new_id
from kefu.inbox.models import Conversation
from kefu.tickets import assignment, clocks, files, timeline
from kefu.tickets.access import access_ticket, load_ticket
from kefu.tickets.events import TicketCreated, TicketReplied
from kefu.tickets.fields import validate_values
from kefu.tickets.models import (
    PRIORITIES,
    SOURCES,
    STATUSES,
    TRANSITIONS,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketTemplate,
    TicketWatcher,
    TicketWorkspace,
)
from kefu.tickets.schemas import TicketCreate, TicketUpdate
from kefu.tickets.timeline import SYSTEM, By

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork

MAX_BODY = 20_000
#: how long after resolving a customer's reply reopens the ticket (else: a follow-up ticket)
#: statuses in which a child ticket still counts as open work
UNFINISHED = ("new", "open", "pending")


def _who(actor: Actor | None, by: By | None) -> By:
    if by is not None:
        return by
    return By.user(actor) if actor is not None else SYSTEM


def link(ticket: Ticket) -> str:
    return f"/app/tickets/{ticket.id}"


# --- references in the input -----------------------------------------------------------


def _bad_ref(field_name: str, code: str, message: str, value: Any) -> Invalid:
    return Invalid(message, code=code, field=field_name, id=value)


def check_user(uow: UnitOfWork, workspace_id: str, user_id: str, *,
               field_name: str = "assignee_id") -> User:
    user = uow.session.get(User, user_id)
    if user is None or user.workspace_id != workspace_id or not user.is_active:
        raise _bad_ref(field_name, "user_not_found", "用户不存在 / No such user", user_id)
    return user


def check_team(uow: UnitOfWork, workspace_id: str, team_id: str) -> Team:
    team = uow.session.get(Team, team_id)
    if team is None or team.workspace_id != workspace_id:
        raise _bad_ref("team_id", "team_not_found", "团队不存在 / No such team", team_id)
    return team


def check_template(uow: UnitOfWork, workspace_id: str, template_id: str, *,
                   active: bool = True) -> TicketTemplate:
    tpl = uow.session.get(TicketTemplate, template_id)
    if tpl is None or tpl.workspace_id != workspace_id or (active and not tpl.is_active):
        raise _bad_ref("template_id", "template_not_found",
                       "工单模板不存在 / No such ticket template", template_id)
    return tpl


def check_parent(uow: UnitOfWork, workspace_id: str, parent_id: str,
                 child_id: str | None = None) -> Ticket:
    parent = uow.session.get(Ticket, parent_id)
    if parent is None or parent.workspace_id != workspace_id:
        raise _bad_ref("parent_id", "parent_not_found", "上级工单不存在 / No such parent ticket",
                       parent_id)
    seen: set[str] = set()
    node: Ticket | None = parent
    while node is not None and node.id not in seen:
        if child_id is not None and node.id == child_id:
            raise Invalid("上级工单不能是它自己或它的下级 / A ticket cannot be its own parent",
                          code="parent_cycle", field="parent_id", id=parent_id)
        seen.add(node.id)
        node = uow.session.get(Ticket, node.parent_id) if node.parent_id else None
    return parent


def _clean_tags(tags: list[str]) -> list[str]:
    out = list(dict.fromkeys(t.strip() for t in tags if isinstance(t, str) and t.strip()))
    if len(out) > 20 or any(len(t) > 40 for t in out):
        raise Invalid("标签最多 20 个、每个不超过 40 字 / At most 20 tags of 40 characters",
                      code="invalid_tags", field="tags")
    return out


def _check_body(body: str) -> str:
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("内容不能为空 / The text is empty", code="empty_body", field="body")
    if len(text) > MAX_BODY:
        raise Invalid("内容超过 20000 字 / The text is longer than 20000 characters",
                      code="body_too_long", field="body", limit=MAX_BODY)
    return text


def _check_files(uow: UnitOfWork, ticket: Ticket, file_ids: list[str] | None) -> list[str]:
    ids = list(dict.fromkeys(file_ids or []))
    if not ids:
        return []
    for fid in ids:
        row = files.get_file(uow, ticket.workspace_id, fid)
        if row.ticket_id is not None and row.ticket_id != ticket.id:
            raise Invalid("附件属于其他工单 / The file belongs to another ticket",
                          code="file_not_found", field="file_ids", id=fid)
    return ids


def _attachment_ids(spec: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    kinds = {s.get("key"): s.get("type") for s in spec if isinstance(s, dict)}
    out: list[str] = []
    for key, value in values.items():
        if kinds.get(key) == "attachment" and isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return out


def _resolve_contact(uow: UnitOfWork, workspace_id: str, data: TicketCreate) -> str | None:
    if data.contact_id:
        contact = uow.session.get(Contact, data.contact_id)
        if contact is None or contact.workspace_id != workspace_id:
            raise _bad_ref("contact_id", "contact_not_found", "客户不存在 / No such contact",
                           data.contact_id)
        return contact.id
    ref = data.contact
    if ref is None:
        return None
    email = ref.email.strip().lower()
    phone = re.sub(r"[\s-]", "", ref.phone)
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise Invalid("邮箱格式不对 / Invalid e-mail address", code="invalid_contact",
                      field="contact.email")
    if phone and not re.fullmatch(r"\+?\d{5,20}", phone):
        raise Invalid("电话格式不对 / Invalid phone number", code="invalid_contact",
                      field="contact.phone")
    if not email and not phone:
        raise Invalid("请给出客户的邮箱或电话 / Give the customer's e-mail or phone",
                      code="invalid_contact", field="contact")
    kind, value = ("email", email) if email else ("phone", phone)
    contact = contact_actions.do_resolve_contact(uow, workspace_id=workspace_id, kind=kind,
                                                 external_id=value, name=ref.name.strip())
    if email and not contact.email:
        contact.email = email
    if phone and not contact.phone:
        contact.phone = phone
    if ref.name.strip() and not contact.name:
        contact.name = ref.name.strip()[:120]
    return contact.id


# --- create ----------------------------------------------------------------------------


@dataclass
class _Plan:
    """A checked creation: every value the ticket row will get."""

    subject: str
    description: str
    priority: str
    team_id: str | None
    assignee_id: str | None
    template_id: str | None
    fields: dict[str, Any]
    tags: list[str]
    contact_id: str | None
    conversation_id: str | None
    parent_id: str | None
    watchers: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)


_REF_FIELDS = ("template_id", "team_id", "assignee_id", "contact_id", "conversation_id",
               "parent_id")


def check_create(uow: UnitOfWork, workspace_id: str, data: TicketCreate, *,
                 creator_id: str | None, validate_fields: bool = True) -> _Plan:
    """Validate a creation (references in this workspace, field values); no writes except
    resolving a contact given by address."""
    # an empty id (a form's "none" option) is no reference, not a broken foreign key
    data = data.model_copy(update={k: None for k in _REF_FIELDS if getattr(data, k) == ""})
    template = check_template(uow, workspace_id, data.template_id) if data.template_id else None
    if template is not None:
        values = (validate_values(template.fields, data.fields, session=uow.session,
                                  workspace_id=workspace_id)
                  if validate_fields else dict(data.fields))
    elif data.fields:
        raise Invalid("字段值有误 / Some field values are invalid", code="invalid_fields",
                      fields={str(k): "没有选择模板 / No template chosen" for k in data.fields})
    else:
        values = {}
    team_id = data.team_id or (template.default_team_id if template else None)
    if team_id:
        check_team(uow, workspace_id, team_id)
    if data.assignee_id:
        check_user(uow, workspace_id, data.assignee_id)
    conversation_id = None
    contact_from_conv = None
    if data.conversation_id:
        conv = uow.session.get(Conversation, data.conversation_id)
        if conv is None or conv.workspace_id != workspace_id:
            raise _bad_ref("conversation_id", "conversation_not_found",
                           "会话不存在 / No such conversation", data.conversation_id)
        conversation_id, contact_from_conv = conv.id, conv.contact_id
    if data.parent_id:
        check_parent(uow, workspace_id, data.parent_id)
    watchers = [creator_id] if creator_id else []
    for uid in data.watcher_ids:
        check_user(uow, workspace_id, uid, field_name="watcher_ids")
        watchers.append(uid)
    priority = data.priority or (template.default_priority if template else "P3")
    if priority not in PRIORITIES:
        priority = "P3"
    contact_id = _resolve_contact(uow, workspace_id, data) or contact_from_conv
    return _Plan(subject=data.subject, description=data.description, priority=priority,
                 team_id=team_id, assignee_id=data.assignee_id,
                 template_id=template.id if template else None, fields=values,
                 tags=data.tags, contact_id=contact_id, conversation_id=conversation_id,
                 parent_id=data.parent_id, watchers=list(dict.fromkeys(watchers)),
                 attachments=_attachment_ids(template.fields, values) if template else [])


def _insert_ignore(uow: UnitOfWork, model: Any, values: dict[str, Any]) -> None:
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    uow.session.execute(stmt)


def next_number(uow: UnitOfWork, workspace_id: str) -> int:
    """The workspace's next ticket number: one ``UPDATE … RETURNING`` on the counter row (the
    row lock makes concurrent creations take turns on PostgreSQL)."""
    stmt = (update(TicketWorkspace).where(TicketWorkspace.workspace_id == workspace_id)
            .values(last_number=TicketWorkspace.last_number + 1)
            .returning(TicketWorkspace.last_number)
            .execution_options(synchronize_session=False))
    n = uow.session.execute(stmt).scalar()
    if n is None:
        _insert_ignore(uow, TicketWorkspace, {"workspace_id": workspace_id, "last_number": 0,
                                              "settings": {}})
        n = uow.session.execute(stmt).scalar_one()
    return int(n)


def find_by_ref(uow: UnitOfWork, workspace_id: str, external_ref: str) -> Ticket | None:
    return uow.session.scalar(select(Ticket).where(Ticket.workspace_id == workspace_id,
                                                  Ticket.external_ref == external_ref))


def _add_watchers(uow: UnitOfWork, ticket: Ticket, user_ids: list[str], *,
                  by: By | None = None, via: str = "") -> list[str]:
    """Add watchers not there yet; returns those added. With ``by``, each one added gets a
    ``watcher_added`` line on the timeline (``via``: why, e.g. "mention", "merge")."""
    if not user_ids:
        return []
    have = set(uow.session.scalars(select(TicketWatcher.user_id).where(
        TicketWatcher.ticket_id == ticket.id)))
    added = [u for u in dict.fromkeys(user_ids) if u not in have]
    for uid in added:
        uow.session.add(TicketWatcher(workspace_id=ticket.workspace_id, ticket_id=ticket.id,
                                      user_id=uid))
        if by is not None:
            timeline.record(uow, ticket, "watcher_added", by,
                            data={"user_id": uid, "via": via} if via else {"user_id": uid})
    return added


def _insert(uow: UnitOfWork, workspace_id: str, plan: _Plan, *, source: str, who: By,
            external_ref: str | None, email_thread: dict[str, Any] | None) -> Ticket | None:
    """Insert the row inside a SAVEPOINT; None when another creation with the same
    ``external_ref`` won a race (the caller loads the winner)."""
    now = uow.clock.now()
    try:
        with uow.session.begin_nested():
            ticket = Ticket(
                id=new_id(), workspace_id=workspace_id, number=next_number(uow, workspace_id),
                subject=plan.subject, description=plan.description, status="new",
                priority=plan.priority, source=source, template_id=plan.template_id,
                fields=plan.fields, tags=plan.tags, contact_id=plan.contact_id,
                conversation_id=plan.conversation_id, team_id=plan.team_id,
                assignee_id=plan.assignee_id, parent_id=plan.parent_id,
                external_ref=external_ref, email_thread=email_thread, sla={},
                sla_status="none", created_by=who.id if who.type == "user" else None,
                created_at=now, updated_at=now, last_seq=0)
            uow.session.add(ticket)
            uow.session.flush()
    except IntegrityError:
        if external_ref is None:
            raise
        return None
    return ticket


def do_create_ticket_once(uow: UnitOfWork, actor: Actor | None, *, workspace_id: str,
                          data: TicketCreate, source: str, by: By | None = None,
                          email_thread: dict[str, Any] | None = None,
                          external_ref: str | None = None,
                          validate_fields: bool = True) -> tuple[Ticket, bool]:
    """Create a ticket, or return the one already made with the same ``external_ref`` (an
    idempotency key / e-mail Message-ID): ``(ticket, created)``. Safe under a concurrent
    race: the loser's insert fails in a SAVEPOINT and the winner's ticket is returned."""
    if actor is not None:
        actor.require("ticket.write")
        workspace_id = actor.workspace_id
    if source not in SOURCES:
        raise Invalid("来源无效 / Unknown source", code="invalid_source", field="source")
    if external_ref is not None:
        external_ref = external_ref.strip()[:200] or None
    if external_ref:
        existing = find_by_ref(uow, workspace_id, external_ref)
        if existing is not None:
            return existing, False
    who = _who(actor, by)
    plan = check_create(uow, workspace_id, data,
                        creator_id=actor.user_id if actor is not None else None,
                        validate_fields=validate_fields)
    if plan.team_id and not plan.assignee_id:
        plan.assignee_id = assignment.pick_assignee(uow, plan.team_id)
    ticket = _insert(uow, workspace_id, plan, source=source, who=who,
                     external_ref=external_ref, email_thread=email_thread)
    if ticket is None:
        assert external_ref is not None
        winner = find_by_ref(uow, workspace_id, external_ref)
        if winner is None:  # pragma: no cover - the conflict was on something else
            raise Invalid("工单创建冲突 / Ticket creation conflicted", code="create_conflict")
        return winner, False
    first_watchers = _add_watchers(uow, ticket, plan.watchers)
    files.attach(uow, workspace_id=workspace_id, ticket_id=ticket.id, file_ids=plan.attachments)
    timeline.record(uow, ticket, "created", who, public=True, body=plan.description or None,
                    data={"subject": ticket.subject, "status": ticket.status,
                          "priority": ticket.priority, "team_id": ticket.team_id,
                          "assignee_id": ticket.assignee_id, "source": source,
                          "template_id": ticket.template_id, "tags": ticket.tags,
                          "watchers": first_watchers,
                          "fields": ticket.fields, "contact_id": ticket.contact_id,
                          "conversation_id": ticket.conversation_id,
                          "parent_id": ticket.parent_id,
                          "auto_assigned": bool(ticket.assignee_id and not data.assignee_id)})
    if ticket.parent_id:
        parent = uow.session.get(Ticket, ticket.parent_id)
        if parent is not None:
            timeline.record(uow, parent, "child_added", who,
                            data={"ticket_id": ticket.id, "number": ticket.number,
                                  "team_id": ticket.team_id})
    clocks.sync(uow, ticket, reason="created", by=who)
    uow.emit(TicketCreated(workspace_id=workspace_id, ticket_id=ticket.id, number=ticket.number,
                           subject=ticket.subject, status=ticket.status,
                           priority=ticket.priority, source=source, team_id=ticket.team_id,
                           assignee_id=ticket.assignee_id, actor_type=who.type,
                           actor_id=who.id))
    return ticket, True


def do_create_ticket(uow: UnitOfWork, actor: Actor | None, *, workspace_id: str,
                     data: TicketCreate, source: str, by: By | None = None,
                     email_thread: dict[str, Any] | None = None,
                     external_ref: str | None = None) -> Ticket:
    """Create a ticket (number, template defaults, field validation, assignment, watchers,
    SLA clocks, ``TicketCreated``). ``source``: one of ``models.SOURCES``. With
    ``external_ref`` a second call returns the first ticket (see ``do_create_ticket_once``).
    With an ``actor`` the ticket is made in the actor's workspace."""
    ticket, _created = do_create_ticket_once(
        uow, actor, workspace_id=workspace_id, data=data, source=source, by=by,
        email_thread=email_thread, external_ref=external_ref)
    return ticket


# --- update ----------------------------------------------------------------------------


def _load(uow: UnitOfWork, actor: Actor | None, ticket_id: str,
          permission: str = "ticket.write") -> Ticket:
    if actor is not None:
        return access_ticket(uow, actor, ticket_id, permission=permission, for_update=True)
    return load_ticket(uow, ticket_id, for_update=True)


def check_transition(ticket: Ticket, to_status: str) -> None:
    if to_status not in STATUSES or to_status not in TRANSITIONS[ticket.status]:
        raise Invalid(f"工单不能从 {ticket.status} 变为 {to_status} / "
                      f"A ticket cannot go from {ticket.status} to {to_status}",
                      code="invalid_transition", field="status",
                      from_status=ticket.status, to_status=to_status)


def open_children(uow: UnitOfWork, ticket: Ticket) -> list[Ticket]:
    return list(uow.session.scalars(select(Ticket).where(
        Ticket.parent_id == ticket.id, Ticket.status.in_(UNFINISHED))
        .order_by(Ticket.number)).all())


def _status_changes(uow: UnitOfWork, ticket: Ticket, status: str, *,
                    force: bool = False) -> dict[str, Any]:
    """The columns a status change sets (checked against TRANSITIONS; a parent with open
    children resolves only with ``force``)."""
    if status == ticket.status:
        return {}
    check_transition(ticket, status)
    now = uow.clock.now()
    out: dict[str, Any] = {"status": status}
    if status in ("resolved", "closed") and not force:
        kids = open_children(uow, ticket)
        if kids:
            raise Invalid("还有未完成的下级工单 / Some child tickets are still open",
                          code="children_open", field="status",
                          children=[k.number for k in kids])
    if status == "resolved":
        out["resolved_at"] = now
    elif status == "closed":
        out["closed_at"] = now
        if ticket.resolved_at is None:
            out["resolved_at"] = now
    elif ticket.status == "resolved":
        out["resolved_at"] = None  # reopened
    return out


def _check_update(uow: UnitOfWork, ticket: Ticket, data: TicketUpdate, *,
                  force: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(status changes, other changes)`` of an update; raises before anything is set."""
    sent = data.model_fields_set
    ws = ticket.workspace_id
    # an empty id (a form's "none" option) clears the reference
    data = data.model_copy(update={k: None for k in _REF_FIELDS
                                   if k in TicketUpdate.model_fields and getattr(data, k) == ""})
    for name in ("subject", "status", "priority"):
        if name in sent and getattr(data, name) is None:
            raise Invalid(f"{name} 不能为空 / {name} cannot be empty", code="field_required",
                          field=name)
    status = (_status_changes(uow, ticket, data.status, force=force)
              if "status" in sent and data.status else {})
    other: dict[str, Any] = {}
    if "subject" in sent:
        other["subject"] = data.subject
    if "priority" in sent:
        other["priority"] = data.priority
    if "team_id" in sent:
        if data.team_id:
            check_team(uow, ws, data.team_id)
        other["team_id"] = data.team_id
    if "assignee_id" in sent:
        if data.assignee_id:
            check_user(uow, ws, data.assignee_id)
        other["assignee_id"] = data.assignee_id
    template: TicketTemplate | None = None
    if "template_id" in sent:
        if data.template_id:
            template = check_template(uow, ws, data.template_id)
        other["template_id"] = data.template_id
    elif ticket.template_id:
        template = uow.session.get(TicketTemplate, ticket.template_id)
    if ("fields" in sent and data.fields is not None) or "template_id" in sent:
        merged = {**(ticket.fields or {}), **(data.fields or {})}
        if template is None:
            if any(v is not None for v in (data.fields or {}).values()):
                raise Invalid("字段值有误 / Some field values are invalid",
                              code="invalid_fields",
                              fields={str(k): "没有选择模板 / No template chosen"
                                      for k in data.fields or {}})
            other["fields"] = {}
        else:
            known = {s.get("key") for s in template.fields}
            if "template_id" in sent:  # fields of the old template are dropped
                merged = {k: v for k, v in merged.items() if k in known}
            checked = validate_values(template.fields, merged, partial=True,
                                      session=uow.session, workspace_id=ws)
            other["fields"] = {k: v for k, v in checked.items() if v is not None}
    if "tags" in sent:
        other["tags"] = _clean_tags(data.tags or [])
    if "parent_id" in sent:
        if data.parent_id:
            check_parent(uow, ws, data.parent_id, child_id=ticket.id)
        other["parent_id"] = data.parent_id
    return status, other


def do_update_ticket(uow: UnitOfWork, actor: Actor | None, ticket_id: str, data: TicketUpdate,
                     *, by: By | None = None, force: bool = False) -> Ticket:
    """Change the fields that were sent (``data.model_fields_set``); transitions checked
    against ``models.TRANSITIONS`` (``Invalid(code="invalid_transition")``). Resolving a
    parent with open children needs ``force``.

    A team change without an assignee in the same update keeps the assignee when they are a
    member of the new team; otherwise the team's assignment mode picks one (manual: none).
    Any active user of the workspace may be made the assignee."""
    ticket = _load(uow, actor, ticket_id)
    who = _who(actor, by)
    status, other = _check_update(uow, ticket, data, force=force)
    attach_ids = _new_attachments(uow, ticket, other)
    new_team = other.get("team_id", ticket.team_id)
    if ("team_id" in other and other["team_id"] != ticket.team_id
            and "assignee_id" not in other):
        current = ticket.assignee_id
        if new_team is None:
            pass
        elif current is None or not assignment.is_member(uow, new_team, current):
            other["assignee_id"] = assignment.pick_assignee(uow, new_team)
    changed = timeline.change(uow, ticket, other, who)
    files.attach(uow, workspace_id=ticket.workspace_id, ticket_id=ticket.id,
                 file_ids=attach_ids)
    moved = timeline.change(uow, ticket, status, who, public=True) if status else {}
    if moved:
        clocks.sync(uow, ticket, reason="status", by=who)
    if {"priority", "template_id", "team_id"} & changed.keys():
        clocks.sync(uow, ticket, reason="reprioritized", by=who)
    if "parent_id" in changed:
        _record_reparent(uow, ticket, changed["parent_id"], who)
    return ticket


def _new_attachments(uow: UnitOfWork, ticket: Ticket, other: dict[str, Any]) -> list[str]:
    """Files newly put in attachment fields by an update: they must be free or this ticket's
    (checked here, bound to the ticket after the change) so their links work."""
    if "fields" not in other:
        return []
    tpl_id = other.get("template_id", ticket.template_id)
    tpl = uow.session.get(TicketTemplate, tpl_id) if tpl_id else None
    if tpl is None:
        return []
    old = set(_attachment_ids(tpl.fields, dict(ticket.fields or {})))
    new = [i for i in _attachment_ids(tpl.fields, other["fields"]) if i not in old]
    return _check_files(uow, ticket, new)


def _record_reparent(uow: UnitOfWork, ticket: Ticket, change: list[Any], who: By) -> None:
    old, new = change
    for pid, kind in ((old, "child_removed"), (new, "child_added")):
        parent = uow.session.get(Ticket, pid) if pid else None
        if parent is not None:
            timeline.record(uow, parent, kind, who,
                            data={"ticket_id": ticket.id, "number": ticket.number})


def set_status(uow: UnitOfWork, ticket: Ticket, status: str, who: By, *,
               force: bool = True) -> dict[str, list[Any]]:
    """Move a ticket (already loaded and authorised) to ``status`` through the timeline."""
    changes = _status_changes(uow, ticket, status, force=force)
    moved = timeline.change(uow, ticket, changes, who, public=True) if changes else {}
    if moved:
        clocks.sync(uow, ticket, reason="status", by=who)
    return moved


# --- replies ---------------------------------------------------------------------------


def mentioned_users(uow: UnitOfWork, workspace_id: str, body: str, *,
                    exclude: str | None = None) -> list[User]:
    """Active users of the workspace named in ``body`` as ``@姓名`` or ``@email``."""
    if "@" not in body:
        return []
    lowered = body.lower()
    users = uow.session.scalars(select(User).where(
        User.workspace_id == workspace_id, User.is_active.is_(True)).order_by(User.id)).all()
    out = []
    for u in users:
        if u.id == exclude:
            continue
        if (u.name and f"@{u.name}" in body) or (u.email and f"@{u.email.lower()}" in lowered):
            out.append(u)
    return out


def do_reply(uow: UnitOfWork, actor: Actor | None, ticket_id: str, *, body: str,
             public: bool, file_ids: list[str] | None = None,
             by: By | None = None) -> TicketEvent:
    """A public reply (to the customer, through the ticket's origin: ``tickets.delivery``)
    or an internal note; @mentions notify the colleagues named (and make them watchers).
    The first public reply of an agent sets ``first_response_at`` and moves new → open."""
    ticket = _load(uow, actor, ticket_id)
    who = _who(actor, by)
    text = _check_body(body)
    if public and ticket.status == "closed":
        raise Invalid("工单已关闭，不能回复客户 / The ticket is closed",
                      code="ticket_closed", field="status")
    ids = _check_files(uow, ticket, file_ids)
    mentions = mentioned_users(uow, ticket.workspace_id, text,
                               exclude=who.id if who.type == "user" else None)
    files.attach(uow, workspace_id=ticket.workspace_id, ticket_id=ticket.id, file_ids=ids)
    kind = "reply" if public else "note"
    data: dict[str, Any] = {}
    if ids:
        data["file_ids"] = ids
    if mentions:
        data["mentions"] = [u.id for u in mentions]
    event = timeline.record(uow, ticket, kind, who, public=public, body=text, data=data)
    now = uow.clock.now()
    if public and who.type in ("user", "automation"):
        if ticket.first_response_at is None and who.type == "user":
            ticket.first_response_at = now
        ticket.last_agent_reply_at = now
        if ticket.status == "new":
            set_status(uow, ticket, "open", who)
    if mentions:
        _add_watchers(uow, ticket, [u.id for u in mentions], by=who, via="mention")
        author = actor.name if actor is not None else (who.label or "")
        do_notify(uow, workspace_id=ticket.workspace_id, user_ids=[u.id for u in mentions],
                  kind="ticket_mention",
                  title=f"{author} 在工单 #{ticket.number} 中提到了你 / "
                        f"{author} mentioned you in ticket #{ticket.number}",
                  body=text[:500], link=link(ticket), email=True,
                  key=f"ticket_mention:{event.id}")
    uow.session.flush()
    uow.emit(TicketReplied(workspace_id=ticket.workspace_id, ticket_id=ticket.id,
                           number=ticket.number, event_id=event.id, kind=kind,
                           actor_type=who.type, actor_id=who.id))
    if public:
        clocks.sync(uow, ticket, reason="agent_reply", by=who)
    return event


def _reopen_days(uow: UnitOfWork, workspace_id: str) -> int:
    from kefu.tickets.policies import ticket_settings

    return ticket_settings(uow.session, workspace_id)["reopen_days"]


def _follow_up(uow: UnitOfWork, old: Ticket, contact_id: str | None, who: By) -> Ticket:
    """A new ticket for a customer writing on a closed (or long resolved) one."""
    tpl = uow.session.get(TicketTemplate, old.template_id) if old.template_id else None
    tpl_id = tpl.id if tpl is not None and tpl.is_active else None
    data = TicketCreate.model_validate({
        "subject": old.subject, "template_id": tpl_id,
        "description": f"#{old.number} 的后续 / Follow-up of #{old.number}",
        "fields": dict(old.fields or {}) if tpl_id else {}, "priority": old.priority,
        "team_id": old.team_id, "tags": list(old.tags or []),
        "contact_id": contact_id or old.contact_id, "conversation_id": old.conversation_id})
    new, _ = do_create_ticket_once(uow, None, workspace_id=old.workspace_id, data=data,
                                   source=old.source, by=who, email_thread=old.email_thread,
                                   validate_fields=False)
    add_link(uow, old, new, "follow_up", "follow_up_of")
    timeline.record(uow, old, "follow_up", who, data={"ticket_id": new.id,
                                                      "number": new.number})
    return new


def add_link(uow: UnitOfWork, a: Ticket, b: Ticket, kind_ab: str, kind_ba: str) -> bool:
    """Store a link in both directions; False when it was already there."""
    exists = uow.session.scalar(select(TicketLink.id).where(
        TicketLink.ticket_id == a.id, TicketLink.other_id == b.id))
    if exists is not None:
        return False
    now = uow.clock.now()
    uow.session.add(TicketLink(id=new_id(), workspace_id=a.workspace_id, ticket_id=a.id,
                               other_id=b.id, kind=kind_ab, created_at=now))
    back = uow.session.scalar(select(TicketLink.id).where(
        TicketLink.ticket_id == b.id, TicketLink.other_id == a.id))
    if back is None:
        uow.session.add(TicketLink(id=new_id(), workspace_id=a.workspace_id, ticket_id=b.id,
                                   other_id=a.id, kind=kind_ba, created_at=now))
    uow.session.flush()
    return True


def remove_links(uow: UnitOfWork, a: Ticket, b: Ticket) -> int:
    result: Any = uow.session.execute(delete(TicketLink).where(
        ((TicketLink.ticket_id == a.id) & (TicketLink.other_id == b.id))
        | ((TicketLink.ticket_id == b.id) & (TicketLink.other_id == a.id))))
    return int(result.rowcount or 0)


def do_customer_reply(uow: UnitOfWork, ticket_id: str, *, contact_id: str | None, body: str,
                      via: str, file_ids: list[str] | None = None,
                      data: dict[str, Any] | None = None) -> TicketEvent:
    """The customer wrote (portal, e-mail, conversation). A resolved ticket reopens within the
    workspace's reopen window; on a closed ticket a follow-up ticket is created and linked.
    A pending ticket goes back to open. Returns the event that holds the customer's text."""
    ticket = load_ticket(uow, ticket_id, for_update=True)
    seen: set[str] = set()
    while ticket.merged_into_id and ticket.id not in seen:  # a merged ticket lives on there
        seen.add(ticket.id)
        ticket = load_ticket(uow, ticket.merged_into_id, for_update=True)
    text = _check_body(body)
    ids = _check_files(uow, ticket, file_ids)
    who = By.customer(contact_id or ticket.contact_id)
    now = uow.clock.now()
    window = timedelta(days=_reopen_days(uow, ticket.workspace_id))
    if ticket.status == "closed" or (
            ticket.status == "resolved" and ticket.resolved_at is not None
            and now - ticket.resolved_at > window):
        ticket = _follow_up(uow, ticket, contact_id, who)
    elif ticket.status in ("resolved", "pending"):
        set_status(uow, ticket, "open", who)
    files.attach(uow, workspace_id=ticket.workspace_id, ticket_id=ticket.id, file_ids=ids)
    payload: dict[str, Any] = {**(data or {}), "via": via}
    if ids:
        payload["file_ids"] = ids
    event = timeline.record(uow, ticket, "customer", who, public=True, body=text, data=payload)
    ticket.last_customer_reply_at = now
    uow.session.flush()
    uow.emit(TicketReplied(workspace_id=ticket.workspace_id, ticket_id=ticket.id,
                           number=ticket.number, event_id=event.id, kind="customer",
                           actor_type=who.type, actor_id=who.id))
    clocks.sync(uow, ticket, reason="customer_reply", by=who)
    recipients = [*uow.session.scalars(select(TicketWatcher.user_id).where(
        TicketWatcher.ticket_id == ticket.id)), ticket.assignee_id or ""]
    do_notify(uow, workspace_id=ticket.workspace_id, user_ids=recipients,
              kind="ticket_customer_reply",
              title=f"客户回复了工单 #{ticket.number} / The customer replied to ticket "
                    f"#{ticket.number}",
              body=text[:500], link=link(ticket), email=False)
    return event


# --- watchers --------------------------------------------------------------------------


def do_add_watcher(uow: UnitOfWork, actor: Actor, ticket_id: str, user_id: str) -> bool:
    """Watch a ticket (yourself: ``ticket.read``; someone else: ``ticket.write``). False when
    they already watched it."""
    ticket = _load(uow, actor, ticket_id,
                   "ticket.read" if user_id == actor.user_id else "ticket.write")
    check_user(uow, ticket.workspace_id, user_id, field_name="user_id")
    if not _add_watchers(uow, ticket, [user_id]):
        return False
    timeline.record(uow, ticket, "watcher_added", By.user(actor), data={"user_id": user_id})
    return True


def do_remove_watcher(uow: UnitOfWork, actor: Actor, ticket_id: str, user_id: str) -> bool:
    ticket = _load(uow, actor, ticket_id,
                   "ticket.read" if user_id == actor.user_id else "ticket.write")
    result: Any = uow.session.execute(delete(TicketWatcher).where(
        TicketWatcher.ticket_id == ticket.id, TicketWatcher.user_id == user_id))
    if not result.rowcount:
        return False
    timeline.record(uow, ticket, "watcher_removed", By.user(actor), data={"user_id": user_id})
    return True
