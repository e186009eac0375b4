"""Tickets about tickets: links, merge (history kept), split, child tickets.

- ``do_link`` / ``do_unlink``: a ``related`` link, stored in both directions.
- ``do_merge(source → target)``: the source is closed with ``merged_into_id``; the target
  records ``merged_from`` with the source's number and a copy of its customer lines; the
  source's watchers, links and children move to the target.
- ``do_split``: a new ticket (source ``split``) from chosen customer lines of a ticket, or
  from a new subject + text; linked ``split_from`` / ``split_to``.
- ``do_create_child``: a ticket with ``parent_id`` (work handed to another team)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kefu.core.errors import Invalid
from kefu.tickets import clocks, timeline
from kefu.tickets.access import access_ticket
from kefu.tickets.actions import (
    _add_watchers,
    add_link,
    do_create_ticket_once,
    remove_links,
)
from kefu.tickets.models import Ticket, TicketEvent, TicketLink, TicketTemplate, TicketWatcher
from kefu.tickets.schemas import TicketCreate
from kefu.tickets.timeline import By

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork

LINK_KINDS = ("related",)
#: how many customer lines a merge copies onto the target
MAX_COPIED_LINES = 200


def _pair(uow: UnitOfWork, actor: Actor, ticket_id: str, other_id: str,
          same_code: str, same_message: str) -> tuple[Ticket, Ticket]:
    if ticket_id == other_id:
        raise Invalid(same_message, code=same_code, field="other_id", id=other_id)
    a = access_ticket(uow, actor, ticket_id, permission="ticket.write", for_update=True)
    b = access_ticket(uow, actor, other_id, permission="ticket.write", for_update=True)
    return a, b


def do_link(uow: UnitOfWork, actor: Actor, ticket_id: str, other_id: str, *,
            kind: str = "related") -> bool:
    """Link two tickets (both directions). False when they were linked already."""
    if kind not in LINK_KINDS:
        raise Invalid("关联类型无效 / Unknown link kind", code="invalid_link_kind", field="kind")
    a, b = _pair(uow, actor, ticket_id, other_id, "link_self",
                 "工单不能关联它自己 / A ticket cannot be linked to itself")
    if not add_link(uow, a, b, kind, kind):
        return False
    who = By.user(actor)
    timeline.record(uow, a, "linked", who, data={"ticket_id": b.id, "number": b.number,
                                                 "kind": kind})
    timeline.record(uow, b, "linked", who, data={"ticket_id": a.id, "number": a.number,
                                                 "kind": kind})
    return True


def do_unlink(uow: UnitOfWork, actor: Actor, ticket_id: str, other_id: str) -> None:
    a, b = _pair(uow, actor, ticket_id, other_id, "link_self",
                 "工单不能关联它自己 / A ticket cannot be linked to itself")
    if not remove_links(uow, a, b):
        raise Invalid("这两张工单没有关联 / These tickets are not linked",
                      code="link_not_found", field="other_id", id=other_id)
    who = By.user(actor)
    timeline.record(uow, a, "unlinked", who, data={"ticket_id": b.id, "number": b.number})
    timeline.record(uow, b, "unlinked", who, data={"ticket_id": a.id, "number": a.number})


def _customer_lines(uow: UnitOfWork, ticket: Ticket) -> list[dict[str, Any]]:
    events = uow.session.scalars(select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id,
        TicketEvent.kind.in_(("created", "customer")))
        .order_by(TicketEvent.seq).limit(MAX_COPIED_LINES)).all()
    return [{"seq": e.seq, "kind": e.kind, "actor_type": e.actor_type,
             "actor_id": e.actor_id, "at": e.at.isoformat(), "body": e.body or "",
             "file_ids": (e.data or {}).get("file_ids", [])}
            for e in events
            if e.kind == "customer" or (e.body and e.actor_type == "customer")]


def _move_links(uow: UnitOfWork, source: Ticket, target: Ticket) -> list[int]:
    rows = uow.session.execute(select(TicketLink.other_id, TicketLink.kind).where(
        TicketLink.ticket_id == source.id)).all()
    moved: list[int] = []
    for other_id, kind in rows:
        other = uow.session.get(Ticket, other_id)
        if other is None:
            continue
        remove_links(uow, source, other)
        if other.id == target.id:
            continue
        if add_link(uow, target, other, kind, kind):
            moved.append(other.number)
    return moved


def _ancestors(uow: UnitOfWork, ticket: Ticket) -> set[str]:
    out: set[str] = set()
    pid = ticket.parent_id
    while pid and pid not in out:
        out.add(pid)
        parent = uow.session.get(Ticket, pid)
        pid = parent.parent_id if parent is not None else None
    return out


def do_merge(uow: UnitOfWork, actor: Actor, source_id: str, target_id: str) -> Ticket:
    """Merge ``source`` into ``target``; returns the target."""
    source, target = _pair(uow, actor, source_id, target_id, "merge_self",
                           "工单不能合并到它自己 / A ticket cannot be merged into itself")
    for t in (source, target):
        if t.status == "closed" or t.merged_into_id:
            raise Invalid(f"工单 #{t.number} 已关闭或已合并 / Ticket #{t.number} is closed "
                          "or merged already", code="merge_closed", number=t.number)
    who = By.user(actor)
    now = uow.clock.now()
    lines = _customer_lines(uow, source)
    watchers = list(uow.session.scalars(select(TicketWatcher.user_id).where(
        TicketWatcher.ticket_id == source.id)))
    _add_watchers(uow, target, watchers, by=who, via="merge")
    links = _move_links(uow, source, target)
    children = list(uow.session.scalars(select(Ticket).where(Ticket.parent_id == source.id)))
    above = _ancestors(uow, target)
    for child in children:
        if child.id != target.id and child.id not in above:  # no parent cycle
            timeline.change(uow, child, {"parent_id": target.id}, who)
    timeline.change(uow, source, {"status": "closed", "closed_at": now,
                                  "resolved_at": source.resolved_at or now,
                                  "merged_into_id": target.id},
                    who, kind="merged_into", public=True,
                    data={"ticket_id": target.id, "number": target.number})
    timeline.record(uow, target, "merged_from", who,
                    body="\n\n".join(line["body"] for line in lines) or None,
                    data={"ticket_id": source.id, "number": source.number,
                          "subject": source.subject, "lines": lines,
                          "watchers": watchers, "links": links,
                          "children": [c.number for c in children]})
    if target.contact_id is None and source.contact_id:
        timeline.change(uow, target, {"contact_id": source.contact_id}, who)
    clocks.sync(uow, source, reason="merged", by=who)
    clocks.sync(uow, target, reason="merged", by=who)
    return target


def _split_lines(uow: UnitOfWork, ticket: Ticket, seqs: list[int]) -> list[TicketEvent]:
    wanted = sorted(set(seqs))
    # seqs are an integer column: one out of its range is no line (and no database error)
    in_range = [s for s in wanted if 0 < s < 2**31]
    events = list(uow.session.scalars(select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.seq.in_(in_range))
        .order_by(TicketEvent.seq)))
    found = {e.seq for e in events if e.body and (e.kind == "customer" or (
        e.kind == "created" and e.actor_type == "customer"))}
    bad = [s for s in wanted if s not in found]
    if bad:
        raise Invalid("只能拆分客户的消息 / Only the customer's lines can be split off",
                      code="invalid_split_lines", field="seqs", seqs=bad)
    return [e for e in events if e.seq in found]


def do_split(uow: UnitOfWork, actor: Actor, ticket_id: str, *, seqs: list[int] | None = None,
             subject: str | None = None, body: str | None = None) -> Ticket:
    """A new ticket from customer lines of ``ticket_id`` (``seqs``), or from a new
    ``subject`` + ``body``. The new ticket keeps the contact, template, team, priority and
    conversation; both are linked (``split_from`` / ``split_to``)."""
    original = access_ticket(uow, actor, ticket_id, permission="ticket.write",
                             for_update=True)
    lines = _split_lines(uow, original, seqs) if seqs else []
    text = (body or "").strip() or "\n\n".join(e.body or "" for e in lines)
    title = (subject or "").strip() or original.subject
    if not lines and not (body or "").strip():
        raise Invalid("请选择客户消息或填写内容 / Choose customer lines or write the text",
                      code="split_empty", field="seqs")
    if len(title) > 200 or len(text) > 20_000:
        raise Invalid("标题或内容太长 / The subject or text is too long",
                      code="split_too_long", field="subject")
    # a template switched off since cannot be used for a new ticket: split without it
    tpl = uow.session.get(TicketTemplate, original.template_id) if original.template_id else None
    tpl_id = tpl.id if tpl is not None and tpl.is_active else None
    data = TicketCreate.model_validate({
        "subject": title, "description": text, "template_id": tpl_id,
        "fields": dict(original.fields or {}) if tpl_id else {}, "priority": original.priority,
        "team_id": original.team_id, "contact_id": original.contact_id,
        "conversation_id": original.conversation_id, "tags": list(original.tags or [])})
    new, _ = do_create_ticket_once(uow, actor, workspace_id=original.workspace_id, data=data,
                                   source="split", validate_fields=False)
    who = By.user(actor)
    add_link(uow, new, original, "split_from", "split_to")
    timeline.record(uow, new, "split_from", who,
                    data={"ticket_id": original.id, "number": original.number,
                          "seqs": [e.seq for e in lines]})
    timeline.record(uow, original, "split", who,
                    data={"ticket_id": new.id, "number": new.number,
                          "seqs": [e.seq for e in lines]})
    return new


def do_create_child(uow: UnitOfWork, actor: Actor, parent_id: str,
                    data: TicketCreate) -> Ticket:
    """A child ticket of ``parent_id`` (e.g. handed to another team). Inherits the parent's
    contact when none is given."""
    parent = access_ticket(uow, actor, parent_id, permission="ticket.write")
    update: dict[str, Any] = {"parent_id": parent.id}
    if not data.contact_id and data.contact is None:
        update["contact_id"] = parent.contact_id
    child, _ = do_create_ticket_once(uow, actor, workspace_id=parent.workspace_id,
                                     data=data.model_copy(update=update), source="agent")
    return child
