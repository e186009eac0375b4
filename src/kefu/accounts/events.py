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
