"""Customers (contacts)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from kefu.accounts.actor import Actor
from kefu.contacts import actions as contact_actions
from kefu.contacts import queries as contact_queries
from kefu.contacts.access import access_contact
from kefu.contacts.schemas import ContactRead, ContactUpdate
from kefu.core.pagination import MAX_LIMIT, Page
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("", response_model=Page[ContactRead])
def list_contacts(request: Request, actor: Actor = Depends(current_actor),
                  q: str | None = Query(None, max_length=100),
                  limit: int = Query(50, ge=1, le=MAX_LIMIT),
                  offset: int = Query(0, ge=0)) -> Page[ContactRead]:
    with services(request).uows(readonly=True) as uow:
        return contact_queries.list_contacts(uow.session, actor, q=q, limit=limit, offset=offset)


@router.get("/{contact_id}", response_model=ContactRead)
def get_contact(contact_id: str, request: Request,
                actor: Actor = Depends(current_actor)) -> ContactRead:
    with services(request).uows(readonly=True) as uow:
        return contact_queries.contact_read(
            uow.session, access_contact(actor, contact_id, session=uow.session))


@router.patch("/{contact_id}", response_model=ContactRead)
def update_contact(contact_id: str, data: ContactUpdate, request: Request,
                   actor: Actor = Depends(current_actor)) -> ContactRead:
    with services(request).uows() as uow:
        contact = contact_actions.do_update_contact(uow, actor, contact_id, data)
        uow.session.flush()
        return contact_queries.contact_read(uow.session, contact)
