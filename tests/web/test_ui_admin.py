"""Admin pages: who may see them, CSRF on every form, and writes through the real actions."""

from __future__ import annotations

import html as html_lib

import pytest
from fastapi.testclient import TestClient

from kefu.core.security import identity_hmac
from tests.conftest import PASSWORD, World
from tests.web.test_ui_login import post_login, ui_login

PAGES = ["/app/admin/users", "/app/admin/teams", "/app/admin/inboxes"]


@pytest.mark.parametrize("path", PAGES)
def test_admin_sees_admin_pages(app_client: TestClient, world: World, path: str) -> None:
    ui_login(app_client, "wang@a.example.com")
    r = app_client.get(path)
    assert r.status_code == 200
    assert 'name="csrf_token"' in r.text
    assert "readonly-badge" not in r.text


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("email", ["li@a.example.com", "sun@a.example.com"])
def test_agents_and_inspectors_get_403(app_client: TestClient, world: World, path: str,
                                       email: str) -> None:
    ui_login(app_client, email)
    r = app_client.get(path)
    assert r.status_code == 403
    assert "没有权限" in r.text
    assert "王店长" not in r.text and "wang@a.example.com" not in r.text


@pytest.mark.parametrize("path", PAGES)
def test_supervisor_reads_without_forms(app_client: TestClient, world: World,
                                        path: str) -> None:
    ui_login(app_client, "zhao@a.example.com")
    r = app_client.get(path)
    assert r.status_code == 200
    assert "readonly-badge" in r.text
    assert 'action="/app/admin/' not in r.text


def test_admin_home_redirects(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "wang@a.example.com")
    r = app_client.get("/app/admin", follow_redirects=False)
    assert r.headers["location"] == "/app/admin/users"


# -- users ------------------------------------------------------------------------------------

def test_admin_creates_a_user_who_can_log_in(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/admin/users", data={
        "csrf_token": csrf, "email": "New.Agent@a.example.com", "name": "周新人",
        "role": "agent", "password": "a-long-password", "locale": "en"},
        follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/app/admin/users?notice=created"
    page = app_client.get(r.headers["location"])
    assert "周新人" in page.text and "new.agent@a.example.com" in page.text
    assert "已创建" in page.text
    users = app_client.get("/api/v1/users").json()["items"]
    created = next(u for u in users if u["email"] == "new.agent@a.example.com")
    assert created["role"] == "agent" and created["locale"] == "en"
    other = TestClient(app_client.app, base_url="http://127.0.0.1")
    assert post_login(other, "new.agent@a.example.com", "a-long-password").status_code == 303


def test_form_post_without_csrf_is_refused(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/admin/users", data={
        "email": "sneaky@a.example.com", "name": "Sneaky", "role": "admin",
        "password": "a-long-password"}, follow_redirects=False)
    assert r.status_code == 403
    r = app_client.post("/app/admin/users", data={
        "csrf_token": "not-the-token", "email": "sneaky@a.example.com", "name": "Sneaky",
        "role": "admin", "password": "a-long-password"}, follow_redirects=False)
    assert r.status_code == 403
    emails = [u["email"] for u in app_client.get("/api/v1/users").json()["items"]]
    assert "sneaky@a.example.com" not in emails


def test_agent_cannot_post_admin_forms(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "li@a.example.com")
    r = app_client.post("/app/admin/users", data={
        "csrf_token": csrf, "email": "x@a.example.com", "name": "X", "role": "admin",
        "password": "a-long-password"}, follow_redirects=False)
    assert r.status_code == 403
    r = app_client.post(f"/app/admin/users/{world.agent_li.user_id}",
                        data={"csrf_token": csrf, "role": "admin"}, follow_redirects=False)
    assert r.status_code == 403
    assert app_client.get("/api/v1/me").json()["user"]["role"] == "agent"


def test_supervisor_cannot_post_admin_forms(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "zhao@a.example.com")
    r = app_client.post("/app/admin/teams", data={"csrf_token": csrf, "name": "影子团队"},
                        follow_redirects=False)
    assert r.status_code == 403
    assert app_client.get("/api/v1/teams").json() == []


def test_duplicate_email_shows_the_error(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/admin/users", data={
        "csrf_token": csrf, "email": "li@a.example.com", "name": "重复", "role": "agent",
        "password": "a-long-password"}, follow_redirects=False)
    assert r.status_code == 409
    assert "该邮箱已注册" in r.text
    assert "Traceback" not in r.text


