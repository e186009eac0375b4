"""Permission-checked loads of tickets. Another workspace's ticket is as missing as one that
never existed (``NotFound`` code ``ticket_not_found``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from kefu.core.errors import NotFound
from kefu.tickets.models import Ticket

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork


def ticket_missing(ticket_id: str) -> NotFound:
    return NotFound("工单不存在 / No such ticket", code="ticket_not_found", id=ticket_id)


def load_ticket(uow: UnitOfWork, ticket_id: str, *, workspace_id: str | None = None,
                for_update: bool = False) -> Ticket:
    """A ticket by id (no permission check: the system, jobs, the customer's own paths).
    ``workspace_id``: also require that workspace."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if for_update and uow.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ticket = uow.session.scalar(stmt)
    if ticket is None or (workspace_id is not None and ticket.workspace_id != workspace_id):
        raise ticket_missing(ticket_id)
    return ticket


def access_ticket(uow: UnitOfWork, actor: Actor, ticket_id: str, *,
                  permission: str = "ticket.read", for_update: bool = False) -> Ticket:
    """Load one ticket for a user who holds ``permission`` (``ticket.read`` by default)."""
    actor.require(permission)
    return load_ticket(uow, ticket_id, workspace_id=actor.workspace_id, for_update=for_update)
