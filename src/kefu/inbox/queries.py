"""Reads for conversation lists, views and visitor history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import User
from kefu.contacts.models import Contact
from kefu.core.pagination import Page
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.inbox.schemas import ConversationRead, InboxRead, MessageRead

View = Literal["unassigned", "mine", "all"]


def conversation_read(conv: Conversation, contact_name: str = "") -> ConversationRead:
    return ConversationRead.model_validate(conv).model_copy(update={"contact_name": contact_name})


def message_read(msg: Message, sender_name: str = "") -> MessageRead:
    return MessageRead.model_validate(msg).model_copy(update={"sender_name": sender_name})


def list_conversations(
    session: Session,
    actor: Actor,
    *,
    view: View = "all",
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ConversationRead]:
    actor.require("conversation.read")
    base = select(Conversation, Contact.name).join(
        Contact, Contact.id == Conversation.contact_id
    ).where(Conversation.workspace_id == actor.workspace_id)
    if view == "unassigned":
        base = base.where(Conversation.assignee_id.is_(None))
    elif view == "mine":
        base = base.where(Conversation.assignee_id == actor.user_id)
    if status:
        base = base.where(Conversation.status == status)
    elif view != "all":
        base = base.where(Conversation.status.in_(("bot", "queued", "open", "pending")))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.order_by(Conversation.last_activity_at.desc(), Conversation.id)
        .limit(limit).offset(offset)
    )
    items = [conversation_read(c, name) for c, name in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


def get_conversation_read(session: Session, conv: Conversation) -> ConversationRead:
    name = session.scalar(select(Contact.name).where(Contact.id == conv.contact_id)) or ""
    return conversation_read(conv, name)


def _sender_names(session: Session, msgs: Sequence[Message]) -> dict[str, str]:
    ids = {m.sender_id for m in msgs if m.sender_id}
    if not ids:
        return {}
    names: dict[str, str] = {}
    for uid, name in session.execute(select(User.id, User.name).where(User.id.in_(ids))):
        names[uid] = name
    for cid, name in session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(ids))):
        names[cid] = name
    return names


def list_messages(
    session: Session,
    conversation_id: str,
    *,
    after_seq: int = 0,
    before_seq: int | None = None,
    limit: int = 100,
    include_private: bool = True,
) -> list[MessageRead]:
    """Messages in seq order: those after ``after_seq``, or the last ``limit`` before
    ``before_seq`` when that is given."""
    stmt = select(Message).where(Message.conversation_id == conversation_id)
    if not include_private:
        stmt = stmt.where(Message.private.is_(False))
    if before_seq is not None:
        stmt = stmt.where(Message.seq < before_seq).order_by(Message.seq.desc()).limit(limit)
        msgs = list(reversed(session.scalars(stmt).all()))
    else:
        stmt = stmt.where(Message.seq > after_seq).order_by(Message.seq).limit(limit)
        msgs = list(session.scalars(stmt).all())
    names = _sender_names(session, msgs)
    return [message_read(m, names.get(m.sender_id or "", "")) for m in msgs]


def contact_conversations(
    session: Session, *, inbox_id: str, contact_id: str, limit: int = 5,
    since: datetime | None = None,
) -> list[Conversation]:
    """A customer's conversations in one inbox, oldest first: the ``limit`` most recent, or
    the first ``limit`` created at or after ``since``."""
    stmt = select(Conversation).where(Conversation.inbox_id == inbox_id,
                                      Conversation.contact_id == contact_id)
    if since is not None:
        stmt = stmt.where(Conversation.created_at >= since).order_by(
            Conversation.created_at, Conversation.id)
        return list(session.scalars(stmt.limit(limit)).all())
    rows = session.scalars(
        stmt.order_by(Conversation.created_at.desc(), Conversation.id.desc()).limit(limit)
    ).all()
    return list(reversed(rows))


def list_inboxes(session: Session, actor: Actor) -> list[InboxRead]:
    rows = session.scalars(
        select(Inbox).where(Inbox.workspace_id == actor.workspace_id).order_by(Inbox.created_at))
    return [InboxRead.model_validate(i) for i in rows]
