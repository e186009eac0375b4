"""Every write to accounts: ``check_*`` validates and authorises, ``do_*`` changes and emits."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update

from kefu.accounts.access import access_team, access_user
from kefu.accounts.actor import Actor
from kefu.accounts.events import TeamChanged, UserCreated, UserUpdated
from kefu.accounts.models import ApiToken, AuthSession, Team, TeamMember, User, Workspace
from kefu.accounts.queries import TOKEN_TOUCH_INTERVAL
from kefu.accounts.schemas import TeamCreate, TeamUpdate, UserCreate, UserUpdate
from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from kefu.core.ids import new_id
from kefu.core.security import (
    MIN_PASSWORD_LENGTH,
    burn_password_check,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from kefu.core.uow import UnitOfWork

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


# -- workspaces ---------------------------------------------------------------------------

def do_create_workspace(
    uow: UnitOfWork, *, name: str, slug: str, timezone: str = "Asia/Shanghai"
) -> Workspace:
    if not SLUG_RE.match(slug):
        raise Invalid("工作区标识只能含小写字母、数字和连字符 / Bad workspace slug", field="slug")
    if uow.session.scalar(select(Workspace.id).where(Workspace.slug == slug)):
        raise Conflict("工作区标识已被使用 / Workspace slug taken", code="slug_taken", slug=slug)
    ws = Workspace(id=new_id(), name=name, slug=slug, timezone=timezone,
                   created_at=uow.clock.now())
    uow.session.add(ws)
    uow.session.flush()
    return ws


# -- users --------------------------------------------------------------------------------

def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _clean_name(name: str) -> str:
    """A display name without surrounding blanks; a blank one is refused."""
    cleaned = name.strip()
    if not cleaned:
        raise Invalid("名称不能为空 / Name must not be blank", code="blank_name", field="name")
    return cleaned


def check_create_user(uow: UnitOfWork, actor: Actor | None, data: UserCreate) -> None:
    if actor is not None:
        actor.require("admin.manage")
    email = _normalise_email(str(data.email))
    if uow.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("该邮箱已注册 / Email already in use", code="email_taken", email=email)


def do_create_user(
    uow: UnitOfWork, *, workspace_id: str, data: UserCreate, actor: Actor | None = None
) -> User:
    """Create a user. ``actor`` is None only for the CLI and the demo loader."""
    check_create_user(uow, actor, data)
    if actor is not None and actor.workspace_id != workspace_id:
        raise NotFound("工作区不存在 / No such workspace", code="workspace_not_found")
    user = User(
        id=new_id(),
        workspace_id=workspace_id,
        email=_normalise_email(str(data.email)),
        name=_clean_name(data.name),
        role=data.role,
        password_hash=hash_password(data.password),
        locale=data.locale,
        is_active=True,
        created_at=uow.clock.now(),
    )
    uow.session.add(user)
    uow.session.flush()
    uow.emit(UserCreated(workspace_id=workspace_id, user_id=user.id, role=user.role))
    return user


def do_update_user(uow: UnitOfWork, actor: Actor, user_id: str, data: UserUpdate) -> User:
    user = access_user(actor, user_id, session=uow.session)
    is_self = user.id == actor.user_id
    if not is_self or data.role is not None or data.is_active is not None:
        actor.require("admin.manage")
    if is_self and (data.is_active is False or (data.role and data.role != "admin")):
        raise Invalid("不能停用或降级自己 / You cannot deactivate or demote yourself",
                      code="self_lockout")
    changed: list[str] = []
    if data.name is not None:
        data = data.model_copy(update={"name": _clean_name(data.name)})
    for field in ("name", "role", "locale", "is_active"):
        value = getattr(data, field)
        if value is not None and getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if data.password is not None:
        if is_self and not verify_password(user.password_hash, data.current_password or ""):
            raise PermissionDenied("当前密码不正确 / Current password is wrong",
                                   code="current_password_wrong", field="current_password")
        if len(data.password) < MIN_PASSWORD_LENGTH:
            raise Invalid("密码太短 / Password too short", field="password")
        user.password_hash = hash_password(data.password)
        changed.append("password")
    if "password" in changed or user.is_active is False:
        uow.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    if changed:
        uow.emit(UserUpdated(workspace_id=user.workspace_id, user_id=user.id, changed=changed))
    return user


# -- teams --------------------------------------------------------------------------------

def _set_members(uow: UnitOfWork, actor: Actor, team: Team, member_ids: list[str]) -> None:
    ids = list(dict.fromkeys(member_ids))
    for uid in ids:
        access_user(actor, uid, session=uow.session)
    uow.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    for uid in ids:
        uow.session.add(TeamMember(workspace_id=team.workspace_id, team_id=team.id, user_id=uid))


def _check_team_name(uow: UnitOfWork, actor: Actor, name: str, exclude: str | None) -> None:
    q = select(Team.id).where(Team.workspace_id == actor.workspace_id, Team.name == name)
    if exclude:
        q = q.where(Team.id != exclude)
    if uow.session.scalar(q):
        raise Conflict("团队名称已存在 / Team name taken", code="team_name_taken", name=name)


def do_create_team(uow: UnitOfWork, actor: Actor, data: TeamCreate) -> Team:
    actor.require("admin.manage")
    name = _clean_name(data.name)
    _check_team_name(uow, actor, name, None)
    team = Team(id=new_id(), workspace_id=actor.workspace_id, name=name,
                description=data.description, created_at=uow.clock.now())
    uow.session.add(team)
    uow.session.flush()
    _set_members(uow, actor, team, data.member_ids)
    uow.emit(TeamChanged(workspace_id=team.workspace_id, team_id=team.id))
    return team


def do_update_team(uow: UnitOfWork, actor: Actor, team_id: str, data: TeamUpdate) -> Team:
    actor.require("admin.manage")
    team = access_team(actor, team_id, session=uow.session)
    if data.name is not None:
        name = _clean_name(data.name)
        _check_team_name(uow, actor, name, team.id)
        team.name = name
    if data.description is not None:
        team.description = data.description
    if data.member_ids is not None:
        _set_members(uow, actor, team, data.member_ids)
    uow.emit(TeamChanged(workspace_id=team.workspace_id, team_id=team.id))
    return team


def do_delete_team(uow: UnitOfWork, actor: Actor, team_id: str) -> None:
    actor.require("admin.manage")
    team = access_team(actor, team_id, session=uow.session)
    uow.session.delete(team)
    uow.emit(TeamChanged(workspace_id=team.workspace_id, team_id=team.id))


# -- authentication -----------------------------------------------------------------------

def check_credentials(uow: UnitOfWork, *, email: str, password: str) -> User:
    user = uow.session.scalar(select(User).where(User.email == _normalise_email(email)))
    if user is None:
        burn_password_check(password)
        matches = False
    else:  # verified even for inactive users, so timing does not tell them apart
        matches = verify_password(user.password_hash, password)
    if user is None or not user.is_active or not matches:
        raise Unauthenticated("邮箱或密码错误 / Wrong email or password",
                              code="bad_credentials")
    return user


def do_login(uow: UnitOfWork, *, user: User, ttl_hours: int) -> tuple[AuthSession, str]:
    """Open a browser session; returns the row and the cookie token (shown once)."""
    now = uow.clock.now()
    uow.session.execute(delete(AuthSession).where(AuthSession.expires_at < now))
    token = new_token("kefu_sess")
    sess = AuthSession(
        id=new_id(), workspace_id=user.workspace_id, user_id=user.id,
        token_hash=token_hash(token), csrf_token=new_token("csrf"),
        created_at=now, expires_at=now + timedelta(hours=ttl_hours),
    )
    uow.session.add(sess)
    return sess, token


def do_logout(uow: UnitOfWork, *, token: str) -> None:
    uow.session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))


def do_create_api_token(uow: UnitOfWork, actor: Actor, *, name: str) -> tuple[ApiToken, str]:
    count = uow.session.scalar(
        select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id == actor.user_id, ApiToken.revoked_at.is_(None))
    )
    if (count or 0) >= 20:
        raise Conflict("令牌数量已达上限 / Too many tokens", code="too_many_tokens")
    token = new_token("kefu_pat")
    row = ApiToken(id=new_id(), workspace_id=actor.workspace_id, user_id=actor.user_id,
                   name=name.strip(), token_hash=token_hash(token), created_at=uow.clock.now())
    uow.session.add(row)
    uow.session.flush()
    return row, token


def do_touch_api_token(uow: UnitOfWork, *, token: str) -> None:
    """Record when a token was last used (at most once a minute, to spare the writes)."""
    now = uow.clock.now()
    uow.session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == token_hash(token),
               or_(ApiToken.last_used_at.is_(None),
                   ApiToken.last_used_at <= now - TOKEN_TOUCH_INTERVAL))
        .values(last_used_at=now))


def do_revoke_api_token(uow: UnitOfWork, actor: Actor, token_id: str) -> ApiToken:
    row = uow.session.get(ApiToken, token_id)
    if row is None or row.user_id != actor.user_id:
        raise NotFound("令牌不存在 / No such token", code="token_not_found", id=token_id)
    if row.revoked_at is None:
        row.revoked_at = uow.clock.now()
    return row
