"""The web chat transport's shared logic (used by its HTTP endpoints and its WebSocket).

Calls the web chat adapter for wire concerns and the inbox/contacts actions to persist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kefu.bot import actions as bot_actions
from kefu.bot.schemas import FeedbackCreate
from kefu.channels.webchat.adapter import HOST_USER, VISITOR, VisitorClaims, adapter
from kefu.contacts import actions as contact_actions
from kefu.contacts.models import Contact
from kefu.contacts.schemas import ContactUpdate
from kefu.core.errors import Invalid, NotFound, Unauthenticated
from kefu.core.uow import UnitOfWork
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.access import contact_conversation, public_inbox
from kefu.inbox.models import Inbox
from kefu.inbox.schemas import WebchatSettings
from kefu.realtime.listeners import visitor_conversation, visitor_message
from kefu.services import Services

HISTORY_LIMIT = 100
MAX_RESUME_CONVERSATIONS = 50


class SessionStart(BaseModel):
    """Body of ``POST /api/v1/webchat/{inbox_id}/sessions``."""

    token: str | None = Field(default=None, max_length=1000)
    user_id: str | None = Field(default=None, max_length=200)
    user_hash: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    page_url: str | None = Field(default=None, max_length=2000)


class PrechatUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+\- ()]*$")
    email: str | None = Field(default=None, max_length=254)


class VisitorSend(BaseModel):
    content: str = Field(min_length=1, max_length=4000)
    client_msg_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class SuggestRequest(BaseModel):
    """What the host page tells the widget: its URL and context such as an order's status."""

    page_url: str = Field(default="", max_length=2000)
    context: dict[str, str] = Field(default_factory=dict, max_length=20)


@dataclass(frozen=True)
class Visitor:
    claims: VisitorClaims


def inbox_settings(inbox: Inbox) -> WebchatSettings:
    return WebchatSettings.model_validate(inbox.settings or {})


def origin_allowed(inbox: Inbox, origin: str | None) -> bool:
    allowed = inbox_settings(inbox).allowed_origins
    if not allowed:
        return True
    if not origin:
        return False
    parts = urlsplit(origin)
    normalised = f"{parts.scheme}://{parts.netloc}".lower()
    return normalised in {a.rstrip("/").lower() for a in allowed}


def public_config(inbox: Inbox, session: Session | None = None) -> dict[str, Any]:
    s = inbox_settings(inbox)
    greeting, bot_name = s.greeting, ""
    if s.bot_enabled and session is not None:
        bot = bot_actions.load_config(session, inbox.id)
        greeting, bot_name = bot.greeting or greeting, bot.name
    return {"id": inbox.id, "name": inbox.name, "greeting": greeting, "color": s.color,
            "prechat_enabled": s.prechat_enabled, "prechat_fields": s.prechat_fields,
            "prechat_required": s.prechat_required, "bot": s.bot_enabled,
            "bot_name": bot_name}


def _prechat(uow: UnitOfWork, contact: Contact, data: SessionStart | PrechatUpdate) -> None:
    update = ContactUpdate(name=data.name, phone=data.phone, email=data.email)
    contact_actions.apply_contact_update(uow, contact, update)


def visitor_from_token(svc: Services, token: str | None, *, inbox_id: str | None) -> Visitor:
    if not token:
        raise Unauthenticated("缺少访客凭证 / Missing visitor token", code="visitor_token_missing")
    return Visitor(adapter.read_token(svc.settings.secret_key, token, inbox_id=inbox_id))


def start_session(svc: Services, inbox_id: str, data: SessionStart) -> dict[str, Any]:
    with svc.uows() as uow:
        inbox = public_inbox(inbox_id, session=uow.session)
        contact: Contact | None = None
        if data.user_id:
            adapter.verify_host_identity(inbox.secret, data.user_id, data.user_hash or "")
            kind, external = HOST_USER, data.user_id
            contact = contact_actions.do_resolve_contact(
                uow, workspace_id=inbox.workspace_id, kind=kind, external_id=external,
                verified=True, name=data.name or "")
        elif data.token:
            claims = adapter.read_token(svc.settings.secret_key, data.token, inbox_id=inbox.id)
            kind, external = claims.identity_kind, claims.external_id
            contact = contact_actions.find_by_identity(
                uow, workspace_id=inbox.workspace_id, kind=kind, external_id=external)
        else:
            kind, external = VISITOR, adapter.new_visitor_id()
        if contact is None:
            if inbox_settings(inbox).require_verified_identity and kind != HOST_USER:
                raise Unauthenticated("此收件箱需要登录后咨询 / This inbox needs a verified user",
                                      code="identity_required")
            contact = contact_actions.do_resolve_contact(
                uow, workspace_id=inbox.workspace_id, kind=kind, external_id=external,
                name=data.name or "")
        _prechat(uow, contact, data)
        contact.last_seen_at = uow.clock.now()
        claims = VisitorClaims(workspace_id=inbox.workspace_id, inbox_id=inbox.id,
                               contact_id=contact.id, identity_kind=kind, external_id=external)
        token = adapter.issue_token(svc.settings.secret_key, claims)
        uow.session.flush()
        snapshot = history(uow, inbox_id=inbox.id, contact_id=contact.id)
        return {"token": token, "contact": {"id": contact.id, "name": contact.name,
                                            "phone": contact.phone, "email": contact.email},
                "inbox": public_config(inbox, uow.session), **snapshot}


