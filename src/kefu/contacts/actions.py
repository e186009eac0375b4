"""Writes to contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kefu.accounts.actor import Actor
from kefu.contacts.access import access_contact
from kefu.contacts.events import ContactCreated, ContactUpdated
from kefu.contacts.models import Contact, ContactIdentity
from kefu.contacts.schemas import ContactUpdate
from kefu.core.errors import Invalid
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork

MAX_ATTRIBUTES = 50


def find_by_identity(uow: UnitOfWork, *, workspace_id: str, kind: str,
                     external_id: str) -> Contact | None:
    return uow.session.scalar(
        select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(ContactIdentity.workspace_id == workspace_id, ContactIdentity.kind == kind,
               ContactIdentity.external_id == external_id)
    )


def do_create_contact(uow: UnitOfWork, *, workspace_id: str, name: str = "", phone: str = "",
                      email: str = "", attributes: dict[str, Any] | None = None) -> Contact:
    contact = Contact(id=new_id(), workspace_id=workspace_id, name=name[:120], phone=phone[:40],
                      email=email[:254], attributes=dict(attributes or {}),
                      created_at=uow.clock.now(), last_seen_at=uow.clock.now())
    uow.session.add(contact)
    uow.session.flush()
    uow.emit(ContactCreated(workspace_id=workspace_id, contact_id=contact.id))
    return contact


def do_add_identity(uow: UnitOfWork, contact: Contact, *, kind: str, external_id: str,
                    verified: bool = False) -> ContactIdentity:
    ident = ContactIdentity(id=new_id(), workspace_id=contact.workspace_id, contact_id=contact.id,
                            kind=kind, external_id=external_id, verified=verified,
                            created_at=uow.clock.now())
    uow.session.add(ident)
    uow.session.flush()
    return ident


def do_resolve_contact(uow: UnitOfWork, *, workspace_id: str, kind: str, external_id: str,
                       verified: bool = False, name: str = "") -> Contact:
    """Find the contact a channel identity belongs to, creating both when new."""
    contact = find_by_identity(uow, workspace_id=workspace_id, kind=kind,
                               external_id=external_id)
    if contact is None:
        contact = do_create_contact(uow, workspace_id=workspace_id, name=name)
        do_add_identity(uow, contact, kind=kind, external_id=external_id, verified=verified)
    return contact


def _check_update(data: ContactUpdate) -> None:
    if data.attributes is not None and len(data.attributes) > MAX_ATTRIBUTES:
        raise Invalid(f"客户属性最多 {MAX_ATTRIBUTES} 个 / Too many attributes",
                      field="attributes")


def apply_contact_update(uow: UnitOfWork, contact: Contact, data: ContactUpdate) -> list[str]:
    """Apply validated changes (used by agents' edits and by pre-chat forms)."""
    _check_update(data)
    changed: list[str] = []
    for field in ("name", "phone", "email"):
        value = getattr(data, field)
        if value is not None and getattr(contact, field) != value.strip():
            setattr(contact, field, value.strip())
            changed.append(field)
    if data.attributes is not None:
        contact.attributes = {**contact.attributes, **data.attributes}
        changed.append("attributes")
    if changed:
        uow.emit(ContactUpdated(workspace_id=contact.workspace_id, contact_id=contact.id,
                                changed=changed))
    return changed


def do_update_contact(uow: UnitOfWork, actor: Actor, contact_id: str,
                      data: ContactUpdate) -> Contact:
    actor.require("contact.write")
    contact = access_contact(actor, contact_id, session=uow.session)
    apply_contact_update(uow, contact, data)
    return contact
