"""Permission-checked loads of inboxes and conversations, for agents and for visitors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.errors import NotFound
from kefu.inbox.models import Conversation, Inbox


def access_inbox(actor: Actor, inbox_id: str, *, session: Session) -> Inbox:
    inbox = session.get(Inbox, inbox_id)
    if inbox is None or inbox.workspace_id != actor.workspace_id:
        raise NotFound("收件箱不存在 / No such inbox", code="inbox_not_found", id=inbox_id)
    return inbox


def access_conversation(
    actor: Actor, conversation_id: str, *, session: Session, for_update: bool = False
) -> Conversation:
    actor.require("conversation.read")
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if for_update:
        stmt = stmt.with_for_update()
    conv = session.scalar(stmt)
    if conv is None or conv.workspace_id != actor.workspace_id:
        raise NotFound("会话不存在 / No such conversation", code="conversation_not_found",
                       id=conversation_id)
    return conv


def public_inbox(inbox_id: str, *, session: Session) -> Inbox:
    """An active inbox looked up by a widget (no actor: the id is public)."""
    inbox = session.get(Inbox, inbox_id)
    if inbox is None or not inbox.is_active:
        raise NotFound("收件箱不存在 / No such inbox", code="inbox_not_found", id=inbox_id)
    return inbox


def contact_conversation(
    conversation_id: str, *, inbox_id: str, contact_id: str, session: Session
) -> Conversation:
    """A conversation as seen by its own customer (a visitor may only see theirs)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.inbox_id != inbox_id or conv.contact_id != contact_id:
        raise NotFound("会话不存在 / No such conversation", code="conversation_not_found",
                       id=conversation_id)
    return conv
