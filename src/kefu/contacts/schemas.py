"""Pydantic I/O for contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ContactUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    attributes: dict[str, Any] | None = None


class IdentityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    external_id: str
    verified: bool


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    workspace_id: str
    name: str
    phone: str
    email: str
    attributes: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime | None
    identities: list[IdentityRead] = Field(default_factory=list)
