"""Reads for accounts: resolve credentials to an actor, list users and teams."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import ApiToken, AuthSession, Team, TeamMember, User, Workspace
from kefu.accounts.schemas import TeamRead, UserRead
from kefu.core.clock import Clock
from kefu.core.pagination import Page
from kefu.core.security import token_hash


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, workspace_id=user.workspace_id, role=user.role, name=user.name)


def session_actor(
    session: Session, token: str, *, clock: Clock
) -> tuple[Actor, AuthSession, User] | None:
    row = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    auth, user = row
    if auth.expires_at <= clock.now() or not user.is_active:
        return None
    return actor_for(user), auth, user


def token_actor(session: Session, token: str) -> Actor | None:
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row[1].is_active:
        return None
    return actor_for(row[1])


#: ``ApiToken.last_used_at`` is refreshed at most this often (spares a write per request)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def token_needs_touch(session: Session, token: str, *, now: datetime) -> bool:
    """Whether ``last_used_at`` of a token is unset or older than the touch interval."""
    last = session.scalar(select(ApiToken.last_used_at)
                          .where(ApiToken.token_hash == token_hash(token)))
    return last is None or last <= now - TOKEN_TOUCH_INTERVAL


def get_workspace(session: Session, workspace_id: str) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def list_users(session: Session, actor: Actor, *, limit: int, offset: int) -> Page[UserRead]:
    base = select(User).where(User.workspace_id == actor.workspace_id)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(base.order_by(User.created_at, User.id).limit(limit).offset(offset))
    return Page(items=[UserRead.model_validate(u) for u in rows], total=total,
                limit=limit, offset=offset)


def team_read(session: Session, team: Team) -> TeamRead:
    members = session.scalars(
        select(TeamMember.user_id).where(TeamMember.team_id == team.id).order_by(TeamMember.user_id)
    )
    return TeamRead(id=team.id, workspace_id=team.workspace_id, name=team.name,
                    description=team.description, member_ids=list(members),
                    created_at=team.created_at)


def list_teams(session: Session, actor: Actor) -> list[TeamRead]:
    teams = session.scalars(
        select(Team).where(Team.workspace_id == actor.workspace_id).order_by(Team.name))
    return [team_read(session, t) for t in teams]


def user_names(session: Session, workspace_id: str) -> dict[str, str]:
    rows = session.execute(select(User.id, User.name).where(User.workspace_id == workspace_id))
    return {r[0]: r[1] for r in rows}