def history(uow: UnitOfWork, *, inbox_id: str, contact_id: str) -> dict[str, Any]:
    convs = inbox_queries.contact_conversations(uow.session, inbox_id=inbox_id,
                                                contact_id=contact_id)
    messages: list[dict[str, Any]] = []
    for conv in convs:
        msgs = inbox_queries.list_messages(uow.session, conv.id, before_seq=conv.last_seq + 1,
                                           limit=HISTORY_LIMIT, include_private=False)
        messages.extend(visitor_message(m) for m in msgs)
    conv_reads = [visitor_conversation(inbox_queries.conversation_read(c)) for c in convs]
    return {"conversations": conv_reads, "messages": messages[-HISTORY_LIMIT:]}


def load_contact(uow: UnitOfWork, claims: VisitorClaims) -> tuple[Inbox, Contact]:
    inbox = public_inbox(claims.inbox_id, session=uow.session)
    contact = uow.session.get(Contact, claims.contact_id)
    if contact is None or contact.workspace_id != inbox.workspace_id:
        raise NotFound("访客不存在，请重新打开对话 / Unknown visitor: reopen the chat",
                       code="visitor_unknown")
    return inbox, contact


def send(svc: Services, visitor: Visitor, *, content: str,
         client_msg_id: str) -> dict[str, Any]:
    """Store a visitor's message (idempotent on ``client_msg_id``); returns the ack frame."""
    with svc.uows() as uow:
        inbox, contact = load_contact(uow, visitor.claims)
        s = inbox_settings(inbox)
        if s.prechat_enabled and s.prechat_required:
            missing = [f for f in s.prechat_fields if not getattr(contact, f)]
            if missing:
                raise Invalid("请先填写联系方式 / Please fill in the pre-chat form",
                              code="prechat_required", fields=missing)
        posted = inbox_actions.do_receive_inbound(uow, inbox=inbox, contact=contact,
                                                  content=content, client_msg_id=client_msg_id)
        return {"type": "ack", "client_msg_id": client_msg_id, "id": posted.message.id,
                "seq": posted.message.seq, "conversation_id": posted.conversation.id,
                "duplicate": not posted.created}


def update_prechat(svc: Services, visitor: Visitor, data: PrechatUpdate) -> dict[str, Any]:
    with svc.uows() as uow:
        _, contact = load_contact(uow, visitor.claims)
        _prechat(uow, contact, data)
        return {"id": contact.id, "name": contact.name, "phone": contact.phone,
                "email": contact.email}


def missed(svc: Services, visitor: Visitor, *, conversation_id: str | None,
           after_seq: int) -> dict[str, Any]:
    """Messages the visitor has not seen: after ``after_seq`` in that conversation, plus
    every later conversation of theirs in the inbox."""
    claims = visitor.claims
    with svc.uows(readonly=True) as uow:
        convs = inbox_queries.contact_conversations(uow.session, inbox_id=claims.inbox_id,
                                                    contact_id=claims.contact_id)
        if conversation_id is not None and conversation_id not in {c.id for c in convs}:
            older = contact_conversation(conversation_id, inbox_id=claims.inbox_id,
                                         contact_id=claims.contact_id, session=uow.session)
            convs = inbox_queries.contact_conversations(
                uow.session, inbox_id=claims.inbox_id, contact_id=claims.contact_id,
                limit=MAX_RESUME_CONVERSATIONS, since=older.created_at)
        out: list[dict[str, Any]] = []
        seen_target = conversation_id is None
        for conv in convs:
            if conv.id == conversation_id:
                seen_target = True
                msgs = inbox_queries.list_messages(uow.session, conv.id, after_seq=after_seq,
                                                   limit=500, include_private=False)
            elif seen_target:
                msgs = inbox_queries.list_messages(uow.session, conv.id, after_seq=0,
                                                   limit=500, include_private=False)
            else:
                continue
            out.extend(visitor_message(m) for m in msgs)
        return {"type": "messages", "conversation_id": conversation_id, "messages": out,
                "conversations": [visitor_conversation(inbox_queries.conversation_read(c))
                                  for c in convs]}


def visitor_conversations(svc: Services, visitor: Visitor) -> list[dict[str, Any]]:
    """The visitor's recent conversations in the inbox (for the socket's hello frame)."""
    claims = visitor.claims
    with svc.uows(readonly=True) as uow:
        convs = inbox_queries.contact_conversations(uow.session, inbox_id=claims.inbox_id,
                                                    contact_id=claims.contact_id)
        return [visitor_conversation(inbox_queries.conversation_read(c)) for c in convs]


def feedback(svc: Services, visitor: Visitor, data: FeedbackCreate) -> dict[str, Any]:
    """有用 / 没用 on one of the bot's answers to this visitor."""
    with svc.uows() as uow:
        inbox, contact = load_contact(uow, visitor.claims)
        turn = bot_actions.do_feedback(uow, svc.kb, inbox_id=inbox.id, contact_id=contact.id,
                                       turn_id=data.turn_id, helpful=data.helpful)
        thanks = bot_actions.load_config(uow.session, inbox.id).helpful_text
        return {"turn_id": turn.id, "feedback": turn.feedback, "message": thanks}


def suggestions(svc: Services, inbox_id: str, data: SuggestRequest) -> dict[str, Any]:
    """猜你想问 for the widget's greeting, chosen for the host page."""
    with svc.uows(readonly=True) as uow:
        inbox = public_inbox(inbox_id, session=uow.session)
        if not inbox_settings(inbox).bot_enabled:
            return {"questions": []}
        return {"questions": bot_actions.suggestions(
            uow.session, svc.kb, inbox, now=uow.clock.now(), page_url=data.page_url,
            context=data.context)}
