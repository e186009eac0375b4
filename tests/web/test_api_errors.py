"""One error shape everywhere; body caps; CSRF on cookie-authenticated writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import login


def assert_error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


@pytest.fixture
def admin(app_client, world):
    login(app_client, "wang@a.example.com")
    return app_client


def test_invalid_json_is_400(admin):
    r = admin.post("/api/v1/teams", content=b'{"name": "x",',
                   headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_json")


def test_validation_error_shape(admin):
    r = admin.post("/api/v1/users", json={"email": "not-an-email", "name": "",
                                          "password": "short", "role": "boss"})
    err = assert_error(r, 422, "validation_error")
    locs = {tuple(f["loc"]) for f in err["details"]["fields"]}
    assert locs == {("body", "email"), ("body", "name"), ("body", "password"), ("body", "role")}
    assert all(f["msg"] and f["type"] for f in err["details"]["fields"])


def test_missing_body_is_a_validation_error(admin):
    r = admin.post("/api/v1/teams")
    err = assert_error(r, 422, "validation_error")
    assert err["details"]["fields"][0]["loc"] == ["body"]


def test_too_long_field_has_its_own_code(admin):
    r = admin.post("/api/v1/teams", json={"name": "x" * 121})
    err = assert_error(r, 422, "too_long")
    assert err["details"]["fields"][0]["loc"] == ["body", "name"]


def test_bad_query_parameter(admin):
    err = assert_error(admin.get("/api/v1/users?limit=0"), 422, "validation_error")
    assert err["details"]["fields"][0]["loc"] == ["query", "limit"]


def test_domain_errors_keep_code_and_details(admin):
    r = admin.post("/api/v1/users", json={"email": "li@a.example.com", "name": "dup",
                                          "password": "long-enough-1"})
    err = assert_error(r, 409, "email_taken")
    assert err["details"] == {"email": "li@a.example.com"}


def _too_big(svc) -> bytes:
    return b'{"name": "' + b"x" * svc.settings.max_body_bytes + b'"}'


def test_body_over_the_cap_with_content_length_is_413(admin, svc):
    body = _too_big(svc)
    r = admin.post("/api/v1/teams", content=body, headers={"content-type": "application/json"})
    err = assert_error(r, 413, "body_too_large")
    assert err["details"] == {"max_bytes": svc.settings.max_body_bytes}
    assert admin.get("/api/v1/teams").json() == []


def test_body_over_the_cap_chunked_is_413(admin, svc):
    body = _too_big(svc)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 16 * 1024):
            yield body[i:i + 16 * 1024]

    r = admin.post("/api/v1/teams", content=chunks(),
                   headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.request.headers.get("transfer-encoding") == "chunked"
    err = assert_error(r, 413, "body_too_large")
    assert err["details"] == {"max_bytes": svc.settings.max_body_bytes}
    assert admin.get("/api/v1/teams").json() == []


def test_body_at_the_cap_is_accepted(admin, svc):
    prefix, suffix = b'{"name": "ok", "description": "', b'"}'
    pad = svc.settings.max_body_bytes - len(prefix) - len(suffix)
    body = prefix + b" " * pad + suffix
    assert len(body) == svc.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield body[:1000]
        yield body[1000:]

    r = admin.post("/api/v1/teams", content=chunks(),
                   headers={"content-type": "application/json"})
    # the body arrives whole; the description is then too long for the schema
    assert_error(r, 422, "too_long")


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/users/x/y/z", "/no-such-page"])
def test_unknown_route_is_404_in_the_same_shape(app_client, path):
    assert_error(app_client.get(path), 404, "not_found")


def test_wrong_method_is_405_in_the_same_shape(admin):
    assert_error(admin.put("/api/v1/teams", json={}), 405, "method_not_allowed")


def test_unauthenticated_is_401(app_client, world):
    assert_error(app_client.get("/api/v1/users"), 401, "unauthenticated")
    app_client.cookies.set("kefu_session", "kefu_sess_forged")
    assert_error(app_client.get("/api/v1/users"), 401, "unauthenticated")


def test_cookie_post_without_csrf_is_403(app_client, world):
    csrf = login(app_client, "wang@a.example.com")
    del app_client.headers["X-CSRF-Token"]
    r = app_client.post("/api/v1/teams", json={"name": "售前"})
    assert_error(r, 403, "csrf_failed")
    r = app_client.post("/api/v1/teams", json={"name": "售前"},
                        headers={"X-CSRF-Token": csrf + "x"})
    assert_error(r, 403, "csrf_failed")
    assert_error(app_client.patch("/api/v1/teams/whatever", json={"name": "y"}), 403,
                 "csrf_failed")
    assert_error(app_client.delete("/api/v1/teams/whatever"), 403, "csrf_failed")
    assert app_client.get("/api/v1/teams").json() == []  # nothing was created
    r = app_client.post("/api/v1/teams", json={"name": "售前"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert [t["name"] for t in app_client.get("/api/v1/teams").json()] == ["售前"]


def test_csrf_token_of_another_session_is_refused(app_client, world):
    other = login(app_client, "li@a.example.com")
    app_client.cookies.clear()
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/teams", json={"name": "x"}, headers={"X-CSRF-Token": other})
    assert_error(r, 403, "csrf_failed")


def test_body_limit_middleware_on_a_plain_endpoint():
    """Also when the endpoint reads the body itself (forms, webhooks): the error escapes the
    endpoint and the middleware answers 413."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from kefu.web.errors import BodyLimit

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = BodyLimit(Starlette(routes=[Route("/echo", echo, methods=["POST"])]), limit=100)
    client = TestClient(app)

    def chunks(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b"x" * 10

    assert client.post("/echo", content=chunks(10)).text == "100"
    r = client.post("/echo", content=chunks(11))
    assert_error(r, 413, "body_too_large")
    assert_error(client.post("/echo", content=b"x" * 101), 413, "body_too_large")
