"""Roles over HTTP: who may manage people, teams and inboxes; who may reply."""

from __future__ import annotations

import pytest

from tests.conftest import customer_says, login
from tests.web.test_api_errors import assert_error

NEW_USER = {"email": "new@a.example.com", "name": "新人", "password": "long-enough-1"}


@pytest.mark.parametrize("email", ["li@a.example.com", "sun@a.example.com",
                                   "zhao@a.example.com"])
def test_only_admins_create_users_teams_inboxes(app_client, world, email):
    login(app_client, email)
    for path, body in (("/api/v1/users", NEW_USER), ("/api/v1/teams", {"name": "x"}),
                       ("/api/v1/inboxes", {"name": "x"})):
        err = assert_error(app_client.post(path, json=body), 403, "permission_denied")
        assert err["details"] == {"permission": "admin.manage"}
    login(app_client, "wang@a.example.com")
    assert [u["email"] for u in app_client.get("/api/v1/users?limit=200").json()["items"]
            if u["email"] == NEW_USER["email"]] == []
    assert app_client.get("/api/v1/teams").json() == []
    assert [i["id"] for i in app_client.get("/api/v1/inboxes").json()] == [world.inbox_a]


def test_admin_creates_users_teams_inboxes(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/users", json={**NEW_USER, "role": "agent"})
    assert r.status_code == 201, r.text
    assert r.json()["workspace_id"] == world.ws_a
    assert "password" not in r.text
    r = app_client.post("/api/v1/teams", json={"name": "x", "member_ids": [r.json()["id"]]})
    assert r.status_code == 201, r.text
    r = app_client.post("/api/v1/inboxes", json={"name": "second"})
    assert r.status_code == 201, r.text
    assert r.json()["secret"]


@pytest.mark.parametrize("email", ["zhao@a.example.com", "li@a.example.com"])
def test_supervisor_and_agent_cannot_manage_users(app_client, world, email):
    login(app_client, email)
    target = world.agent_chen.user_id
    for body in ({"role": "admin"}, {"is_active": False}, {"name": "改名"},
                 {"password": "another-password"}):
        assert_error(app_client.patch(f"/api/v1/users/{target}", json=body), 403,
                     "permission_denied")
    login(app_client, "wang@a.example.com")
    chen = app_client.get(f"/api/v1/users/{target}").json()
    assert (chen["role"], chen["is_active"], chen["name"]) == ("agent", True, "陈子豪")


def test_agent_cannot_promote_themselves(app_client, world):
    login(app_client, "li@a.example.com")
    me = f"/api/v1/users/{world.agent_li.user_id}"
    assert_error(app_client.patch(me, json={"role": "admin"}), 403, "permission_denied")
    r = app_client.patch(me, json={"name": "小李"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["role"]) == ("小李", "agent")


def test_admin_cannot_lock_themselves_out_over_http(app_client, world):
    login(app_client, "wang@a.example.com")
    me = f"/api/v1/users/{world.admin_wang.user_id}"
    assert_error(app_client.patch(me, json={"is_active": False}), 422, "self_lockout")
    assert_error(app_client.patch(me, json={"role": "agent"}), 422, "self_lockout")
    assert app_client.get("/api/v1/me").json()["user"]["role"] == "admin"


def test_supervisor_may_read_admin_lists(app_client, world):
    login(app_client, "zhao@a.example.com")
    assert app_client.get("/api/v1/users").json()["total"] == 5
    assert app_client.get(f"/api/v1/users/{world.agent_li.user_id}").status_code == 200
    inbox = app_client.get(f"/api/v1/inboxes/{world.inbox_a}").json()
    assert "secret" not in inbox  # only admins see the HMAC secret


def test_inspector_reads_conversations_but_cannot_act(app_client, uows, world):
    conv_id, contact_id = customer_says(uows, world.inbox_a, "请问发货了吗")
    login(app_client, "sun@a.example.com")
    assert app_client.get("/api/v1/conversations").json()["total"] == 1
    assert app_client.get(f"/api/v1/conversations/{conv_id}").json()["status"] == "queued"
    msgs = app_client.get(f"/api/v1/conversations/{conv_id}/messages").json()
    assert [m["content"] for m in msgs] == ["请问发货了吗"]
    assert app_client.get(f"/api/v1/contacts/{contact_id}").status_code == 200
    base = f"/api/v1/conversations/{conv_id}"
    for path, body in ((f"{base}/messages", {"content": "已发货"}),
                       (f"{base}/notes", {"content": "note"}),
                       (f"{base}/assign", {"assignee_id": world.agent_li.user_id}),
                       (f"{base}/status", {"status": "resolved"}),
                       (f"{base}/priority", {"priority": "high"})):
        assert_error(app_client.post(path, json=body), 403, "permission_denied")
    assert_error(app_client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "x"}), 403,
                 "permission_denied")
    assert len(app_client.get(f"{base}/messages").json()) == 1
    conv = app_client.get(base).json()
    assert (conv["status"], conv["priority"], conv["assignee_id"]) == ("queued", "normal", None)


def test_agent_replies_and_manages_conversations(app_client, uows, world):
    conv_id, _ = customer_says(uows, world.inbox_a, "请问发货了吗")
    login(app_client, "li@a.example.com")
    base = f"/api/v1/conversations/{conv_id}"
    r = app_client.post(f"{base}/messages", json={"content": "已发货"})
    assert r.status_code == 201, r.text
    assert r.json()["sender_name"] == "李晓月"
    assert app_client.post(f"{base}/priority", json={"priority": "high"}).json()[
        "priority"] == "high"
    assert app_client.get(base).json()["assignee_id"] == world.agent_li.user_id
