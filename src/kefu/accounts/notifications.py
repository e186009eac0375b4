"""Notices for users: stored, pushed live (``NotificationCreated``) and optionally e-mailed
(a durable ``send_email`` job in the same transaction, keyed by the notice)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from kefu.accounts.events import NotificationCreated
from kefu.accounts.models import Notification, User
from kefu.core.errors import NotFound
from kefu.core.ids import new_id

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork


def do_notify(uow: UnitOfWork, *, workspace_id: str, user_ids: Iterable[str], kind: str,
              title: str, body: str = "", link: str = "", data: dict[str, Any] | None = None,
              email: bool = False, key: str | None = None) -> list[Notification]:
    """Notify each (active, same-workspace) user once. ``key``: makes the e-mail job
    idempotent (``<key>:<user id>``); without it the notice id is the key."""
    ids = list(dict.fromkeys(u for u in user_ids if u))
    if not ids:
        return []
    users = uow.session.scalars(select(User).where(
        User.id.in_(ids), User.workspace_id == workspace_id, User.is_active.is_(True))).all()
    now = uow.clock.now()
    out: list[Notification] = []
    for user in sorted(users, key=lambda u: ids.index(u.id)):
        note = Notification(id=new_id(), workspace_id=workspace_id, user_id=user.id, kind=kind,
                            title=title[:300], body=body, link=link, data=data or {},
                            created_at=now)
        uow.session.add(note)
        out.append(note)
        uow.emit(NotificationCreated(workspace_id=workspace_id, notification_id=note.id,
                                     user_id=user.id, kind=kind, title=note.title, body=body,
                                     link=link))
        if email and user.email and uow.jobs is not None and "send_email" in uow.jobs.handlers:
            uow.enqueue("send_email", {
                "to": [user.email], "subject": note.title,
                "text": f"{body}\n\n{link}".strip() if link else body,
                "message_key": f"{key or note.id}:{user.id}"},
                key=f"mail:{key or note.id}:{user.id}")
    return out


def list_notifications(uow: UnitOfWork, actor: Actor, *, unread_only: bool = False,
                       limit: int = 50) -> list[Notification]:
    q = select(Notification).where(Notification.user_id == actor.user_id,
                                   Notification.workspace_id == actor.workspace_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    return list(uow.session.scalars(q.order_by(Notification.created_at.desc(),
                                               Notification.id.desc()).limit(limit)))


def unread_count(uow: UnitOfWork, actor: Actor) -> int:
    from sqlalchemy import func

    return int(uow.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == actor.user_id, Notification.workspace_id == actor.workspace_id,
        Notification.read_at.is_(None))) or 0)


def do_mark_read(uow: UnitOfWork, actor: Actor, notification_ids: list[str] | None) -> int:
    """Mark the given notices (or all, with None) of the actor as read; returns how many."""
    q = update(Notification).where(Notification.user_id == actor.user_id,
                                   Notification.workspace_id == actor.workspace_id,
                                   Notification.read_at.is_(None))
    if notification_ids is not None:
        if not notification_ids:
            return 0
        q = q.where(Notification.id.in_(notification_ids))
    res = uow.session.execute(q.values(read_at=uow.clock.now()))
    count = int(getattr(res, "rowcount", 0) or 0)
    if notification_ids is not None and count == 0:
        raise NotFound("通知不存在 / No such notification", code="notification_not_found")
    return count
