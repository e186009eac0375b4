"""The demo shop shows tickets working: templates, SLA policies on a business calendar,
automation, tickets at different stages (one made from a conversation), reminders."""

from __future__ import annotations

from sqlalchemy import func, select

from kefu.accounts.models import Notification, User
from kefu.core.clock import FixedClock
from kefu.core.uow import UowFactory
from kefu.demo import DEMO_TICKETS, load_demo
from kefu.services import Services
from kefu.tickets import reminders
from kefu.tickets.models import SlaPolicy, Ticket, TicketEvent, TicketTemplate


def test_demo_tickets(svc: Services, uows: UowFactory, clock: FixedClock) -> None:
    info = load_demo(uows)
    ws = info.workspace_id
    with uows(readonly=True) as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(TicketTemplate).where(
            TicketTemplate.workspace_id == ws, TicketTemplate.public.is_(True))) == 2
        tickets = {t.subject: t for t in s.scalars(select(Ticket).where(
            Ticket.workspace_id == ws))}
        assert len(tickets) == len(DEMO_TICKETS) + 1
        from_chat = [t for t in tickets.values() if t.source == "conversation"]
        assert len(from_chat) == 1 and from_chat[0].conversation_id is not None
        vip = s.scalar(select(SlaPolicy.id).where(SlaPolicy.workspace_id == ws,
                                                  SlaPolicy.name == "VIP 客户"))
        refund = tickets["退款一直没到账"]
        # the refund trigger tagged it and set P2; the customer is a VIP
        assert "退款" in refund.tags and refund.priority == "P2"
        assert refund.sla_policy_id == vip
        assert tickets["少发了一盒蓝莓"].status == "resolved"
        assert tickets["少发了一盒蓝莓"].sla_resolution == "met"
        # timelines are dated in the past, as the demo tells it
        first = s.scalar(select(func.min(TicketEvent.at)).where(
            TicketEvent.ticket_id == tickets["少发了一盒蓝莓"].id))
        assert first is not None and (clock.now() - first).total_seconds() >= 59 * 3600
    # the 30-hour-old open ticket has run out of resolution time: the tick says so
    with uows() as uow:
        counts = reminders.run_tick(uow)
    assert counts.get("breach", 0) >= 1
    with uows(readonly=True) as uow:
        late = uow.session.get(Ticket, tickets["车厘子到货有坏果，要求补发"].id)
        assert late is not None and late.sla_status == "breached"
        chen = uow.session.scalar(select(User.id).where(User.email == "chen@shop.demo"))
        kinds = set(uow.session.scalars(select(Notification.kind).where(
            Notification.user_id == chen)))
        assert {"ticket_breach", "ticket_todo_digest"} <= kinds, kinds
