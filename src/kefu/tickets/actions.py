"""Every write to tickets (``check_*`` validates and authorises, ``do_*`` changes and emits).

``actor`` is the user acting, or None for the system / automation / the customer, in which
case ``by`` says who it was (see ``tickets.timeline.By``). Every change is written through
``tickets.timeline`` and followed by ``tickets.clocks.sync``. (Skeleton: being written.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork
    from kefu.tickets.models import Ticket, TicketEvent
    from kefu.tickets.schemas import TicketCreate, TicketUpdate
    from kefu.tickets.timeline import By


def do_create_ticket(uow: UnitOfWork, actor: Actor | None, *, workspace_id: str,
                     data: TicketCreate, source: str, by: By | None = None,
                     email_thread: dict[str, Any] | None = None) -> Ticket:
    """Create a ticket (number, template defaults, field validation, assignment, watchers,
    SLA clocks, ``TicketCreated``). ``source``: one of ``models.SOURCES``."""
    raise NotImplementedError


def do_update_ticket(uow: UnitOfWork, actor: Actor | None, ticket_id: str, data: TicketUpdate,
                     *, by: By | None = None) -> Ticket:
    """Change the fields that were sent (``data.model_fields_set``); transitions checked
    against ``models.TRANSITIONS`` (``Invalid(code="invalid_transition")``)."""
    raise NotImplementedError


def do_reply(uow: UnitOfWork, actor: Actor | None, ticket_id: str, *, body: str,
             public: bool, file_ids: list[str] | None = None,
             by: By | None = None) -> TicketEvent:
    """A public reply (to the customer, through the ticket's origin: ``tickets.delivery``)
    or an internal note; @mentions in notes notify the colleagues named."""
    raise NotImplementedError


def do_customer_reply(uow: UnitOfWork, ticket_id: str, *, contact_id: str | None, body: str,
                      via: str, file_ids: list[str] | None = None,
                      data: dict[str, Any] | None = None) -> TicketEvent:
    """The customer wrote (portal, e-mail, conversation). A resolved ticket reopens within the
    workspace's reopen window; on a closed ticket a follow-up ticket is created and linked.
    Returns the event that holds the customer's text."""
    raise NotImplementedError
