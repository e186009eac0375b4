"""Bot tables: per-inbox settings, per-conversation state and the log of every bot turn."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin

DECISIONS = ("answer", "clarify", "none", "smalltalk", "passage", "handoff", "leave_message",
             "greeting")
HANDOFF_REASONS = ("no_match", "low_confidence", "asked_for_human", "negative_feedback",
                   "sentiment", "error")


class BotSettings(IdMixin, Base):
    """The bot's settings for one inbox (``config`` is a validated ``BotConfig``)."""

    __tablename__ = "bot_settings"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"),
                                          unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class BotSession(IdMixin, Base):
    """What the bot remembers of one conversation."""

    __tablename__ = "bot_sessions"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    #: consecutive turns without an answer
    misses: Mapped[int] = mapped_column(Integer, default=0)
    #: "chat", or "leave_message" while collecting a message outside business hours
    mode: Mapped[str] = mapped_column(String(16), default="chat")
    #: entry ids offered by the last clarify turn (a click on one answers it)
    last_options: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]


class BotTurn(IdMixin, Base):
    """One bot turn: the customer's words, the candidates, the decision, the feedback."""

    __tablename__ = "bot_turns"
    __table_args__ = (Index("ix_bot_turns_ws_time", "workspace_id", "created_at"),
                      Index("ix_bot_turns_entry", "workspace_id", "entry_id"))

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    inbox_id: Mapped[str] = mapped_column(String(24))
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    #: the customer message answered; unique, so a retried job never answers twice
    message_id: Mapped[str | None] = mapped_column(String(24), unique=True)
    query: Mapped[str] = mapped_column(Text)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    entry_id: Mapped[str | None] = mapped_column(String(24))
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    reply_message_id: Mapped[str | None] = mapped_column(String(24))
    #: None (no feedback), "helpful" or "unhelpful"
    feedback: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
