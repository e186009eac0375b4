"""The widget script and the demo shop page that embeds it (no browser: see tests/e2e)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kefu.core.security import identity_hmac
from kefu.core.uow import UowFactory
from kefu.demo import load_demo
from kefu.inbox.models import Inbox


def _embed(html: str) -> dict[str, str]:
    tag = re.search(r'<script src="/widget\.js"([^>]*)>', html)
    assert tag, "the page has no widget embed"
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', tag.group(1)))


def test_widget_script_is_served_to_any_site(app_client: TestClient) -> None:
    r = app_client.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["access-control-allow-origin"] == "*"
    body = r.text
    for selector in ("kefu-launcher", "kefu-panel", "kefu-input", "kefu-send", "kefu-typing",
                     "kefu-prechat", "kefu-prechat-submit", "kefu-prechat-skip"):
        assert f"'{selector}'" in body, selector
    assert "attachShadow({ mode: 'open' })" in body
    assert "http://" not in body.replace("http://www.w3.org", "")  # no third-party code


def test_demo_shop_without_demo_data_is_a_clear_404(app_client: TestClient) -> None:
    r = app_client.get("/demo/shop")
    assert r.status_code == 404
    assert "kefu demo load" in r.text
    assert "/widget.js" not in r.text


def test_demo_shop_embeds_the_demo_inbox(app_client: TestClient, uows: UowFactory) -> None:
    info = load_demo(uows)
    r = app_client.get("/demo/shop")
    assert r.status_code == 200
    assert "鲜果优选" in r.text
    assert _embed(r.text) == {"data-inbox": info.inbox_id, "data-lang": "zh-CN"}
    csp = r.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in r.text
    assert "'unsafe-inline'" not in csp  # the widget must cope with a strict host page

    en = app_client.get("/demo/shop", params={"lang": "en"})
    assert en.status_code == 200
    assert "Fresh Pick" in en.text
    assert _embed(en.text)["data-lang"] == "en"


def test_demo_shop_signed_in_user_gets_a_valid_identity_hash(
        app_client: TestClient, uows: UowFactory) -> None:
    info = load_demo(uows)
    with uows() as uow:
        inbox = uow.session.get(Inbox, info.inbox_id)
        assert inbox is not None
        secret = inbox.secret
    r = app_client.get("/demo/shop", params={"user": "u1001"})
    assert r.status_code == 200
    embed = _embed(r.text)
    assert embed["data-user-id"] == "u1001"
    assert embed["data-user-hash"] == identity_hmac(secret, "u1001")
    # …which the web chat accepts as the host site's verified user.
    s = app_client.post(f"/api/v1/webchat/{info.inbox_id}/sessions",
                        json={"user_id": "u1001", "user_hash": embed["data-user-hash"],
                              "name": embed["data-name"]})
    assert s.status_code == 200, s.text
    assert s.json()["contact"]["name"] == "会员 u1001"

    assert app_client.get("/demo/shop", params={"user": "<script>"}).status_code == 422
