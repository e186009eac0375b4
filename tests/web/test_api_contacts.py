"""Contacts over HTTP."""

from __future__ import annotations

from tests.conftest import customer_says, login
from tests.web.test_api_errors import assert_error


def test_list_get_update_contact(app_client, uows, world, clock):
    _, first = customer_says(uows, world.inbox_a, "你好", visitor="v-first")
    clock.advance(seconds=5)
    _, second = customer_says(uows, world.inbox_a, "在吗", visitor="v-second")
    login(app_client, "li@a.example.com")
    page = app_client.get("/api/v1/contacts").json()
    assert [c["id"] for c in page["items"]] == [second, first]
    assert page["items"][0]["identities"] == [
        {"kind": "webchat_visitor", "external_id": "v-second", "verified": False}]
    assert [c["id"] for c in app_client.get("/api/v1/contacts?q=first").json()["items"]] == [
        first]
    r = app_client.patch(f"/api/v1/contacts/{first}", json={
        "name": "赵女士", "phone": " 13800000000 ", "attributes": {"vip": "gold"}})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["phone"], r.json()["attributes"]) == (
        "赵女士", "13800000000", {"vip": "gold"})
    assert app_client.get(f"/api/v1/contacts/{first}").json()["name"] == "赵女士"


def test_contact_errors(app_client, uows, world):
    _, contact = customer_says(uows, world.inbox_a, "你好")
    login(app_client, "li@a.example.com")
    assert_error(app_client.get("/api/v1/contacts/000000000000000000000000"), 404,
                 "contact_not_found")
    assert_error(app_client.patch(f"/api/v1/contacts/{contact}", json={"name": "x" * 121}),
                 422, "too_long")
    err = assert_error(app_client.patch(f"/api/v1/contacts/{contact}", json={
        "attributes": {f"k{i}": i for i in range(51)}}), 422, "invalid")
    assert err["details"] == {"field": "attributes"}
    assert_error(app_client.get("/api/v1/contacts?q=" + "x" * 101), 422, "too_long")
