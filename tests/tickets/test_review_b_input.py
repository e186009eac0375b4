"""Review probes (second reviewer): bad input through the APIs never a 500, e-mail headers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World, login

HUGE = 10 ** 400  # JSON allows it; float() overflows


def _template(client: TestClient, fields: list[dict[str, object]]) -> str:
    r = client.post("/api/v1/ticket-templates", json={"name": "报修", "fields": fields})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_huge_number_in_a_number_field_is_a_422(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    tid = _template(app_client, [{"key": "amount", "label": "金额", "type": "number"}])
    r = app_client.post("/api/v1/tickets", json={"subject": "退款", "template_id": tid,
                                                 "fields": {"amount": HUGE}})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["fields"]["amount"]


def test_huge_bound_in_a_template_spec_is_a_422(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/ticket-templates", json={
        "name": "x", "fields": [{"key": "n", "label": "N", "type": "number", "max": HUGE}]})
    assert r.status_code == 422, r.text
    assert "fields[0].max" in r.json()["error"]["details"]["errors"]


def test_huge_sla_target_is_a_422(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/sla/policies", json={
        "name": "p", "targets": {"P1": {"first_response": HUGE}}})
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["error"]["details"]["errors"]]
    assert "targets.P1.first_response" in fields


def test_huge_time_condition_is_a_422(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/ticket-triggers", json={
        "name": "t", "event": "time",
        "conditions": [{"field": "hours_since_created", "op": "gt", "value": HUGE}],
        "actions": [{"type": "set_priority", "value": "P1"}]})
    assert r.status_code == 422, r.text
    assert "conditions[0].value" in r.json()["error"]["details"]["errors"]


def test_report_until_near_year_one_is_a_422(app_client: TestClient, world: World) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.get("/api/v1/ticket-reports/trend", params={"until": "0001-01-05"})
    assert r.status_code == 422, r.text


def test_report_page_until_near_year_one_is_not_a_500(app_client: TestClient,
                                                       world: World) -> None:
    login(app_client, "wang@a.example.com")
    r = app_client.get("/app/tickets/reports", params={"until": "0001-01-05"})
    assert r.status_code < 500, r.text
