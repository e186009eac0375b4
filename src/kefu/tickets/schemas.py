"""Ticket I/O schemas (the API and the actions share them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Priority = Literal["P1", "P2", "P3", "P4"]
Status = Literal["new", "open", "pending", "resolved", "closed"]


def _strip(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


class ContactRef(BaseModel):
    """A customer given by address (API / e-mail / portal): found or created as a contact."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=120)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    template_id: str | None = None
    #: custom field values by key, validated against the template (``tickets.fields``)
    fields: dict[str, Any] = Field(default_factory=dict)
    #: None: the template's default priority (or P3)
    priority: Priority | None = None
    #: None: the template's default team
    team_id: str | None = None
    assignee_id: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)
    contact_id: str | None = None
    contact: ContactRef | None = None
    conversation_id: str | None = None
    parent_id: str | None = None
    watcher_ids: list[str] = Field(default_factory=list, max_length=50)

    _s = field_validator("subject", "description", mode="before")(_strip)

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str) -> str:
        if not v:
            raise ValueError("subject is empty")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = list(dict.fromkeys(t.strip() for t in v if t.strip()))
        if any(len(t) > 40 for t in out):
            raise ValueError("a tag is longer than 40 characters")
        return out


class TicketUpdate(BaseModel):
    """A partial update: only the fields that were sent change (``model_fields_set``).
    ``fields`` is merged into the custom values (a key set to null clears it)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, min_length=1, max_length=200)
    status: Status | None = None
    priority: Priority | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    template_id: str | None = None
    fields: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=20)
    parent_id: str | None = None

    _s = field_validator("subject", mode="before")(_strip)
