"""Users: creation, updates, self-lockout, roles, sessions killed on password change."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kefu.accounts import actions, queries
from kefu.accounts.models import AuthSession, User
from kefu.accounts.schemas import UserCreate, UserUpdate
from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from kefu.core.security import verify_password
from tests.conftest import PASSWORD


def _create(uows, actor, email: str, **kw):
    data = UserCreate(email=email, name=kw.pop("name", "新同事"),
                      password=kw.pop("password", PASSWORD), **kw)
    with uows() as uow:
        return actions.do_create_user(uow, workspace_id=actor.workspace_id, data=data,
                                      actor=actor)


def _sessions(uows, user_id: str) -> int:
    with uows(readonly=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(AuthSession)
                                  .where(AuthSession.user_id == user_id)) or 0


def _login(uows, user_id: str) -> str:
    with uows() as uow:
        user = uow.session.get(User, user_id)
        _, token = actions.do_login(uow, user=user, ttl_hours=12)
    return token


def test_create_user_normalises_email_and_hashes_password(uows, world, svc):
    seen = []
    svc.bus.subscribe("user.created", seen.append)
    user = _create(uows, world.admin_wang, "  Zhou.Mei@A.Example.COM ", name=" 周美 ",
                   role="supervisor")
    assert user.email == "zhou.mei@a.example.com"
    assert user.name == "周美"
    assert user.workspace_id == world.ws_a
    assert user.role == "supervisor"
    assert user.password_hash != PASSWORD
    assert verify_password(user.password_hash, PASSWORD)
    assert [(e.user_id, e.role) for e in seen] == [(user.id, "supervisor")]


def test_duplicate_email_is_a_conflict_even_with_other_case(uows, world):
    with pytest.raises(Conflict) as info:
        _create(uows, world.admin_wang, "LI@a.example.com")
    assert info.value.code == "email_taken"
    assert info.value.details["email"] == "li@a.example.com"
    # emails are unique across workspaces too (login is by email alone)
    with pytest.raises(Conflict, match="Email already in use"):
        _create(uows, world.admin_b, "li@a.example.com")


@pytest.mark.parametrize("persona", ["supervisor_zhao", "agent_li", "inspector_sun"])
def test_only_admins_create_users(uows, world, persona):
    with pytest.raises(PermissionDenied) as info:
        _create(uows, getattr(world, persona), "new@a.example.com")
    assert info.value.code == "permission_denied"
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(User).where(User.email == "new@a.example.com")) is None


def test_update_user_by_admin(uows, world, svc):
    seen = []
    svc.bus.subscribe("user.updated", seen.append)
    with uows() as uow:
        user = actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                                      UserUpdate(name="李月", role="supervisor", locale="en"))
    assert (user.name, user.role, user.locale) == ("李月", "supervisor", "en")
    assert [e.changed for e in seen] == [["name", "role", "locale"]]
    with uows() as uow:  # nothing changes: no event
        actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                               UserUpdate(name="李月"))
    assert len(seen) == 1


def test_user_may_edit_own_name_but_not_own_role(uows, world):
    with uows() as uow:
        me = actions.do_update_user(uow, world.agent_li, world.agent_li.user_id,
                                    UserUpdate(name="小李", locale="en"))
    assert (me.name, me.locale) == ("小李", "en")
    for change in (UserUpdate(role="admin"), UserUpdate(is_active=True)):
        with pytest.raises(PermissionDenied), uows() as uow:
            actions.do_update_user(uow, world.agent_li, world.agent_li.user_id, change)
    with uows(readonly=True) as uow:
        assert uow.session.get(User, world.agent_li.user_id).role == "agent"


@pytest.mark.parametrize("persona", ["supervisor_zhao", "agent_chen"])
def test_non_admin_cannot_change_others(uows, world, persona):
    with pytest.raises(PermissionDenied), uows() as uow:
        actions.do_update_user(uow, getattr(world, persona), world.agent_li.user_id,
                               UserUpdate(role="admin"))
    with pytest.raises(PermissionDenied), uows() as uow:
        actions.do_update_user(uow, getattr(world, persona), world.agent_li.user_id,
                               UserUpdate(name="x"))


@pytest.mark.parametrize("change", [UserUpdate(is_active=False), UserUpdate(role="agent"),
                                    UserUpdate(role="inspector", name="x")])
def test_admin_cannot_lock_themselves_out(uows, world, change):
    with pytest.raises(Invalid) as info, uows() as uow:
        actions.do_update_user(uow, world.admin_wang, world.admin_wang.user_id, change)
    assert info.value.code == "self_lockout"
    with uows(readonly=True) as uow:
        me = uow.session.get(User, world.admin_wang.user_id)
        assert (me.role, me.is_active, me.name) == ("admin", True, "王店长")


def test_admin_may_keep_own_role(uows, world):
    with uows() as uow:
        me = actions.do_update_user(uow, world.admin_wang, world.admin_wang.user_id,
                                    UserUpdate(role="admin", is_active=True, name="王总"))
    assert me.name == "王总"


def test_password_change_kills_sessions(uows, world):
    _login(uows, world.agent_li.user_id)
    _login(uows, world.agent_li.user_id)
    _login(uows, world.agent_chen.user_id)
    with uows() as uow:
        actions.do_update_user(uow, world.agent_li, world.agent_li.user_id,
                               UserUpdate(password="a-brand-new-password",
                                          current_password=PASSWORD))
    assert _sessions(uows, world.agent_li.user_id) == 0
    assert _sessions(uows, world.agent_chen.user_id) == 1
    with uows() as uow:
        actions.check_credentials(uow, email="li@a.example.com", password="a-brand-new-password")


def test_deactivation_kills_sessions_and_refuses_login(uows, world, svc):
    token = _login(uows, world.agent_li.user_id)
    with uows() as uow:
        actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                               UserUpdate(is_active=False))
    assert _sessions(uows, world.agent_li.user_id) == 0
    with uows(readonly=True) as uow:
        assert queries.session_actor(uow.session, token, clock=svc.clock) is None


def test_update_user_of_another_workspace_is_not_found(uows, world):
    with pytest.raises(NotFound) as info, uows() as uow:
        actions.do_update_user(uow, world.admin_b, world.agent_li.user_id,
                               UserUpdate(name="hijack"))
    assert info.value.code == "user_not_found"


def test_list_users_is_scoped_and_paged(uows, world):
    with uows(readonly=True) as uow:
        page = queries.list_users(uow.session, world.admin_wang, limit=2, offset=0)
        rest = queries.list_users(uow.session, world.admin_wang, limit=10, offset=2)
        b = queries.list_users(uow.session, world.admin_b, limit=50, offset=0)
    assert page.total == rest.total == 5
    assert len(page.items) == 2
    assert len(rest.items) == 3
    assert {u.workspace_id for u in [*page.items, *rest.items]} == {world.ws_a}
    assert len({u.id for u in [*page.items, *rest.items]}) == 5
    assert {u.email for u in b.items} == {"admin@b.example.com", "agent@b.example.com"}


def test_blank_names_are_refused_and_names_are_trimmed_on_update(uows, world):
    with pytest.raises(Invalid) as info:
        _create(uows, world.admin_wang, "blank@a.example.com", name="   ")
    assert (info.value.code, info.value.details) == ("blank_name", {"field": "name"})
    with pytest.raises(Invalid), uows() as uow:
        actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                               UserUpdate(name=" \t "))
    with uows() as uow:
        user = actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                                      UserUpdate(name="  李晓月 "))
    assert user.name == "李晓月"


def test_own_password_change_needs_the_current_password(uows, world):
    for wrong in (None, "not-my-password"):
        with uows() as uow, pytest.raises(PermissionDenied) as exc:
            actions.do_update_user(uow, world.agent_li, world.agent_li.user_id,
                                   UserUpdate(password="a-brand-new-password",
                                              current_password=wrong))
        assert exc.value.code == "current_password_wrong"
    # an admin resetting someone else's password does not need theirs
    with uows() as uow:
        actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                               UserUpdate(password="reset-by-admin-1"))
    with uows() as uow:
        actions.check_credentials(uow, email="li@a.example.com", password="reset-by-admin-1")
