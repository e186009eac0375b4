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
    term = (q or "").strip()
    if term:
        # the search text is literal: % and _ are not wildcards
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        base = base.where(or_(Contact.name.ilike(like, escape="\\"),
                              Contact.phone.ilike(like, escape="\\"),
                              Contact.email.ilike(like, escape="\\")))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(Contact.created_at.desc(), Contact.id).limit(limit).offset(offset))
    return Page(items=[contact_read(session, c) for c in rows], total=total, limit=limit,
                offset=offset)
