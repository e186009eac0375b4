"""Permission-checked loads of contacts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.contacts.models import Contact
from kefu.core.errors import NotFound


def access_contact(actor: Actor, contact_id: str, *, session: Session) -> Contact:
    actor.require("contact.read")
    contact = session.get(Contact, contact_id)
    if contact is None or contact.workspace_id != actor.workspace_id:
        raise NotFound("客户不存在 / No such customer", code="contact_not_found", id=contact_id)
    return contact
