"""Inboxes, conversations and messages (internal notes are private messages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin

CONVERSATION_STATUSES = ("bot", "queued", "open", "pending", "resolved")
SENDER_TYPES = ("customer", "agent", "bot", "system")
PRIORITIES = ("low", "normal", "high", "urgent")


class Inbox(IdMixin, Base):
    """Where conversations arrive: one channel (web chat now; email, WeChat… later)."""

    __tablename__ = "inboxes"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    channel_type: Mapped[str] = mapped_column(String(32))
    #: secret for the host site's HMAC identity check (web chat)
    secret: Mapped[str] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Conversation(IdMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_ws_status", "workspace_id", "status", "last_activity_at"),
        Index("ix_conversations_contact", "contact_id", "inbox_id"),
    )

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    last_activity_at: Mapped[datetime]
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Message(IdMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "sender_id", "client_msg_id"),
        Index("ix_messages_client_msg_id", "client_msg_id"),
    )

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender_type: Mapped[str] = mapped_column(String(16))
    #: a user id (agent), a contact id (customer), or None (bot / system)
    sender_id: Mapped[str | None] = mapped_column(String(24))
    #: internal notes and activity lines are private: never shown to the customer
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[str] = mapped_column(Text)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    #: structured extras shown with the text: a bot answer's entry, related questions and
    #: feedback buttons, or the options of a "您是想问…" turn (see ``bot.policy``)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
