"""Credentials, browser sessions (with the clock) and personal API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kefu.accounts import actions, queries
from kefu.accounts.models import ApiToken, AuthSession
from kefu.accounts.schemas import UserUpdate
from kefu.core.errors import Conflict, NotFound, Unauthenticated
from kefu.core.security import token_hash
from tests.conftest import PASSWORD


def test_check_credentials_accepts_any_email_case(uows, world):
    with uows() as uow:
        user = actions.check_credentials(uow, email="  LI@A.example.com ", password=PASSWORD)
    assert user.id == world.agent_li.user_id


@pytest.mark.parametrize(("email", "password"), [
    ("li@a.example.com", "wrong-password"),
    ("nobody@a.example.com", PASSWORD),
    ("li@a.example.com", PASSWORD.upper()),
])
def test_bad_credentials(uows, world, email, password):
    with pytest.raises(Unauthenticated) as info, uows() as uow:
        actions.check_credentials(uow, email=email, password=password)
    assert info.value.code == "bad_credentials"
    assert info.value.status == 401


def test_inactive_user_is_refused(uows, world):
    with uows() as uow:
        actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                               UserUpdate(is_active=False))
    with pytest.raises(Unauthenticated) as info, uows() as uow:
        actions.check_credentials(uow, email="li@a.example.com", password=PASSWORD)
    assert info.value.code == "bad_credentials"  # no hint that the account exists


def _login(uows, email: str, ttl_hours: int = 12) -> tuple[str, str]:
    with uows() as uow:
        user = actions.check_credentials(uow, email=email, password=PASSWORD)
        sess, token = actions.do_login(uow, user=user, ttl_hours=ttl_hours)
        return token, sess.csrf_token


def test_session_is_stored_hashed_and_expires_with_the_clock(uows, world, clock):
    token, csrf = _login(uows, "li@a.example.com", ttl_hours=2)
    assert token.startswith("kefu_sess_")
    assert csrf
    with uows(readonly=True) as uow:
        row = uow.session.scalar(select(AuthSession).where(
            AuthSession.user_id == world.agent_li.user_id))
        assert row.token_hash == token_hash(token) != token
        assert row.expires_at == clock.now() + timedelta(hours=2)
        found = queries.session_actor(uow.session, token, clock=clock)
    assert found is not None
    assert found[0] == world.agent_li
    clock.advance(hours=2, seconds=-1)
    with uows(readonly=True) as uow:
        assert queries.session_actor(uow.session, token, clock=clock) is not None
    clock.advance(seconds=1)
    with uows(readonly=True) as uow:
        assert queries.session_actor(uow.session, token, clock=clock) is None
        assert queries.session_actor(uow.session, token + "x", clock=clock) is None


def test_login_sweeps_expired_sessions(uows, world, clock):
    _login(uows, "li@a.example.com", ttl_hours=1)
    clock.advance(hours=2)
    _login(uows, "chen@a.example.com")
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == world.agent_li.user_id)) == 0


def test_logout_ends_only_that_session(uows, world, clock):
    t1, _ = _login(uows, "li@a.example.com")
    t2, _ = _login(uows, "li@a.example.com")
    with uows() as uow:
        actions.do_logout(uow, token=t1)
    with uows(readonly=True) as uow:
        assert queries.session_actor(uow.session, t1, clock=clock) is None
        assert queries.session_actor(uow.session, t2, clock=clock) is not None


def test_api_token_is_shown_once_and_stored_hashed(uows, world):
    with uows() as uow:
        row, token = actions.do_create_api_token(uow, world.agent_li, name=" 脚本 ")
    assert token.startswith("kefu_pat_")
    assert row.name == "脚本"
    with uows(readonly=True) as uow:
        stored = uow.session.get(ApiToken, row.id)
        assert stored.token_hash == token_hash(token)
        assert token not in {stored.token_hash, stored.name}
        assert queries.token_actor(uow.session, token) == world.agent_li


def test_revoked_token_no_longer_authenticates(uows, world, clock):
    with uows() as uow:
        row, token = actions.do_create_api_token(uow, world.agent_li, name="ci")
    with uows() as uow:
        revoked = actions.do_revoke_api_token(uow, world.agent_li, row.id)
    assert revoked.revoked_at == clock.now()
    with uows(readonly=True) as uow:
        assert queries.token_actor(uow.session, token) is None


def test_token_of_a_deactivated_user_does_not_authenticate(uows, world):
    with uows() as uow:
        _, token = actions.do_create_api_token(uow, world.agent_li, name="ci")
    with uows() as uow:
        actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                               UserUpdate(is_active=False))
    with uows(readonly=True) as uow:
        assert queries.token_actor(uow.session, token) is None


def test_only_the_owner_revokes_a_token(uows, world):
    with uows() as uow:
        row, token = actions.do_create_api_token(uow, world.agent_li, name="ci")
    for other in (world.admin_wang, world.admin_b):
        with pytest.raises(NotFound) as info, uows() as uow:
            actions.do_revoke_api_token(uow, other, row.id)
        assert info.value.code == "token_not_found"
    with uows(readonly=True) as uow:
        assert queries.token_actor(uow.session, token) == world.agent_li


def test_token_count_is_capped_but_revoked_ones_do_not_count(uows, world):
    with uows() as uow:
        rows = [actions.do_create_api_token(uow, world.agent_li, name=f"t{i}")[0]
                for i in range(20)]
    with pytest.raises(Conflict) as info, uows() as uow:
        actions.do_create_api_token(uow, world.agent_li, name="one too many")
    assert info.value.code == "too_many_tokens"
    with uows() as uow:
        actions.do_revoke_api_token(uow, world.agent_li, rows[0].id)
    with uows() as uow:
        actions.do_create_api_token(uow, world.agent_li, name="replacement")


@pytest.mark.parametrize("active", [True, False])
def test_password_is_checked_whether_or_not_the_user_is_active(uows, world, monkeypatch,
                                                               active):
    """Same work for inactive accounts, so response timing does not reveal them."""
    if not active:
        with uows() as uow:
            actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                                   UserUpdate(is_active=False))
    calls: list[str] = []
    real = actions.verify_password
    monkeypatch.setattr(actions, "verify_password",
                        lambda h, p: calls.append(p) or real(h, p))
    with pytest.raises(Unauthenticated), uows() as uow:
        actions.check_credentials(uow, email="li@a.example.com", password="wrong-one")
    assert calls == ["wrong-one"]
