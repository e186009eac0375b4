"""Applying SLA policies to tickets: choose the policy, run the clocks of ``tickets.sla`` as
the ticket moves (pause while pending, next response after a customer reply, stop on
resolve), keep ``next_breach_at`` / ``sla_status`` up to date. Owned by the SLA work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kefu.core.uow import UnitOfWork
    from kefu.tickets.models import Ticket
    from kefu.tickets.timeline import By

#: what happened to the ticket, for :func:`sync`
REASONS = ("created", "status", "agent_reply", "customer_reply", "reprioritized", "merged")


def sync(uow: UnitOfWork, ticket: Ticket, *, reason: str, by: By) -> None:
    """Bring the ticket's SLA clocks up to date after ``reason`` (see REASONS). Called by
    ``tickets.actions`` after each change (the ticket's new state is already set)."""
