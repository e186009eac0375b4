"""Review pages: the queue, one result with <mark> around the hit text, review / appeal /
decision forms (CSRF, redirect back, errors shown on the page), my results, appeals."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from kefu.qa.models import QaAppeal, QaHit, QaInspection
from tests.conftest import T0
from tests.qa.test_review import make_inspection
from tests.web.test_ui_login import ui_login


def _as(client: TestClient, email: str) -> str:
    client.cookies.clear()
    return ui_login(client, email)


def test_inspection_page_marks_hits_and_reviewer_forms(app_client, uows, world):
    made = make_inspection(uows, world, customer_text="<b>我的快递</b>呢")
    csrf = _as(app_client, "sun@a.example.com")
    queue = app_client.get("/app/qa/review")
    assert queue.status_code == 200
    assert f'data-inspection-id="{made.inspection_id}"' in queue.text
    assert app_client.get("/app/qa/review", params={"reason": "random"}).text.count(
        "data-inspection-id=") == 0
    page = app_client.get(f"/app/qa/inspections/{made.inspection_id}")
    assert page.status_code == 200
    assert '<mark title="风险承诺"' in page.text and ">保证</mark>" in page.text
    assert '<mark title="广告法绝对化用语"' in page.text and ">最好</mark>" in page.text
    assert "&lt;b&gt;我的快递&lt;/b&gt;" in page.text  # messages are escaped
    assert 'id="qa-score">80<' in page.text
    assert f'action="/app/qa/hits/{made.best_hit}/review"' in page.text
    assert 'id="qa-finish-form"' in page.text and 'id="qa-appeal-form"' not in page.text
    # overrule without a comment: refused, shown on the page, nothing stored
    r = app_client.post(f"/app/qa/hits/{made.best_hit}/review",
                        data={"csrf_token": csrf, "decision": "overruled", "comment": ""},
                        follow_redirects=False)
    assert r.status_code == 422 and 'id="form-error"' in r.text
    with uows(readonly=True) as uow:
        hit = uow.session.get(QaHit, made.best_hit)
        assert hit is not None and hit.review == "open"
    r = app_client.post(f"/app/qa/hits/{made.best_hit}/review",
                        data={"csrf_token": csrf, "decision": "overruled", "comment": "误报"},
                        follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/app/qa/inspections/{made.inspection_id}?notice=reviewed"
    page = app_client.get(r.headers["location"])
    assert 'id="qa-score">90<' in page.text and 'id="form-notice"' in page.text
    assert ">最好</mark>" not in page.text  # an overruled hit is no longer highlighted
    assert 'data-action="qa.hit.review"' in page.text
    # without the CSRF token: refused
    bad = app_client.post(f"/app/qa/inspections/{made.inspection_id}/finish-review",
                          data={"comment": "x"}, follow_redirects=False)
    assert bad.status_code == 403
    r = app_client.post(f"/app/qa/inspections/{made.inspection_id}/finish-review",
                        data={"csrf_token": csrf, "comment": "ok"}, follow_redirects=False)
    assert r.status_code == 303
    with uows(readonly=True) as uow:
        insp = uow.session.get(QaInspection, made.inspection_id)
        assert insp is not None and insp.status == "reviewed"
    # the inspector has no appeals to decide: the page has no decision form
    assert app_client.get("/app/qa/appeals").status_code == 200


def test_agent_pages_appeal_and_isolation(app_client, uows, world, clock):
    mine = make_inspection(uows, world, visitor="v1")
    other = make_inspection(uows, world, visitor="v2", agent=world.agent_chen,
                            deadline=T0 + timedelta(hours=1))
    csrf = _as(app_client, "li@a.example.com")
    r = app_client.get("/app/qa/mine")
    assert r.status_code == 200
    assert mine.inspection_id in r.text and other.inspection_id not in r.text
    assert app_client.get(f"/app/qa/inspections/{other.inspection_id}").status_code == 404
    assert app_client.get("/app/qa/review").status_code == 403
    assert app_client.get("/app/qa/appeals").status_code == 403
    page = app_client.get(f"/app/qa/inspections/{mine.inspection_id}")
    assert 'id="qa-appeal-form"' in page.text and "/review\"" not in page.text
    r = app_client.post(f"/app/qa/inspections/{mine.inspection_id}/appeals",
                        data={"csrf_token": csrf, "reason": "  "}, follow_redirects=False)
    assert r.status_code == 422 and 'id="form-error"' in r.text
    r = app_client.post(f"/app/qa/inspections/{mine.inspection_id}/appeals",
                        data={"csrf_token": csrf, "reason": "客户原话", "hit_id": mine.best_hit},
                        follow_redirects=False)
    assert r.status_code == 303
    # chen's result is past its deadline for chen, and li cannot appeal it at all
    r = app_client.post(f"/app/qa/inspections/{other.inspection_id}/appeals",
                        data={"csrf_token": csrf, "reason": "x"}, follow_redirects=False)
    assert r.status_code == 404
    csrf = _as(app_client, "chen@a.example.com")
    clock.advance(hours=2)
    page = app_client.get(f"/app/qa/inspections/{other.inspection_id}")
    assert 'id="qa-appeal-form"' not in page.text and 'id="qa-appeal-closed"' in page.text
    r = app_client.post(f"/app/qa/inspections/{other.inspection_id}/appeals",
                        data={"csrf_token": csrf, "reason": "晚了"}, follow_redirects=False)
    assert r.status_code == 409 and "申诉期已过" in r.text
    with uows(readonly=True) as uow:
        assert uow.session.query(QaAppeal).count() == 1
    # another workspace's admin: the result does not exist
    _as(app_client, "admin@b.example.com")
    assert app_client.get(f"/app/qa/inspections/{mine.inspection_id}").status_code == 404


def test_supervisor_decides_from_the_appeals_page(app_client, uows, world):
    made = make_inspection(uows, world)
    with uows() as uow:
        from kefu.qa import review

        appeal_id = review.appeal(uow, world.agent_li, made.inspection_id, "误判",
                                  hit_id=made.promise_hit).id
    csrf = _as(app_client, "sun@a.example.com")  # inspectors see appeals but cannot decide
    page = app_client.get("/app/qa/appeals")
    assert f'data-appeal-id="{appeal_id}"' in page.text and "qa-decide-form" not in page.text
    r = app_client.post(f"/app/qa/appeals/{appeal_id}/decide",
                        data={"csrf_token": csrf, "accept": "1"}, follow_redirects=False)
    assert r.status_code == 403
    csrf = _as(app_client, "zhao@a.example.com")
    page = app_client.get("/app/qa/appeals", params={"lang": "en"})
    assert "qa-decide-form" in page.text and "Appeals" in page.text
    r = app_client.post(f"/app/qa/appeals/{appeal_id}/decide",
                        data={"csrf_token": csrf, "accept": "0", "next": "appeals"},
                        follow_redirects=False)
    assert r.status_code == 422 and 'id="form-error"' in r.text
    r = app_client.post(f"/app/qa/appeals/{appeal_id}/decide",
                        data={"csrf_token": csrf, "accept": "1", "comment": "同意",
                              "next": "appeals"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/app/qa/appeals?notice=decided"
    page = app_client.get(f"/app/qa/inspections/{made.inspection_id}")
    assert 'id="qa-score">85<' in page.text
    assert 'data-action="qa.appeal.create"' in page.text
    assert 'data-action="qa.appeal.decide"' in page.text
