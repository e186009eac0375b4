"""Inbox events. Each carries the snapshot its listeners need, so fan-out needs no queries."""

from __future__ import annotations

from typing import Literal

from kefu.core.events import Event
from kefu.inbox.schemas import ConversationRead, MessageRead


class ConversationCreated(Event):
    type: Literal["conversation.created"] = "conversation.created"
    conversation: ConversationRead


class ConversationUpdated(Event):
    """Status, assignee, team or priority changed."""

    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: ConversationRead
    changed: list[str]
    actor_id: str | None = None


class MessageCreated(Event):
    type: Literal["message.created"] = "message.created"
    message: MessageRead
    conversation: ConversationRead


class InboxChanged(Event):
    type: Literal["inbox.changed"] = "inbox.changed"
    inbox_id: str
