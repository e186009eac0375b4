"""Operational addresses: liveness, readiness, the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from kefu.app import create_app
from kefu.config import Settings
from kefu.services import build_services
from tests.test_isolation import all_routes


def test_healthz(app_client):
    r = app_client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def _client_for(settings: Settings):
    svc = build_services(settings)
    return svc, TestClient(create_app(settings, services=svc))


def test_readyz_when_the_database_answers(tmp_path: Path):
    settings = Settings(env="test", data_dir=tmp_path, embedded_worker=False,
                        secret_key="ops-test-secret-0123456789-abcdefghijkl")
    svc, client = _client_for(settings)
    try:
        with client:
            r = client.get("/readyz")
        assert (r.status_code, r.json()) == (200, {"status": "ok"})
    finally:
        svc.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path):
    missing = tmp_path / "no-such-dir" / "kefu.db"
    settings = Settings(env="test", data_dir=tmp_path, database_url=f"sqlite:///{missing}",
                        secret_key="ops-test-secret-0123456789-abcdefghijkl",
                        embedded_worker=False)
    svc, client = _client_for(settings)
    try:
        with client:
            r = client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["status"] == "unavailable"
            assert r.json()["error"] == "OperationalError"
            assert client.get("/healthz").status_code == 200  # alive, just not ready
    finally:
        svc.engine.dispose()


def test_openapi_lists_every_api_route(app_client):
    spec = app_client.get("/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items()
                  for method in ops}
    routes = {(r.path, m) for r in all_routes(app_client.app)
              if isinstance(r.route, APIRoute) and r.path.startswith("/api/v1/")
              and r.in_schema for m in r.methods}
    assert routes
    assert routes <= documented
    for expected in [("/api/v1/auth/login", "POST"), ("/api/v1/users/{user_id}", "PATCH"),
                     ("/api/v1/conversations/{conversation_id}/messages", "POST"),
                     ("/api/v1/contacts", "GET"), ("/api/v1/tokens/{token_id}", "DELETE")]:
        assert expected in documented
    assert spec["info"]["title"] == "kefu API"


def test_readyz_does_not_wait_for_a_writer(app_client, svc):
    """The test's own transaction holds SQLite's write lock; the probe only reads."""
    import time

    t0 = time.monotonic()
    r = app_client.get("/readyz")
    assert r.status_code == 200
    assert time.monotonic() - t0 < 2
