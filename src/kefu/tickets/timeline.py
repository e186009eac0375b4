"""The only writer of a ticket's history. Every change of a ticket goes through
:func:`change` (fields) or :func:`record` (anything else worth a timeline line), which append
an immutable :class:`TicketEvent` in the same transaction and emit the domain event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kefu.core.ids import new_id
from kefu.tickets.events import TicketChanged
from kefu.tickets.models import Ticket, TicketEvent

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class By:
    """Who acts on a ticket: a user, the customer (a contact), the system or automation."""

    type: str  # user | customer | system | automation
    id: str | None = None
    #: e.g. the trigger's name, or "sla" for the clock
    label: str = ""

    @staticmethod
    def user(actor: Actor) -> By:
        return By("user", actor.user_id)

    @staticmethod
    def customer(contact_id: str | None) -> By:
        return By("customer", contact_id)


SYSTEM = By("system")


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def record(uow: UnitOfWork, ticket: Ticket, kind: str, by: By, *, public: bool = False,
           body: str | None = None, data: dict[str, Any] | None = None) -> TicketEvent:
    """Append one line to the ticket's timeline (and bump ``updated_at``)."""
    now = uow.clock.now()
    ticket.last_seq = (ticket.last_seq or 0) + 1
    payload = _json(data or {})
    if by.label:
        payload = {**payload, "by_label": by.label}
    ev = TicketEvent(id=new_id(), workspace_id=ticket.workspace_id, ticket_id=ticket.id,
                     seq=ticket.last_seq, kind=kind, actor_type=by.type, actor_id=by.id,
                     public=public, body=body, data=payload, at=now)
    uow.session.add(ev)
    ticket.updated_at = now
    return ev


def change(uow: UnitOfWork, ticket: Ticket, changes: dict[str, Any], by: By, *,
           kind: str = "changed", public: bool = False,
           data: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    """Set ticket attributes; record one event with ``{field: [old, new]}`` for those that
    really changed and emit ``TicketChanged``. Returns the changes (empty: nothing done)."""
    diff: dict[str, list[Any]] = {}
    for name, value in changes.items():
        if not hasattr(Ticket, name) or name in ("id", "workspace_id", "number", "last_seq"):
            raise AttributeError(f"not a changeable ticket field: {name}")
        old = getattr(ticket, name)
        if old == value:
            continue
        diff[name] = [_json(old), _json(value)]
        setattr(ticket, name, value)
    if not diff:
        return {}
    record(uow, ticket, kind, by, public=public, data={**(data or {}), "changes": diff})
    uow.emit(TicketChanged(workspace_id=ticket.workspace_id, ticket_id=ticket.id,
                           number=ticket.number, changes=diff, actor_type=by.type,
                           actor_id=by.id))
    return diff
