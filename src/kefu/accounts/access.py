"""Permission-checked loads of account objects. The only way to fetch one for someone."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team, User
from kefu.core.errors import NotFound


def access_user(actor: Actor, user_id: str, *, session: Session) -> User:
    user = session.get(User, user_id)
    if user is None or user.workspace_id != actor.workspace_id:
        raise NotFound("用户不存在 / No such user", code="user_not_found", id=user_id)
    return user


def access_team(actor: Actor, team_id: str, *, session: Session) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != actor.workspace_id:
        raise NotFound("团队不存在 / No such team", code="team_not_found", id=team_id)
    return team