def test_invalid_fields_are_named(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/admin/users", data={
        "csrf_token": csrf, "email": "not-an-email", "name": "坏数据", "role": "overlord",
        "password": "short"}, follow_redirects=False)
    assert r.status_code == 422
    assert "请检查这些字段" in r.text
    for label in ("邮箱", "角色", "密码"):
        assert label in r.text


def test_admin_edits_role_name_and_active(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/users/{world.agent_chen.user_id}", data={
        "csrf_token": csrf, "name": "陈子豪（组长）", "role": "supervisor", "is_active": "0",
        "locale": "zh-CN"}, follow_redirects=False)
    assert r.status_code == 303
    user = app_client.get(f"/api/v1/users/{world.agent_chen.user_id}").json()
    assert (user["name"], user["role"], user["is_active"]) == ("陈子豪（组长）", "supervisor",
                                                               False)


def test_admin_cannot_lock_themself_out(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/users/{world.admin_wang.user_id}", data={
        "csrf_token": csrf, "role": "agent"}, follow_redirects=False)
    assert r.status_code == 422
    assert "不能停用或降级自己" in r.text


def test_admin_resets_a_password(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/users/{world.agent_li.user_id}/password", data={
        "csrf_token": csrf, "password": "brand-new-password"}, follow_redirects=False)
    assert r.status_code == 303
    assert "密码已重置" in app_client.get(r.headers["location"]).text
    other = TestClient(app_client.app, base_url="http://127.0.0.1")
    assert post_login(other, "li@a.example.com", PASSWORD).status_code == 401
    assert post_login(other, "li@a.example.com", "brand-new-password").status_code == 303


