"""Pydantic I/O for the knowledge center."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EntryStatus = Literal["draft", "published", "archived"]
ChannelKey = Literal["web", "wechat", "email"]
MAX_QUESTION = 200
MAX_ANSWER = 20_000
MAX_PHRASINGS = 500
#: separator of similar phrasings in one CSV/XLSX cell (documented in docs/subsystems/kb.md)
PHRASING_SEPARATOR = "||"


class EntryCreate(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    phrasings: list[str] = Field(default_factory=list, max_length=MAX_PHRASINGS)
    answer: str = Field(min_length=1, max_length=MAX_ANSWER)
    channel_answers: dict[ChannelKey, str] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50)
    category_id: str | None = None
    related_ids: list[str] = Field(default_factory=list, max_length=20)
    status: EntryStatus = "draft"
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class EntryUpdate(BaseModel):
    """A partial update: fields left out stay as they are."""

    question: str | None = Field(default=None, min_length=1, max_length=MAX_QUESTION)
    phrasings: list[str] | None = Field(default=None, max_length=MAX_PHRASINGS)
    answer: str | None = Field(default=None, min_length=1, max_length=MAX_ANSWER)
    channel_answers: dict[ChannelKey, str] | None = None
    keywords: list[str] | None = Field(default=None, max_length=50)
    tags: list[str] | None = Field(default=None, max_length=50)
    category_id: str | None = None
    related_ids: list[str] | None = Field(default=None, max_length=20)
    status: EntryStatus | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    note: str = Field(default="", max_length=200)


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    workspace_id: str
    question: str
    phrasings: list[str]
    answer: str
    channel_answers: dict[str, str]
    keywords: list[str]
    tags: list[str]
    category_id: str | None
    related_ids: list[str]
    status: str
    valid_from: datetime | None
    valid_until: datetime | None
    owner_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    entry_id: str
    version: int
    snapshot: dict[str, Any]
    actor_id: str | None
    note: str
    created_at: datetime


class CategoryCreate(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    parent_id: str | None = None
    position: int = 0


class CategoryUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    parent_id: str | None = None
    position: int | None = None


class CategoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    parent_id: str | None
    name: str
    position: int
    path: str = ""


class SynonymCreate(BaseModel):
    kind: Literal["synonym", "term", "stop"] = "synonym"
    terms: list[str] = Field(min_length=1, max_length=50)


class SynonymRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    terms: list[str]


class SmallTalkCreate(BaseModel):
    phrasings: list[str] = Field(min_length=1, max_length=50)
    reply: str = Field(min_length=1, max_length=2000)


class SmallTalkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    phrasings: list[str]
    reply: str
