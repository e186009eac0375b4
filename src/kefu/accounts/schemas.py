"""Pydantic I/O for accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Role = Literal["admin", "supervisor", "agent", "inspector"]
Locale = Literal["zh-CN", "en"]


class WorkspaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    slug: str
    timezone: str


class UserCreate(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=120)
    role: Role = "agent"
    password: str = Field(min_length=8, max_length=200)
    locale: Locale = "zh-CN"


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    role: Role | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)
    #: required when users change their own password (a stolen session can't take over)
    current_password: str | None = Field(default=None, max_length=200)
    locale: Locale | None = None
    is_active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    workspace_id: str
    email: str
    name: str
    role: str
    locale: str
    is_active: bool
    created_at: datetime


class TeamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    member_ids: list[str] = Field(default_factory=list, max_length=500)


class TeamUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=500)
    member_ids: list[str] | None = Field(default=None, max_length=500)


class TeamRead(BaseModel):
    id: str
    workspace_id: str
    name: str
    description: str
    member_ids: list[str]
    created_at: datetime


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class ApiTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenRead):
    token: str
