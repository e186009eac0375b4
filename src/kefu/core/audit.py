"""The audit log: who changed what, when. Append-only; written by actions in the same
transaction as the change they record (so a change and its audit line commit together)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin
from kefu.core.ids import new_id

if TYPE_CHECKING:
    from kefu.core.uow import UnitOfWork


class AuditEntry(IdMixin, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "workspace_id", "object_type", "object_id"),)

    workspace_id: Mapped[str] = mapped_column(String(24), index=True)
    #: the user who acted; None for the system (jobs, the bot, imports run from the CLI)
    actor_id: Mapped[str | None] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


def record(uow: UnitOfWork, *, workspace_id: str, actor_id: str | None, action: str,
           object_type: str, object_id: str, data: dict[str, Any] | None = None) -> None:
    uow.session.add(AuditEntry(id=new_id(), workspace_id=workspace_id, actor_id=actor_id,
                               action=action, object_type=object_type, object_id=object_id,
                               data=data or {}, at=uow.clock.now()))
