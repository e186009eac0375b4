"""Account events."""

from __future__ import annotations

from typing import Literal

from kefu.core.events import Event


class UserCreated(Event):
    type: Literal["user.created"] = "user.created"
    user_id: str
    role: str


class UserUpdated(Event):
    type: Literal["user.updated"] = "user.updated"
    user_id: str
    changed: list[str]


class TeamChanged(Event):
    type: Literal["team.changed"] = "team.changed"
    team_id: str


class NotificationCreated(Event):
    """A notice for one user: pushed to that user's sockets."""

    type: Literal["notification.created"] = "notification.created"
    notification_id: str
    user_id: str
    kind: str
    title: str
    body: str
    link: str
