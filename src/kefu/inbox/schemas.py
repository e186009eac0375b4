"""Pydantic I/O for inboxes, conversations and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["bot", "queued", "open", "pending", "resolved"]
Priority = Literal["low", "normal", "high", "urgent"]
ChannelType = Literal["webchat"]
MAX_TEXT = 4000
CLIENT_MSG_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class WebchatSettings(BaseModel):
    """Per-inbox web chat options (stored in ``Inbox.settings``)."""

    greeting: str = Field(default="您好，有什么可以帮您？", max_length=500)
    prechat_enabled: bool = False
    prechat_fields: list[Literal["name", "phone", "email"]] = Field(default_factory=list)
    prechat_required: bool = False
    allowed_origins: list[str] = Field(default_factory=list, max_length=50)
    require_verified_identity: bool = False
    color: str = Field(default="#1f6feb", pattern=r"^#[0-9a-fA-F]{6}$")
    #: new conversations start with the answering bot (status ``bot``) instead of the queue
    bot_enabled: bool = False


class InboxCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    channel_type: ChannelType = "webchat"
    settings: WebchatSettings = Field(default_factory=WebchatSettings)


class InboxUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    settings: WebchatSettings | None = None
    is_active: bool | None = None


class InboxRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    workspace_id: str
    name: str
    channel_type: str
    settings: dict[str, Any]
    is_active: bool
    created_at: datetime


class InboxAdminRead(InboxRead):
    secret: str


class MessageCreate(BaseModel):
    content: str = Field(min_length=1, max_length=MAX_TEXT)
    client_msg_id: str | None = Field(default=None, pattern=CLIENT_MSG_ID)


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)
    id: str
    conversation_id: str
    seq: int
    sender_type: str
    sender_id: str | None
    sender_name: str = ""
    private: bool
    content: str
    client_msg_id: str | None
    meta: dict[str, Any] | None = None
    created_at: datetime


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)
    id: str
    workspace_id: str
    inbox_id: str
    contact_id: str
    contact_name: str = ""
    status: str
    priority: str
    assignee_id: str | None
    team_id: str | None
    last_seq: int
    last_message_preview: str
    last_activity_at: datetime
    created_at: datetime
    resolved_at: datetime | None


class AssignRequest(BaseModel):
    assignee_id: str | None = None
    team_id: str | None = None


class StatusRequest(BaseModel):
    status: Literal["open", "pending", "resolved"]


class PriorityRequest(BaseModel):
    priority: Priority
