"""/docs: our own API reference page, with no request to any other host."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

#: absolute (``https://host``) or protocol-relative (``//host``) addresses, not base64 data
URL = re.compile(r"""(?<![A-Za-z0-9+/])(?:https?:)?//[^\s"'<>)]+""")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "testserver"}


def external_urls(text: str) -> list[str]:
    found = []
    for url in URL.findall(text):
        host = urlsplit(url if "://" in url else "http:" + url).hostname or ""
        if host not in LOCAL_HOSTS:
            found.append(url)
    return found


def test_docs_page_is_ours_and_offline(app_client: TestClient) -> None:
    r = app_client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "swagger-ui" not in html.lower()
    assert external_urls(html) == []
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert any(s.startswith("/static/docs.js") for s in scripts)
    assert scripts and styles
    for asset in scripts + styles:
        assert asset.startswith("/static/"), asset
        body = app_client.get(asset)
        assert body.status_code == 200, asset
        assert external_urls(body.text) == [], asset
    assert "/openapi.json" in html


def test_docs_page_in_english(app_client: TestClient) -> None:
    r = app_client.get("/docs?lang=en")
    assert "API reference" in r.text


def test_openapi_json_untouched_and_docs_not_in_it(app_client: TestClient) -> None:
    r = app_client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert "/api/v1/conversations" in spec["paths"]
    assert "/docs" not in spec["paths"]
    assert not any(p.startswith("/app") for p in spec["paths"])



def test_fastapi_swagger_page_is_off(app_client: TestClient) -> None:
    """FastAPI's own CDN-backed Swagger page must not shadow ours."""
    assert 'id="docs-content"' in app_client.get("/docs").text
    assert app_client.get("/docs/oauth2-redirect").status_code == 404
