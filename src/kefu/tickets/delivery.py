"""Public replies delivered to the customer through the ticket's origin, and the
acknowledgement of tickets customers opened themselves. Owned by the intake/portal work.

Job listeners (enqueued in the same transaction as the event, ADR 0010):

- ``ticket.replied`` with ``kind == "reply"`` (a public agent reply) → job
  ``deliver_ticket_reply`` (key ``deliver_ticket_reply:<event id>``):

  * the ticket came from a conversation → the reply is posted into it as an agent message
    (``inbox.actions.do_agent_reply`` as the replying user, or the assignee for automation;
    ``client_msg_id = ticket-reply-<event id>`` makes a retry a no-op). If that is refused
    (e.g. the customer has a newer conversation open) it goes by e-mail when an address is
    known;
  * otherwise, with an address (the e-mail thread's, else the contact's) → a ``send_email``
    job: subject ``[#123] subject``, ``In-Reply-To`` / ``References`` continuing the
    customer's thread, the portal link in the footer. The sent Message-ID is recorded on
    the timeline (``email_sent``, ``data.message_id``) and in ``Ticket.email_thread``, so
    the customer's answer threads back (``tickets.email_in``).

- ``ticket.created`` from a customer (source ``portal``, ``email``, ``leave_message``) →
  job ``ticket_ack``: an e-mail with the ticket number and the portal link, when an address
  is known (not for machine-sent mail: ``email_thread.auto``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kefu.accounts.models import User, Workspace
from kefu.accounts.queries import actor_for
from kefu.contacts.models import Contact
from kefu.core import mail
from kefu.core.errors import DomainError
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.portal import link_for
from kefu.tickets.timeline import SYSTEM, record

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.events import Event, EventBus, JobSpec
    from kefu.core.jobs import JobQueue
    from kefu.core.uow import UnitOfWork

log = logging.getLogger(__name__)

ACK_SOURCES = ("portal", "email", "leave_message")


def select_reply(event: Event) -> JobSpec | None:
    if getattr(event, "kind", None) != "reply":
        return None
    ev_id = getattr(event, "event_id", "")
    return ("deliver_ticket_reply",
            {"workspace_id": event.workspace_id, "ticket_id": getattr(event, "ticket_id", ""),
             "event_id": ev_id}, f"deliver_ticket_reply:{ev_id}")


def select_ack(event: Event) -> JobSpec | None:
    if getattr(event, "source", None) not in ACK_SOURCES:
        return None
    tid = getattr(event, "ticket_id", "")
    return ("ticket_ack", {"workspace_id": event.workspace_id, "ticket_id": tid},
            f"ticket_ack:{tid}")


# -- helpers ----------------------------------------------------------------------------------

def _address(uow: UnitOfWork, ticket: Ticket) -> str:
    thread = ticket.email_thread or {}
    if thread.get("address"):
        return str(thread["address"])
    if ticket.contact_id:
        contact = uow.session.get(Contact, ticket.contact_id)
        if contact is not None and contact.email:
            return contact.email
    return ""


def _thread_ids(uow: UnitOfWork, ticket: Ticket) -> tuple[list[str], str | None]:
    """(References, In-Reply-To) for a message continuing the ticket's thread: it answers
    the customer's latest message (else our own latest)."""
    ids = [str(i) for i in (ticket.email_thread or {}).get("message_ids") or []]
    customer = [str(m) for m in uow.session.scalars(
        select(TicketEvent.data["message_id"].as_string())
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.actor_type == "customer")
        .order_by(TicketEvent.seq)) if m]
    if ticket.source == "email" and ticket.external_ref:
        customer.insert(0, ticket.external_ref)  # the message that opened the ticket
    refs = list(dict.fromkeys([*ids, *customer]))
    in_reply_to = customer[-1] if customer else (ids[-1] if ids else None)
    return refs[-20:], in_reply_to


def _brand(uow: UnitOfWork, ticket: Ticket) -> str:
    ws = uow.session.get(Workspace, ticket.workspace_id)
    return ws.name if ws is not None else ""


def _subject(ticket: Ticket) -> str:
    # one line: a header may not hold CR/LF (the send would fail on every retry)
    return f"[#{ticket.number}] {' '.join((ticket.subject or '').split())}"


