"""The review / appeal API: who sees which result, inspectors review but do not decide, the
deadline, accept → score recomputed, the audit timeline, clear 4xx codes."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.conftest import T0, login
from tests.qa.test_review import make_inspection
from tests.web.test_api_errors import assert_error


def _as(app_client: TestClient, email: str) -> TestClient:
    app_client.cookies.clear()
    app_client.headers.pop("X-CSRF-Token", None)
    login(app_client, email)
    return app_client


def test_agents_see_only_their_own_results(app_client, uows, world):
    li = make_inspection(uows, world, visitor="v1")
    chen = make_inspection(uows, world, visitor="v2", agent=world.agent_chen)
    c = _as(app_client, "li@a.example.com")
    r = c.get("/api/v1/qa/inspections")
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [li.inspection_id]
    # even when asking for chen's results by agent id
    r = c.get("/api/v1/qa/inspections", params={"agent_id": world.agent_chen.user_id})
    assert [i["id"] for i in r.json()["items"]] == [li.inspection_id]
    assert_error(c.get(f"/api/v1/qa/inspections/{chen.inspection_id}"), 404,
                 "qa_inspection_not_found")
    d = c.get(f"/api/v1/qa/inspections/{li.inspection_id}").json()
    assert d["inspection"]["score"] == 80.0 and d["can"]["appeal"] is True
    marked = [s for s in d["messages"][1]["segments"] if s["hit_ids"]]
    assert [s["text"] for s in marked] == ["保证", "最好"]
    assert_error(c.get("/api/v1/qa/review-queue"), 403, "permission_denied")
    c = _as(app_client, "sun@a.example.com")
    assert c.get("/api/v1/qa/inspections").json()["total"] == 2
    c = _as(app_client, "admin@b.example.com")
    assert c.get("/api/v1/qa/inspections").json()["total"] == 0
    assert_error(c.get(f"/api/v1/qa/inspections/{li.inspection_id}"), 404,
                 "qa_inspection_not_found")


def test_queue_review_and_finish(app_client, uows, world):
    made = make_inspection(uows, world, sampled="fatal")
    make_inspection(uows, world, visitor="v_none", sampled=None)
    c = _as(app_client, "sun@a.example.com")
    q = c.get("/api/v1/qa/review-queue", params={"reason": "fatal"}).json()
    assert [i["id"] for i in q["items"]] == [made.inspection_id] and q["total"] == 1
    assert c.get("/api/v1/qa/review-queue", params={"reason": "random"}).json()["total"] == 0
    assert_error(c.get("/api/v1/qa/review-queue", params={"reason": "bogus"}), 422,
                 "validation_error")
    assert_error(c.post(f"/api/v1/qa/hits/{made.best_hit}/review",
                        json={"decision": "overruled", "comment": ""}), 422,
                 "qa_comment_required")
    r = c.post(f"/api/v1/qa/hits/{made.best_hit}/review",
               json={"decision": "overruled", "comment": "误报"})
    assert r.status_code == 200, r.text
    assert r.json()["review"] == "overruled" and r.json()["score"] == 90.0
    assert_error(c.post("/api/v1/qa/hits/nope/review", json={"decision": "confirmed"}), 404,
                 "qa_hit_not_found")
    r = c.post(f"/api/v1/qa/inspections/{made.inspection_id}/finish-review",
               json={"comment": "done"})
    assert r.status_code == 200, r.text
    assert r.json()["inspection"]["status"] == "reviewed"
    assert [e["action"] for e in r.json()["timeline"]] == ["qa.hit.review", "qa.review.finish"]
    assert c.get("/api/v1/qa/review-queue").json()["total"] == 0
    assert_error(c.post(f"/api/v1/qa/inspections/{made.inspection_id}/finish-review",
                        json={}), 409, "qa_already_reviewed")


def test_appeal_decide_and_audit(app_client, uows, world):
    made = make_inspection(uows, world)
    c = _as(app_client, "li@a.example.com")
    assert_error(c.post(f"/api/v1/qa/inspections/{made.inspection_id}/appeals",
                        json={"reason": "x", "hit_id": "missing"}), 404, "qa_hit_not_found")
    r = c.post(f"/api/v1/qa/inspections/{made.inspection_id}/appeals",
               json={"reason": "这是客户的原话", "hit_id": made.best_hit})
    assert r.status_code == 201, r.text
    appeal_id = r.json()["id"]
    assert r.json()["status"] == "open" and r.json()["rule_name"] == "广告法绝对化用语"
    assert_error(c.post(f"/api/v1/qa/appeals/{appeal_id}/decide", json={"accept": True}), 403,
                 "permission_denied")
    # the inspector can review but not decide
    c = _as(app_client, "sun@a.example.com")
    assert c.get("/api/v1/qa/appeals").json()["total"] == 1
    assert_error(c.post(f"/api/v1/qa/appeals/{appeal_id}/decide", json={"accept": True}), 403,
                 "permission_denied")
    c = _as(app_client, "zhao@a.example.com")
    assert_error(c.post(f"/api/v1/qa/appeals/{appeal_id}/decide", json={"accept": False}), 422,
                 "qa_comment_required")
    r = c.post(f"/api/v1/qa/appeals/{appeal_id}/decide", json={"accept": True, "comment": "同意"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["score"] == 90.0
    assert r.json()["inspection_status"] == "final"
    assert_error(c.post(f"/api/v1/qa/appeals/{appeal_id}/decide", json={"accept": False,
                                                                       "comment": "x"}),
                 409, "qa_appeal_decided")
    d = c.get(f"/api/v1/qa/inspections/{made.inspection_id}").json()
    assert d["inspection"]["score"] == 90.0
    assert [e["action"] for e in d["timeline"]] == ["qa.appeal.create", "qa.appeal.decide"]
    assert d["timeline"][0]["actor_name"] == "李晓月"
    assert d["appeals"][0]["status"] == "accepted"
    # B's admin cannot decide A's appeal, nor learn that it exists
    c = _as(app_client, "admin@b.example.com")
    assert_error(c.post(f"/api/v1/qa/appeals/{appeal_id}/decide", json={"accept": True}), 404,
                 "qa_appeal_not_found")
    assert c.get("/api/v1/qa/appeals").json()["total"] == 0


def test_appeal_after_deadline_and_bad_input(app_client, uows, world, clock):
    made = make_inspection(uows, world, deadline=T0 + timedelta(minutes=30))
    c = _as(app_client, "li@a.example.com")
    assert_error(c.post(f"/api/v1/qa/inspections/{made.inspection_id}/appeals",
                        json={"reason": ""}), 422, "validation_error")
    assert_error(c.post(f"/api/v1/qa/inspections/{made.inspection_id}/appeals",
                        json={"reason": "x" * 2001}), 422, "too_long")
    clock.advance(minutes=31)
    assert_error(c.post(f"/api/v1/qa/inspections/{made.inspection_id}/appeals",
                        json={"reason": "晚了"}), 409, "qa_appeal_closed")
    assert c.get("/api/v1/qa/appeals").json()["total"] == 0
    c = _as(app_client, "chen@a.example.com")
    assert_error(c.post(f"/api/v1/qa/inspections/{made.inspection_id}/appeals",
                        json={"reason": "不是我的"}), 404, "qa_inspection_not_found")


def test_times_without_an_offset_and_dates_out_of_range_are_422(app_client, world):
    login(app_client, "wang@a.example.com")
    for url in ("/api/v1/qa/alerts", "/api/v1/qa/inspections", "/api/v1/qa/review-queue"):
        r = app_client.get(url, params={"since": "2026-11-01T00:00:00"})
        assert r.status_code == 422, (url, r.text)
        r = app_client.get(url, params={"since": "2026-11-01T00:00:00+08:00"})
        assert r.status_code == 200, (url, r.text)
    for params in ({"since": "9999-12-31", "until": "9999-12-31"},
                   {"since": "0001-01-01", "until": "0001-01-05"}):
        r = app_client.get("/api/v1/qa/reports/summary", params=params)
        assert r.status_code == 422, (params, r.text)
