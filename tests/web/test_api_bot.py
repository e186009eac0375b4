"""The bot over HTTP: per-inbox settings, hit testing, statistics, the turn log, the
learning loop, and the widget's feedback and 猜你想问 endpoints."""

from __future__ import annotations

from tests.bot.test_bot_flow import bot  # noqa: F401 - fixture
from tests.conftest import login
from tests.webchat.test_http import send, start


def test_settings_defaults_save_and_permissions(app_client, world):
    login(app_client, "zhao@a.example.com")  # supervisor: may manage the bot
    url = f"/api/v1/inboxes/{world.inbox_a}/bot"
    got = app_client.get(url).json()
    assert got["answer_threshold"] == 0.36 and got["hours"]["timezone"] == "Asia/Shanghai"
    got.update(name="小鲜", max_misses=3)
    got["hours"].update(enabled=True, holidays=["2026-10-01"])
    r = app_client.put(url, json=got)
    assert r.status_code == 200, r.text
    assert app_client.get(url).json()["name"] == "小鲜"
    assert app_client.get(url).json()["hours"]["holidays"] == ["2026-10-01"]


def test_agents_cannot_change_settings(app_client, world):
    login(app_client, "li@a.example.com")
    url = f"/api/v1/inboxes/{world.inbox_a}/bot"
    body = app_client.get(url).json()
    r = app_client.put(url, json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"


def test_bad_settings_are_refused_with_the_field(app_client, world):
    login(app_client, "wang@a.example.com")
    url = f"/api/v1/inboxes/{world.inbox_a}/bot"
    base = app_client.get(url).json()
    for change in ({"answer_threshold": 0.2, "clarify_threshold": 0.5},
                   {"hours": {**base["hours"], "timezone": "Mars/Olympus"}},
                   {"hours": {**base["hours"], "weekly": {"mon": ["18:00-09:00"]}}},
                   {"hours": {**base["hours"], "weekly": {"someday": ["09:00-18:00"]}}},
                   {"answer_threshold": 2}, {"unknown_field": 1}):
        r = app_client.put(url, json={**base, **change})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["error"]["code"]
    assert app_client.get(url).json() == base


def test_hit_test_stats_turns_and_unanswered(app_client, world, bot, uows):  # noqa: F811
    login(app_client, "li@a.example.com")
    r = app_client.post("/api/v1/bot/hit-test", json={"inbox_id": world.inbox_a,
                                                      "text": "多久發貨"})
    assert r.status_code == 200 and r.json()["decision"] == "answer"
    assert r.json()["candidates"][0]["entry_id"] == bot["shipping"]
    long = app_client.post("/api/v1/bot/hit-test",
                           json={"inbox_id": world.inbox_a, "text": "退货" * 5000})
    assert long.status_code == 200
    emoji = app_client.post("/api/v1/bot/hit-test", json={"inbox_id": world.inbox_a,
                                                          "text": "😀😀？？"})
    assert emoji.status_code == 200 and emoji.json()["decision"] == "none"
    too_long = app_client.post("/api/v1/bot/hit-test",
                               json={"inbox_id": world.inbox_a, "text": "x" * 10_001})
    assert too_long.status_code == 422
    other = app_client.post("/api/v1/bot/hit-test", json={"inbox_id": world.inbox_b,
                                                          "text": "退货"})
    assert other.status_code == 404
    visitor = start(app_client, world.inbox_a)
    send(app_client, world.inbox_a, visitor["token"], "量子纠缠是什么", "q1")
    send(app_client, world.inbox_a, visitor["token"], "怎么退货", "q2")
    stats = app_client.get("/api/v1/bot/stats").json()
    assert stats["turns"] == 2 and stats["by_decision"] == {"none": 1, "answer": 1}
    turns = app_client.get("/api/v1/bot/turns").json()
    assert [t["decision"] for t in turns] == ["answer", "none"]
    clusters = app_client.get("/api/v1/bot/unanswered").json()["items"]
    assert clusters[0]["representative"] == "量子纠缠是什么"


def test_widget_feedback_and_suggestions(app_client, world, bot):  # noqa: F811
    visitor = start(app_client, world.inbox_a)
    assert visitor["inbox"]["bot"] is True
    auth = {"Authorization": f"Visitor {visitor['token']}"}
    sugg = app_client.post(f"/api/v1/webchat/{world.inbox_a}/suggestions",
                           json={"page_url": "https://shop.example.com/", "context": {}})
    assert sugg.status_code == 200 and len(sugg.json()["questions"]) == 3
    send(app_client, world.inbox_a, visitor["token"], "怎么退货", "f1")
    msgs = app_client.get(f"/api/v1/webchat/{world.inbox_a}/messages", headers=auth).json()
    answer = [m for m in msgs["messages"] if m["sender_type"] == "bot"][-1]
    turn_id = answer["meta"]["turn_id"]
    url = f"/api/v1/webchat/{world.inbox_a}/feedback"
    r = app_client.post(url, json={"turn_id": turn_id, "helpful": True}, headers=auth)
    assert r.status_code == 200 and r.json() == {
        "turn_id": turn_id, "feedback": "helpful",
        "message": "感谢您的反馈！还有其他问题可以继续问我。"}  # the inbox's helpful_text
    assert app_client.post(url, json={"turn_id": turn_id, "helpful": True},
                           headers=auth).status_code == 200
    stranger = start(app_client, world.inbox_a)
    r = app_client.post(url, json={"turn_id": turn_id, "helpful": False},
                        headers={"Authorization": f"Visitor {stranger['token']}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "conversation_not_found"
    assert app_client.post(url, json={"turn_id": turn_id, "helpful": False}).status_code == 401
    assert app_client.post(url, json={"turn_id": "", "helpful": False},
                           headers=auth).status_code == 422