def _send(uow: UnitOfWork, settings: Settings, ticket: Ticket, *, to: str, subject: str,
          text: str, key: str, cause: str, data: dict[str, Any]) -> str:
    """Enqueue the e-mail and record it (timeline line + thread), once per ``key``."""
    message_id = mail.message_id_for(key, settings)
    already = uow.session.scalar(
        select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id,
                                     TicketEvent.kind == "email_sent",
                                     TicketEvent.data["message_id"].as_string() == message_id))
    if already is not None:
        return message_id
    refs, in_reply_to = _thread_ids(uow, ticket)
    payload: dict[str, Any] = {"to": [to], "subject": subject, "text": text,
                               "message_key": key, "from_name": _brand(uow, ticket) or None}
    if in_reply_to:
        payload["in_reply_to"] = in_reply_to
        payload["references"] = " ".join(refs)
    uow.enqueue("send_email", payload, key=f"send_email:{key}")
    thread = dict(ticket.email_thread or {})
    thread["message_ids"] = [*list(thread.get("message_ids") or []), message_id][-50:]
    thread.setdefault("address", to)
    ticket.email_thread = thread
    record(uow, ticket, "email_sent", SYSTEM, public=False,
           data={"message_id": message_id, "to": to, "cause": cause, **data})
    return message_id


def _footer(settings: Settings, ticket: Ticket) -> str:
    link = link_for(settings, ticket)
    return (f"\n\n--\n工单 #{ticket.number} · 查看进度或回复 / View or reply: {link}\n"
            "您也可以直接回复此邮件 / You can also reply to this e-mail.")


# -- jobs -------------------------------------------------------------------------------------

def _into_conversation(uow: UnitOfWork, ticket: Ticket, ev: TicketEvent) -> bool:
    from kefu.inbox import actions as inbox_actions

    user_id = ev.actor_id if ev.actor_type == "user" else ticket.assignee_id
    user = uow.session.get(User, user_id) if user_id else None
    if user is None or not user.is_active or user.workspace_id != ticket.workspace_id:
        return False
    actor = actor_for(user)
    try:
        with uow.session.begin_nested():
            inbox_actions.do_agent_reply(uow, actor, ticket.conversation_id or "",
                                         content=ev.body or "",
                                         client_msg_id=f"ticket-reply-{ev.id}",
                                         meta={"ticket_id": ticket.id,
                                               "ticket_number": ticket.number})
    except DomainError as exc:
        log.info("ticket #%s reply not posted into its conversation: %s", ticket.number,
                 exc.code)
        return False
    return True


def deliver_reply(settings: Settings) -> Any:
    def handle(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        ev = uow.session.get(TicketEvent, payload.get("event_id") or "")
        if ev is None or not ev.public:
            return
        ticket = uow.session.get(Ticket, ev.ticket_id)
        if ticket is None:
            return
        if ticket.conversation_id and _into_conversation(uow, ticket, ev):
            return
        to = _address(uow, ticket)
        if not to:
            return
        prefix = "Re: " if ticket.source == "email" else ""
        _send(uow, settings, ticket, to=to, subject=prefix + _subject(ticket),
              text=(ev.body or "") + _footer(settings, ticket),
              key=f"ticket-reply:{ev.id}", cause="reply", data={"event_id": ev.id})

    return handle


def acknowledge(settings: Settings) -> Any:
    def handle(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        ticket = uow.session.get(Ticket, payload.get("ticket_id") or "")
        if ticket is None or (ticket.email_thread or {}).get("auto"):
            return
        to = _address(uow, ticket)
        if not to:
            return
        brand = _brand(uow, ticket)
        text = (f"您好，\n\n{brand}已收到您的工单 #{ticket.number}「{ticket.subject}」，"
                "我们会尽快处理。\n\n"
                f"Hello,\n\n{brand} has received your request #{ticket.number} "
                f"\"{ticket.subject}\". We will get back to you soon.")
        prefix = "Re: " if ticket.source == "email" else ""
        _send(uow, settings, ticket, to=to, subject=prefix + _subject(ticket),
              text=text + _footer(settings, ticket), key=f"ticket-ack:{ticket.id}",
              cause="acknowledgement", data={})

    return handle


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""
    jobs.register("deliver_ticket_reply", deliver_reply(settings))
    jobs.register("ticket_ack", acknowledge(settings))
    bus.subscribe_job("ticket.replied", select_reply)
    bus.subscribe_job("ticket.created", select_ack)