def test_admin_changing_own_password_gives_the_current_one(app_client: TestClient,
                                                          world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    page = app_client.get("/app/admin/users").text
    assert 'name="current_password"' in page
    url = f"/app/admin/users/{world.admin_wang.user_id}/password"
    r = app_client.post(url, data={"csrf_token": csrf, "password": "brand-new-password",
                                   "current_password": "wrong-password"},
                        follow_redirects=False)
    assert r.status_code == 403
    assert "当前密码不正确" in r.text
    r = app_client.post(url, data={"csrf_token": csrf, "password": "brand-new-password",
                                   "current_password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    other = TestClient(app_client.app, base_url="http://127.0.0.1")
    assert post_login(other, "wang@a.example.com", "brand-new-password").status_code == 303


def test_other_workspace_user_is_not_found(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/users/{world.agent_b.user_id}/password", data={
        "csrf_token": csrf, "password": "brand-new-password"}, follow_redirects=False)
    assert r.status_code == 404
    assert "Agent B" not in app_client.get("/app/admin/users").text


# -- teams ------------------------------------------------------------------------------------

def test_admin_manages_a_team(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/admin/teams", data={
        "csrf_token": csrf, "name": "售后组", "description": "退换货",
        "member_ids": [world.agent_li.user_id, world.agent_chen.user_id]},
        follow_redirects=False)
    assert r.status_code == 303
    teams = app_client.get("/api/v1/teams").json()
    assert len(teams) == 1
    team = teams[0]
    assert sorted(team["member_ids"]) == sorted([world.agent_li.user_id,
                                                 world.agent_chen.user_id])
    page = app_client.get("/app/admin/teams").text
    assert "售后组" in page and "李晓月" in page and "2 名成员" in page

    r = app_client.post(f"/app/admin/teams/{team['id']}", data={
        "csrf_token": csrf, "name": "售后二组", "description": "",
        "member_ids": [world.agent_li.user_id]}, follow_redirects=False)
    assert r.status_code == 303
    team = app_client.get(f"/api/v1/teams/{team['id']}").json()
    assert team["name"] == "售后二组" and team["member_ids"] == [world.agent_li.user_id]

    r = app_client.post(f"/app/admin/teams/{team['id']}/delete", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert r.status_code == 303
    assert app_client.get("/api/v1/teams").json() == []


def test_team_name_conflict_is_shown(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    for _ in range(2):
        r = app_client.post("/app/admin/teams", data={"csrf_token": csrf, "name": "夜班"},
                            follow_redirects=False)
    assert r.status_code == 409
    assert "团队名称已存在" in r.text


def test_team_delete_needs_csrf(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    app_client.post("/app/admin/teams", data={"csrf_token": csrf, "name": "夜班"})
    team_id = app_client.get("/api/v1/teams").json()[0]["id"]
    r = app_client.post(f"/app/admin/teams/{team_id}/delete", follow_redirects=False)
    assert r.status_code == 403
    assert len(app_client.get("/api/v1/teams").json()) == 1


# -- inboxes ----------------------------------------------------------------------------------

def test_inbox_page_shows_snippet_and_secret(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "wang@a.example.com")
    page = html_lib.unescape(app_client.get("/app/admin/inboxes").text)
    assert (f'<script src="http://127.0.0.1/widget.js" data-inbox="{world.inbox_a}" async>'
            "</script>") in page
    assert world.secret_a in page
    assert "data-user-id" in page and "data-user-hash" in page and "HMAC-SHA256" in page
    assert world.inbox_b not in page  # the other workspace's inbox


def test_supervisor_does_not_see_the_secret(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "zhao@a.example.com")
    page = app_client.get("/app/admin/inboxes").text
    assert world.inbox_a in page
    assert world.secret_a not in page


def test_admin_creates_and_edits_an_inbox(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/admin/inboxes", data={
        "csrf_token": csrf, "name": "小程序客服", "greeting": "欢迎光临"},
        follow_redirects=False)
    assert r.status_code == 303
    inbox = next(i for i in app_client.get("/api/v1/inboxes").json()
                 if i["name"] == "小程序客服")
    assert inbox["settings"]["greeting"] == "欢迎光临"

    r = app_client.post(f"/app/admin/inboxes/{inbox['id']}", data={
        "csrf_token": csrf, "name": "小程序客服", "greeting": "您好！",
        "color": "#12805c", "prechat_enabled": "1", "prechat_fields": ["name", "phone", "bogus"],
        "prechat_required": "1",
        "allowed_origins": "https://Shop.Example.com/\nhttp://localhost:3000",
        "is_active": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    stored = app_client.get(f"/api/v1/inboxes/{inbox['id']}").json()
    settings = stored["settings"]
    assert settings["greeting"] == "您好！"
    assert settings["color"] == "#12805c"
    assert settings["prechat_enabled"] is True and settings["prechat_required"] is True
    assert settings["prechat_fields"] == ["name", "phone"]
    assert settings["allowed_origins"] == ["https://shop.example.com", "http://localhost:3000"]
    assert settings["require_verified_identity"] is False
    assert stored["is_active"] is True


@pytest.mark.parametrize("origin", ["shop.example.com", "https://shop.example.com/path",
                                    "javascript:alert(1)", "https://user@shop.example.com"])
def test_bad_origins_are_refused(app_client: TestClient, world: World, origin: str) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/inboxes/{world.inbox_a}", data={
        "csrf_token": csrf, "name": "官网客服", "allowed_origins": origin, "is_active": "1"},
        follow_redirects=False)
    assert r.status_code == 422
    assert "不是有效的网站来源" in r.text
    stored = app_client.get(f"/api/v1/inboxes/{world.inbox_a}").json()
    assert stored["settings"]["allowed_origins"] == []


def test_bad_colour_is_refused(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/inboxes/{world.inbox_a}", data={
        "csrf_token": csrf, "name": "官网客服", "color": "red", "is_active": "1"},
        follow_redirects=False)
    assert r.status_code == 422
    assert "主题色" in r.text


def test_rotating_the_secret_changes_the_identity_hash(app_client: TestClient,
                                                       world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post(f"/app/admin/inboxes/{world.inbox_a}/rotate-secret",
                        data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    new_secret = app_client.get(f"/api/v1/inboxes/{world.inbox_a}").json()["secret"]
    assert new_secret != world.secret_a
    assert identity_hmac(new_secret, "u1") != identity_hmac(world.secret_a, "u1")
    page = app_client.get(r.headers["location"]).text
    assert new_secret in page and world.secret_a not in page


def test_admin_pages_in_english(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "wang@a.example.com")
    r = app_client.get("/app/admin/inboxes?lang=en")
    assert "Embed code" in r.text and "Identity secret" in r.text
    assert "嵌入代码" not in r.text
