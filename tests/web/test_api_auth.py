"""Login over HTTP (cookie, CSRF token, rate limit), logout, /me and API tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.accounts.models import ApiToken
from kefu.core.security import token_hash
from tests.conftest import PASSWORD, login
from tests.web.test_api_errors import assert_error


def _login(client: TestClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_login_sets_an_httponly_cookie_and_returns_csrf(app_client, world, svc):
    r = _login(app_client, "Li@A.example.com")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == world.agent_li.user_id
    assert "password_hash" not in body["user"]
    assert body["csrf_token"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("kefu_session=kefu_sess_")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert f"Max-Age={svc.settings.session_ttl_hours * 3600}" in cookie
    me = app_client.get("/api/v1/me").json()
    assert me["user"]["email"] == "li@a.example.com"
    assert me["csrf_token"] == body["csrf_token"]


def test_bad_credentials(app_client, world):
    assert_error(_login(app_client, "li@a.example.com", "wrong"), 401, "bad_credentials")
    assert_error(_login(app_client, "ghost@a.example.com"), 401, "bad_credentials")
    assert "set-cookie" not in _login(app_client, "li@a.example.com", "wrong").headers


def test_inactive_user_cannot_log_in(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.patch(f"/api/v1/users/{world.agent_li.user_id}", json={"is_active": False})
    assert r.status_code == 200, r.text
    assert_error(_login(app_client, "li@a.example.com"), 401, "bad_credentials")


def test_session_expires_with_the_clock(app_client, world, clock, svc):
    login(app_client, "li@a.example.com")
    assert app_client.get("/api/v1/me").status_code == 200
    clock.advance(hours=svc.settings.session_ttl_hours)
    assert_error(app_client.get("/api/v1/me"), 401, "unauthenticated")


def test_logout_ends_the_session(app_client, world):
    login(app_client, "li@a.example.com")
    token = app_client.cookies["kefu_session"]
    r = app_client.post("/api/v1/auth/logout")
    assert r.status_code == 204
    assert_error(app_client.get("/api/v1/me"), 401, "unauthenticated")
    app_client.cookies.set("kefu_session", token)  # a replayed cookie is dead too
    assert_error(app_client.get("/api/v1/me"), 401, "unauthenticated")


def test_login_rate_limit(app_client, world, svc, clock):
    limit = svc.settings.login_max_failures
    for _ in range(limit):
        assert_error(_login(app_client, "li@a.example.com", "wrong"), 401, "bad_credentials")
    r = _login(app_client, "li@a.example.com")  # even the right password
    err = assert_error(r, 429, "too_many_logins")
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= svc.settings.login_window_seconds + 1
    assert err["details"]["retry_after"] == retry - 1
    assert "set-cookie" not in r.headers
    # another address may still log in as the same person; the same address as another one
    other_ip = TestClient(app_client.app, base_url="http://127.0.0.1", client=("10.1.2.3", 5))
    assert _login(other_ip, "li@a.example.com").status_code == 200
    assert _login(app_client, "chen@a.example.com").status_code == 200
    # the e-mail is normalised in the key: case changes do not get around the limit
    assert_error(_login(app_client, " LI@a.example.com"), 429, "too_many_logins")
    clock.advance(seconds=svc.settings.login_window_seconds + 1)
    assert _login(app_client, "li@a.example.com").status_code == 200


def test_successful_login_resets_the_failure_count(app_client, world, svc):
    limit = svc.settings.login_max_failures
    for _ in range(limit - 1):
        _login(app_client, "li@a.example.com", "wrong")
    assert _login(app_client, "li@a.example.com").status_code == 200
    for _ in range(limit - 1):
        _login(app_client, "li@a.example.com", "wrong")
    assert _login(app_client, "li@a.example.com").status_code == 200


def test_api_token_lifecycle(app_client, world, uows):
    login(app_client, "li@a.example.com")
    r = app_client.post("/api/v1/tokens", json={"name": "对账脚本"})
    assert r.status_code == 201, r.text
    created = r.json()
    token = created["token"]
    assert token.startswith("kefu_pat_")
    listed = app_client.get("/api/v1/tokens").json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert token not in app_client.get("/api/v1/tokens").text
    with uows(readonly=True) as uow:
        row = uow.session.scalar(select(ApiToken).where(ApiToken.id == created["id"]))
        assert row.token_hash == token_hash(token)

    bearer = TestClient(app_client.app, base_url="http://127.0.0.1",
                        headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/v1/me").json()["user"]["id"] == world.agent_li.user_id
    assert bearer.get("/api/v1/me").json()["csrf_token"] is None
    # writes with a bearer token need no CSRF token
    r = bearer.post("/api/v1/tokens", json={"name": "second"})
    assert r.status_code == 201, r.text

    r = app_client.delete(f"/api/v1/tokens/{created['id']}")
    assert r.status_code == 200
    assert r.json()["revoked_at"] is not None
    assert_error(bearer.get("/api/v1/me"), 401, "invalid_token")
    assert_error(bearer.post("/api/v1/tokens", json={"name": "x"}), 401, "invalid_token")


def test_bogus_bearer_token_is_401_even_with_a_valid_cookie(app_client, world):
    login(app_client, "li@a.example.com")
    r = app_client.get("/api/v1/me", headers={"Authorization": "Bearer kefu_pat_nope"})
    assert_error(r, 401, "invalid_token")


def test_token_last_used_is_recorded_at_most_once_a_minute(app_client, world, clock):
    login(app_client, "li@a.example.com")
    created = app_client.post("/api/v1/tokens", json={"name": "ci"}).json()
    assert created["last_used_at"] is None
    bearer = TestClient(app_client.app, base_url="http://127.0.0.1",
                        headers={"Authorization": f"Bearer {created['token']}"})

    def last_used() -> str | None:
        return next(t["last_used_at"] for t in app_client.get("/api/v1/tokens").json()
                    if t["id"] == created["id"])

    t0 = clock.now()
    assert bearer.get("/api/v1/me").status_code == 200
    assert last_used() == t0.isoformat().replace("+00:00", "Z")
    clock.advance(seconds=30)
    bearer.get("/api/v1/me")
    assert last_used() == t0.isoformat().replace("+00:00", "Z")
    clock.advance(seconds=31)
    bearer.get("/api/v1/me")
    assert last_used() == clock.now().isoformat().replace("+00:00", "Z")


def test_secure_cookie_flag_follows_settings(app_client, world, svc):
    svc.settings.secure_cookies = True
    r = _login(TestClient(app_client.app, base_url="https://127.0.0.1"), "li@a.example.com")
    assert r.status_code == 200
    assert "; secure" in r.headers["set-cookie"].lower()
    svc.settings.secure_cookies = False
    r = _login(app_client, "li@a.example.com")
    assert "; secure" not in r.headers["set-cookie"].lower()


def test_login_refuses_a_non_json_body(app_client, world):
    """A cross-site HTML form can only send form or text bodies: it cannot log a victim's
    browser into an attacker's account (login CSRF)."""
    import json

    body = json.dumps({"email": "li@a.example.com", "password": PASSWORD})
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        r = app_client.post("/api/v1/auth/login", content=body, headers={"content-type": ctype})
        assert_error(r, 422, "validation_error")
        assert "set-cookie" not in r.headers
