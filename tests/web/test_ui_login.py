"""The login page (double-submit CSRF, errors, rate limit), logout and page redirects."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import PASSWORD, World

HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def login_form_token(client: TestClient, path: str = "/app/login") -> str:
    r = client.get(path)
    assert r.status_code == 200, r.text
    match = HIDDEN_CSRF.search(r.text)
    assert match, "the login form has no CSRF field"
    return match.group(1)


def post_login(client: TestClient, email: str, password: str = PASSWORD,
               **extra: str) -> Response:
    token = login_form_token(client)
    data = {"email": email, "password": password, "csrf_token": token, **extra}
    response: Response = client.post("/app/login", data=data, follow_redirects=False)
    return response


def ui_login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the HTML form; returns the session's CSRF token from the /app page."""
    r = post_login(client, email, password)
    assert r.status_code == 303, r.text
    page = client.get("/app")
    assert page.status_code == 200
    match = META_CSRF.search(page.text)
    assert match and match.group(1)
    return match.group(1)


def test_root_redirects_to_the_workspace(app_client: TestClient) -> None:
    r = app_client.get("/", follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"] == "/app"


def test_login_form_in_chinese_by_default(app_client: TestClient) -> None:
    r = app_client.get("/app/login")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html
    assert 'name="email"' in html and 'name="password"' in html
    assert '<button type="submit"' in html
    assert "登录" in html and "密码" in html
    token = HIDDEN_CSRF.search(html)
    assert token is not None
    assert r.cookies.get("kefu_login_csrf") == token.group(1)
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_login_form_in_english_and_remembered(app_client: TestClient) -> None:
    r = app_client.get("/app/login?lang=en")
    assert '<html lang="en">' in r.text
    assert "Log in" in r.text and "Password" in r.text
    assert "<title>Log in · kefu</title>" in r.text
    assert "密码" not in r.text
    assert r.cookies.get("kefu_lang") == "en"
    again = app_client.get("/app/login")  # no ?lang=: the cookie decides
    assert '<html lang="en">' in again.text


def test_accept_language_picks_english(app_client: TestClient) -> None:
    r = app_client.get("/app/login", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.3"})
    assert '<html lang="en">' in r.text
    r = app_client.get("/app/login", headers={"Accept-Language": "fr-FR, zh-TW;q=0.8"})
    assert '<html lang="zh-CN">' in r.text


def test_wrong_password_rerenders_the_form(app_client: TestClient, world: World) -> None:
    r = post_login(app_client, "li@a.example.com", "not-the-password")
    assert r.status_code == 401
    assert "邮箱或密码错误" in r.text
    assert "Wrong email or password" not in r.text  # only the page's language
    assert "Traceback" not in r.text and "DomainError" not in r.text
    assert 'value="li@a.example.com"' in r.text  # the email is kept
    assert 'name="password"' in r.text
    assert "kefu_session" not in r.headers.get("set-cookie", "")


def test_wrong_password_in_english(app_client: TestClient, world: World) -> None:
    app_client.get("/app/login?lang=en")
    r = post_login(app_client, "li@a.example.com", "not-the-password")
    assert r.status_code == 401
    assert "Wrong email or password" in r.text
    assert "邮箱或密码错误" not in r.text


def test_repeated_failures_are_rate_limited(app_client: TestClient, world: World) -> None:
    for _ in range(5):
        assert post_login(app_client, "chen@a.example.com", "wrong-password").status_code == 401
    r = post_login(app_client, "chen@a.example.com", "wrong-password")
    assert r.status_code == 429
    assert "登录失败次数过多" in r.text
    # even the right password waits now
    r = post_login(app_client, "chen@a.example.com", PASSWORD)
    assert r.status_code == 429
    assert "kefu_session" not in r.headers.get("set-cookie", "")


def test_login_without_csrf_is_refused(app_client: TestClient, world: World) -> None:
    app_client.get("/app/login")  # cookie set, but the field is missing
    r = app_client.post("/app/login", data={"email": "li@a.example.com", "password": PASSWORD},
                        follow_redirects=False)
    assert r.status_code == 403
    assert "kefu_session" not in r.headers.get("set-cookie", "")
    assert "登录表单已过期" in r.text


def test_login_with_mismatched_csrf_is_refused(app_client: TestClient, world: World) -> None:
    login_form_token(app_client)
    r = app_client.post("/app/login", data={"email": "li@a.example.com", "password": PASSWORD,
                                            "csrf_token": "forged.token"},
                        follow_redirects=False)
    assert r.status_code == 403


def test_login_with_unsigned_double_submit_is_refused(app_client: TestClient,
                                                      world: World) -> None:
    """An attacker who can plant a cookie still cannot mint a token the server signed."""
    app_client.cookies.set("kefu_login_csrf", "attacker.chosen", path="/app/login")
    r = app_client.post("/app/login", data={"email": "li@a.example.com", "password": PASSWORD,
                                            "csrf_token": "attacker.chosen"},
                        follow_redirects=False)
    assert r.status_code == 403


def test_login_without_cookie_is_refused(world: World, app_client: TestClient) -> None:
    token = login_form_token(app_client)
    app_client.cookies.clear()
    r = app_client.post("/app/login", data={"email": "li@a.example.com", "password": PASSWORD,
                                            "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 403


def test_successful_login_sets_the_session_and_redirects(app_client: TestClient,
                                                         world: World) -> None:
    r = post_login(app_client, "Li@A.example.com")
    assert r.status_code == 303
    assert r.headers["location"] == "/app"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("kefu_session="))
    assert "HttpOnly" in session
    assert any(c.startswith("kefu_login_csrf=") and "Max-Age=0" in c for c in cookies)
    page = app_client.get("/app", follow_redirects=False)
    assert page.status_code == 200
    assert "李晓月" in page.text
    # a logged-in user is sent on from the login page
    again = app_client.get("/app/login", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/app"


@pytest.mark.parametrize(("given", "expected"), [
    ("/app/admin/users", "/app/admin/users"),
    ("https://evil.example.com/app", "/app"),
    ("//evil.example.com/app", "/app"),
    ("/apple", "/app"),
    ("/app/login", "/app"),
])
def test_login_goes_only_to_local_pages(app_client: TestClient, world: World, given: str,
                                        expected: str) -> None:
    r = post_login(app_client, "wang@a.example.com", next=given)
    assert r.status_code == 303
    assert r.headers["location"] == expected


def test_pages_without_a_session_redirect_to_login(app_client: TestClient) -> None:
    r = app_client.get("/app", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/app/login"
    r = app_client.get("/app/admin/teams", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/app/login?next=/app/admin/teams"
    app_client.cookies.set("kefu_session", "kefu_sess_not-a-real-session")
    assert app_client.get("/app", follow_redirects=False).status_code == 303


def test_login_form_keeps_next_for_later(app_client: TestClient, world: World) -> None:
    r = app_client.get("/app/login?next=/app/admin/inboxes")
    assert 'name="next" value="/app/admin/inboxes"' in r.text


def test_a_disabled_user_cannot_log_in(app_client: TestClient, world: World) -> None:
    admin_csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/users/{world.agent_chen.user_id}",
                        data={"csrf_token": admin_csrf, "is_active": "0"},
                        follow_redirects=False)
    assert r.status_code == 303
    other = TestClient(app_client.app, base_url="http://127.0.0.1")
    assert post_login(other, "chen@a.example.com").status_code == 401


def test_logout_needs_the_csrf_token(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "li@a.example.com")
    r = app_client.post("/app/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert app_client.get("/app", follow_redirects=False).status_code == 200  # still in
    r = app_client.post("/app/logout", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert r.status_code == 403
    r = app_client.post("/app/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/app/login"
    assert app_client.get("/app", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_server_side(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "li@a.example.com")
    cookie = app_client.cookies.get("kefu_session")
    assert cookie
    app_client.post("/app/logout", data={"csrf_token": csrf}, follow_redirects=False)
    replay = TestClient(app_client.app, base_url="http://127.0.0.1")
    replay.cookies.set("kefu_session", cookie)
    assert replay.get("/api/v1/me").status_code == 401
