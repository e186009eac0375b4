"""Contact events."""

from __future__ import annotations

from typing import Literal

from kefu.core.events import Event


class ContactCreated(Event):
    type: Literal["contact.created"] = "contact.created"
    contact_id: str


class ContactUpdated(Event):
    type: Literal["contact.updated"] = "contact.updated"
    contact_id: str
    changed: list[str]
