"""Shared setup of the ticket page tests: tickets made through the real actions, a template
with a required field, and SLA states set the way the SLA code stores them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kefu.accounts.actor import Actor
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.tickets import actions
from kefu.tickets.models import Ticket, TicketTemplate
from kefu.tickets.schemas import ContactRef, TicketCreate, TicketUpdate

FIELDS: list[dict[str, Any]] = [
    {"key": "order_no", "label": "订单号", "type": "text", "required": True, "options": [],
     "help": "如 E20261111"},
    {"key": "amount", "label": "金额", "type": "number", "required": False, "options": []},
    {"key": "kind", "label": "问题类型", "type": "select", "required": False,
     "options": ["退款", "换货", "物流"]},
    {"key": "due_day", "label": "期望日期", "type": "date", "required": False, "options": []},
    {"key": "areas", "label": "涉及", "type": "multiselect", "required": False,
     "options": ["包装", "商品", "快递"]},
]


def make_template(uows: UowFactory, workspace_id: str, name: str = "售后工单", *,
                  priority: str = "P2", fields: list[dict[str, Any]] | None = None,
                  active: bool = True) -> str:
    with uows() as uow:
        now = uow.clock.now()
        tpl = TicketTemplate(id=new_id(), workspace_id=workspace_id, name=name,
                             description="退款、换货、物流问题", fields=fields or FIELDS,
                             default_priority=priority, is_active=active, created_at=now,
                             updated_at=now)
        uow.session.add(tpl)
        return tpl.id


def make_ticket(uows: UowFactory, actor: Actor, subject: str, **kw: Any) -> Ticket:
    contact = kw.pop("contact", None)
    with uows() as uow:
        ticket = actions.do_create_ticket(
            uow, actor, workspace_id=actor.workspace_id, source="agent",
            data=TicketCreate(subject=subject,
                              contact=ContactRef(**contact) if contact else None, **kw))
        uow.session.expunge(ticket)
        return ticket


def set_sla(uows: UowFactory, ticket_id: str, *, status: str,
            next_breach_at: datetime | None) -> None:
    """The derived SLA columns, as ``tickets.clocks`` writes them."""
    with uows() as uow:
        ticket = uow.session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.sla_status = status
        ticket.next_breach_at = next_breach_at


def update(uows: UowFactory, actor: Actor, ticket_id: str, **kw: Any) -> None:
    with uows() as uow:
        actions.do_update_ticket(uow, actor, ticket_id, TicketUpdate(**kw))
