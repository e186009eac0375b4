"""Applying SLA policies to tickets: choose the policy, run the clocks of ``tickets.sla`` as
the ticket moves (pause while pending, next response after a customer reply, stop on
resolve), keep ``next_breach_at`` / ``sla_status`` up to date. Owned by the SLA work.

``Ticket.sla`` (JSON), read by the ticket pages and reports::

    {"policy_id": "…", "policy": "VIP 工单", "calendar": "工作日 9-18" | None,
     "clocks": {
        "first_response" | "next_response" | "resolution": {
            "target_s": 14400,            # business seconds allowed
            "elapsed_s": 3600,            # business seconds used before running_since
            "running_since": iso | None,  # running now (None: paused or stopped)
            "paused_at": iso | None,      # paused (ticket pending)
            "due_at": iso | None,         # when it breaches, if running
            "stopped_at": iso | None,     # met (first response sent, resolved)
            "breached_at": iso | None}}}  # when it breached (kept after stopping)

``Ticket.next_breach_at`` = the earliest ``due_at`` of a running clock (None otherwise);
``Ticket.sla_status``: none | ok | warning (≥ 75 % used) | breached | paused."""

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
