"""Ticket tables.

Every change to a ticket goes through :mod:`kefu.tickets.timeline`, which writes an immutable
:class:`TicketEvent` (actor, time, old → new) in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin

STATUSES = ("new", "open", "pending", "resolved", "closed")
#: allowed transitions; ``closed`` is final (a customer writing again opens a follow-up ticket)
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "resolved", "closed"}),
    "open": frozenset({"pending", "resolved", "closed"}),
    "pending": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
PRIORITIES = ("P1", "P2", "P3", "P4")
SOURCES = ("agent", "conversation", "leave_message", "portal", "email", "api", "split")
FIELD_TYPES = ("text", "number", "date", "select", "multiselect", "attachment")
ACTOR_TYPES = ("user", "customer", "system", "automation")
#: SLA metrics (targets in minutes of business time)
SLA_METRICS = ("first_response", "next_response", "resolution")
ASSIGNMENT_MODES = ("manual", "round_robin", "least_loaded")


class TicketWorkspace(Base):
    """Per-workspace ticket counter and settings (reopen window, auto close, digest hour)."""

    __tablename__ = "ticket_workspaces"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    #: {"reopen_days": 7, "autoclose_days": 7, "digest_hour": 9}
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TicketTeamSettings(Base):
    """How tickets are assigned inside a team (expert group) and its round-robin pointer."""

    __tablename__ = "ticket_team_settings"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    assignment: Mapped[str] = mapped_column(String(16), default="manual")
    #: the team lead (组长): told when a ticket of the team breaches its SLA
    lead_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_assigned_id: Mapped[str | None] = mapped_column(String(24))


class TicketTemplate(IdMixin, Base):
    """A ticket form (工单模板): custom fields plus defaults. ``fields`` is a list of
    ``{"key", "label", "type", "required", "options", "help"}`` (see ``tickets.fields``)."""

    __tablename__ = "ticket_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    default_team_id: Mapped[str | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"))
    default_priority: Mapped[str] = mapped_column(String(2), default="P3")
    #: offered on the customer self-service form
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BusinessCalendarRow(IdMixin, Base):
    """A stored business calendar (``core.calendar.BusinessCalendar``): working hours per
    weekday (``{"mon": ["09:00-18:00"], …}``), holidays, make-up workdays (调休), timezone."""

    __tablename__ = "business_calendars"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    weekly: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    #: ISO dates
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)
    workdays: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SlaPolicy(IdMixin, Base):
    """Targets by priority for the tickets its conditions match (first match by position).

    ``conditions``: ``{"priorities": [...], "tiers": [...], "template_ids": [...]}`` (empty =
    any). ``targets``: ``{"P1": {"first_response": 30, "next_response": 60,
    "resolution": 480}, …}`` in business minutes. ``escalation``: minutes after a breach
    before the supervisor is told (the team lead is told at the breach)."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    targets: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    calendar_id: Mapped[str | None] = mapped_column(
        ForeignKey("business_calendars.id", ondelete="SET NULL"))
    escalate_after_minutes: Mapped[int] = mapped_column(Integer, default=60)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Ticket(IdMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        UniqueConstraint("workspace_id", "external_ref"),
        Index("ix_tickets_ws_team_breach", "workspace_id", "team_id", "next_breach_at"),
        Index("ix_tickets_ws_breach", "workspace_id", "next_breach_at"),
        Index("ix_tickets_ws_status", "workspace_id", "status", "updated_at"),
        Index("ix_tickets_ws_assignee", "workspace_id", "assignee_id", "status"),
        # reports: date ranges, and the backlog (status × team × age) from the index alone
        Index("ix_tickets_ws_created", "workspace_id", "created_at"),
        Index("ix_tickets_ws_resolved", "workspace_id", "resolved_at"),
        Index("ix_tickets_ws_first_response", "workspace_id", "first_response_at"),
        Index("ix_tickets_ws_backlog", "workspace_id", "status", "team_id", "created_at"),
        Index("ix_tickets_ws_sla_check", "workspace_id", "sla_check_at"),
    )

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    #: per-workspace number shown as #123
    number: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    source: Mapped[str] = mapped_column(String(16), default="agent")
    template_id: Mapped[str | None] = mapped_column(
        ForeignKey("ticket_templates.id", ondelete="SET NULL"))
    #: custom field values by field key (validated against the template)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    merged_into_id: Mapped[str | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"))
    #: the caller's idempotency key (API ``Idempotency-Key``) or an e-mail's Message-ID:
    #: a retry finds the ticket already made instead of making a second one
    external_ref: Mapped[str | None] = mapped_column(String(200))
    #: where public replies go for e-mail tickets (Message-ID threading, the address)
    email_thread: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: SLA: the policy applied and its clocks (``tickets.sla.Clock.to_dict`` per metric)
    sla_policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL"))
    sla: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the earliest due time of a running clock (None: paused, met or no SLA): list sort key
    next_breach_at: Mapped[datetime | None]
    #: "none" | "ok" | "warning" | "breached" | "paused"
    sla_status: Mapped[str] = mapped_column(String(16), default="none")
    #: when the reminder tick must look at this ticket next (a 75 % warning, a due time, an
    #: escalation); None: nothing to remind of. Set to "now" on every clock change and to
    #: the next such moment by the tick (``tickets.reminders``)
    sla_check_at: Mapped[datetime | None]
    #: each clock's outcome so far, for reports: None (no clock) | running | met | breached
    #: (derived from ``sla`` by ``clocks.store``)
    sla_first_response: Mapped[str | None] = mapped_column(String(8))
    sla_next_response: Mapped[str | None] = mapped_column(String(8))
    sla_resolution: Mapped[str | None] = mapped_column(String(8))
    first_response_at: Mapped[datetime | None]
    last_customer_reply_at: Mapped[datetime | None]
    last_agent_reply_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: number of timeline events (the next event's seq)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class TicketEvent(IdMixin, Base):
    """One immutable line of a ticket's timeline: a field change (``data.changes`` =
    ``{field: [old, new]}``), a public reply or internal note (``body``), an SLA pause or
    resume, a reminder sent, a customer view… Never updated or deleted."""

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(24))
    #: shown to the customer in the portal (public replies, state changes)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class TicketWatcher(Base):
    __tablename__ = "ticket_watchers"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class TicketLink(IdMixin, Base):
    """A link between two tickets (stored once per direction)."""

    __tablename__ = "ticket_links"
    __table_args__ = (UniqueConstraint("ticket_id", "other_id"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    other_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="related")
    created_at: Mapped[datetime]


class TicketFile(IdMixin, Base):
    """An attachment (a custom field of type attachment, or a reply's file)."""

    __tablename__ = "ticket_files"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    ticket_id: Mapped[str | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: uploaded by a user, or by a customer (portal / self-service form / e-mail)
    uploaded_by: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime]


class TicketReminder(IdMixin, Base):
    """A reminder that was sent. ``key`` is unique: a reminder is sent exactly once even when
    several workers run the same tick (the loser's insert conflicts and it sends nothing)."""

    __tablename__ = "ticket_reminders"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    ticket_id: Mapped[str | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    #: dispatch | todo_digest | warning | breach | escalation
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class TicketTrigger(IdMixin, Base):
    """An automation: on ``event`` (create | update | time), when every condition matches
    (``[{"field", "op", "value"}]``), do the actions (``[{"type", …}]``)."""

    __tablename__ = "ticket_triggers"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(16))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketTriggerFiring(IdMixin, Base):
    """A time trigger fired on a ticket (once per trigger, ticket and ``key``)."""

    __tablename__ = "ticket_trigger_firings"
    __table_args__ = (UniqueConstraint("trigger_id", "ticket_id", "key"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    trigger_id: Mapped[str] = mapped_column(
        ForeignKey("ticket_triggers.id", ondelete="CASCADE"))
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime]


class TicketSubmission(IdMixin, Base):
    """A self-service form sent by a customer without an account, waiting for the customer
    to open the verification link (only its hash is stored). Confirming it creates the
    ticket, once."""

    __tablename__ = "ticket_submissions"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    ticket_id: Mapped[str | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
