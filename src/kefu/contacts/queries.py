"""Reads for contacts."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.contacts.models import Contact, ContactIdentity
from kefu.contacts.schemas import ContactRead, IdentityRead
from kefu.core.pagination import Page


def contact_read(session: Session, contact: Contact) -> ContactRead:
    idents = session.scalars(
        select(ContactIdentity).where(ContactIdentity.contact_id == contact.id)
        .order_by(ContactIdentity.created_at))
    read = ContactRead.model_validate(contact)
    read.identities = [IdentityRead.model_validate(i) for i in idents]
    return read


def list_contacts(session: Session, actor: Actor, *, q: str | None, limit: int,
                  offset: int) -> Page[ContactRead]:
    actor.require("contact.read")
    base = select(Contact).where(Contact.workspace_id == actor.workspace_id)
    if q:
        like = f"%{q.strip()}%"
        base = base.where(or_(Contact.name.ilike(like), Contact.phone.ilike(like),
                              Contact.email.ilike(like)))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(Contact.created_at.desc(), Contact.id).limit(limit).offset(offset))
    return Page(items=[contact_read(session, c) for c in rows], total=total, limit=limit,
                offset=offset)
