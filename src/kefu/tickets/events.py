"""Ticket events. ``TicketChanged.changes`` holds ``{field: [old, new]}`` as JSON values."""

from __future__ import annotations

from typing import Any, Literal

from kefu.core.events import Event


class TicketCreated(Event):
    type: Literal["ticket.created"] = "ticket.created"
    ticket_id: str
    number: int
    subject: str
    status: str
    priority: str
    source: str
    team_id: str | None
    assignee_id: str | None
    #: "user" | "customer" | "system" | "automation"
    actor_type: str
    actor_id: str | None


class TicketChanged(Event):
    """Fields of a ticket changed (status, priority, team, assignee, fields, tags, SLA…)."""

    type: Literal["ticket.changed"] = "ticket.changed"
    ticket_id: str
    number: int
    changes: dict[str, list[Any]]
    actor_type: str
    actor_id: str | None


class TicketReplied(Event):
    """A public reply, an internal note or a customer message was added to a ticket."""

    type: Literal["ticket.replied"] = "ticket.replied"
    ticket_id: str
    number: int
    event_id: str
    #: "reply" (public, by an agent) | "note" (internal) | "customer"
    kind: str
    actor_type: str
    actor_id: str | None
