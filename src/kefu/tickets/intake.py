"""Tickets from other places: a conversation (one click), the bot's leave-a-message.

- :func:`do_create_from_conversation`: an agent turns a conversation into a ticket. The
  subject defaults to the first customer message, the description to the last customer
  messages; contact and conversation are linked (the ticket page shows the transcript) and
  the conversation gets an activity line naming the ticket.
- The ``ticket_leave_message`` job: when the bot confirms a message left outside business
  hours (a bot message with ``meta.kind == "leave_message_taken"``), the customer's messages
  since the bot asked become a ticket (source ``leave_message``), once per message
  (``external_ref = "leave:<message id>"``). Matched on the event's data: tickets do not
  import the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kefu.core.errors import Invalid
from kefu.inbox import actions as inbox_actions
from kefu.inbox.access import access_conversation
from kefu.inbox.events import MessageCreated
from kefu.inbox.models import Conversation, Message
from kefu.tickets.actions import do_create_ticket_once
from kefu.tickets.models import Ticket
from kefu.tickets.schemas import TicketCreate
from kefu.tickets.timeline import By

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.config import Settings
    from kefu.core.events import Event, EventBus
    from kefu.core.jobs import JobQueue
    from kefu.core.uow import UnitOfWork

SUBJECT_CHARS = 60
#: how many of the last customer messages make the description
DESCRIPTION_MESSAGES = 5
LEAVE_JOB = "ticket_leave_message"


def shorten(text: str, limit: int = SUBJECT_CHARS) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _customer_messages(uow: UnitOfWork, conv_id: str, *, after_seq: int = 0,
                       before_seq: int | None = None) -> list[Message]:
    stmt = select(Message).where(Message.conversation_id == conv_id,
                                 Message.sender_type == "customer",
                                 Message.private.is_(False), Message.seq > after_seq)
    if before_seq is not None:
        stmt = stmt.where(Message.seq < before_seq)
    return list(uow.session.scalars(stmt.order_by(Message.seq)).all())


def _note(uow: UnitOfWork, conv: Conversation, ticket: Ticket) -> None:
    inbox_actions.do_activity(
        uow, conv, f"已创建工单 #{ticket.number} / Ticket #{ticket.number} created",
        meta={"activity": "ticket_created", "ticket_id": ticket.id, "number": ticket.number})


def do_create_from_conversation(uow: UnitOfWork, actor: Actor, conversation_id: str, *,
                                subject: str | None = None, description: str | None = None,
                                template_id: str | None = None, priority: str | None = None,
                                team_id: str | None = None, assignee_id: str | None = None,
                                fields: dict[str, Any] | None = None) -> Ticket:
    """A ticket made from a conversation by an agent (source ``conversation``)."""
    actor.require("ticket.write")
    conv = access_conversation(actor, conversation_id, session=uow.session)
    msgs = _customer_messages(uow, conv.id)
    title = (subject or "").strip() or (shorten(msgs[0].content) if msgs else "")
    if not title:
        raise Invalid("请填写标题 / Give a subject", code="subject_required", field="subject")
    text = description if description is not None else "\n".join(
        m.content for m in msgs[-DESCRIPTION_MESSAGES:])
    data = TicketCreate.model_validate({
        "subject": shorten(title, 200), "description": text[:20_000],
        "template_id": template_id, "priority": priority, "team_id": team_id,
        "assignee_id": assignee_id, "fields": fields or {}, "contact_id": conv.contact_id,
        "conversation_id": conv.id})
    ticket, _ = do_create_ticket_once(uow, actor, workspace_id=actor.workspace_id, data=data,
                                      source="conversation")
    _note(uow, conv, ticket)
    return ticket


def select_leave_message(event: Event) -> tuple[str, dict[str, Any], str | None] | None:
    if not isinstance(event, MessageCreated):
        return None
    m = event.message
    if m.sender_type != "bot" or (m.meta or {}).get("kind") != "leave_message_taken":
        return None
    return LEAVE_JOB, {"message_id": m.id}, f"{LEAVE_JOB}:{m.id}"


def do_ticket_from_left_message(uow: UnitOfWork, message_id: str) -> Ticket | None:
    """The job: the ticket for a message left with the bot (None: nothing to make)."""
    taken = uow.session.get(Message, message_id)
    if taken is None:
        return None
    conv = uow.session.get(Conversation, taken.conversation_id)
    if conv is None:
        return None
    asked = _asked_seq(uow, conv.id, taken.seq)
    msgs = _customer_messages(uow, conv.id, after_seq=asked or 0, before_seq=taken.seq)
    if not msgs:
        return None
    text = "\n".join(m.content for m in msgs)
    data = TicketCreate.model_validate({
        "subject": f"留言 / Message: {shorten(msgs[0].content, 150)}",
        "description": text[:20_000], "contact_id": conv.contact_id,
        "conversation_id": conv.id, "team_id": conv.team_id})
    ticket, created = do_create_ticket_once(
        uow, None, workspace_id=conv.workspace_id, data=data, source="leave_message",
        by=By.customer(conv.contact_id), external_ref=f"leave:{taken.id}")
    if created:
        _note(uow, conv, ticket)
    return ticket


def _asked_seq(uow: UnitOfWork, conv_id: str, before_seq: int) -> int | None:
    """The seq of the bot message that asked the customer to leave a message (``meta.kind
    == "leave_message"``), looked at in Python: JSON queries differ between databases."""
    rows = uow.session.execute(
        select(Message.seq, Message.meta).where(Message.conversation_id == conv_id,
                                                Message.sender_type == "bot",
                                                Message.seq < before_seq)
        .order_by(Message.seq.desc()).limit(50)).all()
    return next((r.seq for r in rows if (r.meta or {}).get("kind") == "leave_message"), None)


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""

    def leave_message(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        do_ticket_from_left_message(uow, str(payload["message_id"]))

    jobs.register(LEAVE_JOB, leave_message)
    bus.subscribe_job("message.created", select_leave_message)
