"""Users and teams over HTTP: shapes, paging, conflicts, password change ends sessions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, login
from tests.web.test_api_errors import assert_error


def test_list_users_pages(app_client, world):
    login(app_client, "wang@a.example.com")
    first = app_client.get("/api/v1/users?limit=3").json()
    rest = app_client.get("/api/v1/users?limit=3&offset=3").json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 3, 0)
    assert len(first["items"]) == 3
    assert len(rest["items"]) == 2
    ids = [u["id"] for u in first["items"] + rest["items"]]
    assert len(set(ids)) == 5
    assert all("password_hash" not in u for u in first["items"])
    assert_error(app_client.get("/api/v1/users?limit=201"), 422, "validation_error")


def test_create_user_normalises_email_and_refuses_duplicates(app_client, world):
    login(app_client, "wang@a.example.com")
    body = {"email": "Zhou@A.example.com", "name": "周", "password": "long-enough-1",
            "role": "inspector", "locale": "en"}
    r = app_client.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["email"], r.json()["role"], r.json()["locale"]) == (
        "zhou@a.example.com", "inspector", "en")
    err = assert_error(app_client.post("/api/v1/users", json=body), 409, "email_taken")
    assert err["details"]["email"] == "zhou@a.example.com"
    login(TestClient(app_client.app, base_url="http://127.0.0.1"), "zhou@a.example.com",
          "long-enough-1")


def test_password_change_kills_sessions_over_http(app_client, world):
    victim = TestClient(app_client.app, base_url="http://127.0.0.1")
    login(victim, "li@a.example.com")
    assert victim.get("/api/v1/me").status_code == 200
    login(app_client, "wang@a.example.com")
    r = app_client.patch(f"/api/v1/users/{world.agent_li.user_id}",
                         json={"password": "reset-by-admin-1"})
    assert r.status_code == 200, r.text
    assert_error(victim.get("/api/v1/me"), 401, "unauthenticated")
    assert_error(victim.post("/api/v1/auth/login", json={"email": "li@a.example.com",
                                                         "password": PASSWORD}),
                 401, "bad_credentials")
    login(victim, "li@a.example.com", "reset-by-admin-1")
    assert app_client.get("/api/v1/me").status_code == 200  # the admin's session lives on


def test_own_password_change_ends_own_session(app_client, world):
    login(app_client, "li@a.example.com")
    r = app_client.patch(f"/api/v1/users/{world.agent_li.user_id}",
                         json={"password": "my-new-password"})
    assert_error(r, 403, "current_password_wrong")
    r = app_client.patch(f"/api/v1/users/{world.agent_li.user_id}",
                         json={"password": "my-new-password", "current_password": PASSWORD})
    assert r.status_code == 200
    assert_error(app_client.get("/api/v1/me"), 401, "unauthenticated")


def test_teams_over_http(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/teams", json={
        "name": "售前", "description": "pre-sales",
        "member_ids": [world.agent_li.user_id, world.agent_chen.user_id]})
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["member_ids"] == sorted([world.agent_li.user_id, world.agent_chen.user_id])
    assert_error(app_client.post("/api/v1/teams", json={"name": "售前"}), 409, "team_name_taken")
    r = app_client.patch(f"/api/v1/teams/{team['id']}",
                         json={"name": "售后", "member_ids": [world.agent_chen.user_id]})
    assert (r.json()["name"], r.json()["member_ids"]) == ("售后", [world.agent_chen.user_id])
    assert app_client.get(f"/api/v1/teams/{team['id']}").json()["name"] == "售后"
    assert app_client.delete(f"/api/v1/teams/{team['id']}").status_code == 204
    assert_error(app_client.get(f"/api/v1/teams/{team['id']}"), 404, "team_not_found")
    assert_error(app_client.delete(f"/api/v1/teams/{team['id']}"), 404, "team_not_found")
    assert app_client.get("/api/v1/teams").json() == []


def test_unknown_user_is_404(app_client, world):
    login(app_client, "wang@a.example.com")
    assert_error(app_client.get("/api/v1/users/000000000000000000000000"), 404,
                 "user_not_found")
    assert_error(app_client.patch("/api/v1/users/nope", json={"name": "x"}), 404,
                 "user_not_found")
