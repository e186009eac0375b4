"""Customers (contacts) and their per-channel identities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin


class Contact(IdMixin, Base):
    __tablename__ = "contacts"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]


class ContactIdentity(IdMixin, Base):
    """How a channel knows a contact: a visitor id, a shop user id, an email, an openid…"""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "external_id"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    #: e.g. ``webchat_visitor``, ``host_user`` (HMAC-verified), ``email``, ``wechat_openid``
    kind: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
