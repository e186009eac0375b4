"""The workspace page (/app): CSRF meta, DOM contract, boot data, locale choice, assets;
and the i18n catalogs behind every page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.accounts import actions as account_actions
from kefu.accounts.schemas import UserUpdate
from kefu.core.uow import UowFactory
from kefu.web import i18n
from tests.conftest import World
from tests.web.test_ui_login import ui_login

WEB = Path(i18n.__file__).parent
DOM_CONTRACT = [
    'data-view="unassigned"', 'data-view="mine"', 'data-view="all"',
    'id="composer"', 'id="send"', 'id="mode-note"', 'id="mode-reply"', 'id="assign-select"',
    'id="resolve-btn"', 'id="reopen-btn"', 'id="conv-status"', 'id="typing-indicator"',
    'id="conv-list"', 'id="priority-select"', 'id="pending-btn"',
]
BOOT = re.compile(r'<script type="application/json" id="boot">(.*?)</script>', re.S)


def boot_of(html: str) -> dict[str, object]:
    match = BOOT.search(html)
    assert match, "no boot JSON in the page"
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_workspace_has_csrf_meta_and_the_dom_contract(app_client: TestClient,
                                                      world: World) -> None:
    csrf = ui_login(app_client, "li@a.example.com")
    assert csrf == app_client.get("/api/v1/me").json()["csrf_token"]
    r = app_client.get("/app")
    assert r.status_code == 200
    for needle in DOM_CONTRACT:
        assert needle in r.text, needle
    assert re.search(r'<textarea id="composer"', r.text)
    assert re.search(r'<button type="submit"[^>]*id="send"', r.text)
    assert re.search(r'<select id="assign-select">\s*<option value="">未分配</option>', r.text)
    assert '<span id="conv-status" class="badge" data-status="">' in r.text
    assert "客户正在输入…" in r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "ws://127.0.0.1" in csp


def test_workspace_boot_data(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "sun@a.example.com")
    boot = boot_of(app_client.get("/app").text)
    assert boot["me"] == {"id": world.inspector_sun.user_id, "name": "孙质检",
                          "role": "inspector"}
    perms = boot["perms"]
    assert isinstance(perms, dict)
    assert perms["conversation.reply"] is False and perms["conversation.manage"] is False
    strings = boot["strings"]
    assert isinstance(strings, dict)
    assert strings["ws.note_label"] == "内部备注"
    assert strings["status.resolved"] == "已解决"
    assert not any(k.startswith("admin.") for k in strings)  # only what the script needs
    assert boot["workspace"] == "鲜果优选"


def test_workspace_boot_json_cannot_break_out_of_its_script(app_client: TestClient,
                                                            world: World,
                                                            uows: UowFactory) -> None:
    with uows() as uow:
        account_actions.do_update_user(uow, world.admin_wang, world.agent_li.user_id,
                                       UserUpdate(name="</script><script>alert(1)</script>"))
    ui_login(app_client, "li@a.example.com")
    html = app_client.get("/app").text
    assert "<script>alert(1)" not in html
    assert boot_of(html)["me"]["name"] == "</script><script>alert(1)</script>"  # type: ignore[index]


def test_agent_sees_no_admin_link_but_admin_does(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "li@a.example.com")
    assert 'href="/app/admin/users"' not in app_client.get("/app").text
    app_client.cookies.clear()
    ui_login(app_client, "zhao@a.example.com")
    assert 'href="/app/admin/users"' in app_client.get("/app").text


def test_assets_are_served_and_versioned(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "li@a.example.com")
    html = app_client.get("/app").text
    for name in ("app.js", "app.css"):
        match = re.search(rf'/static/{re.escape(name)}\?v=([0-9a-f]{{12}})', html)
        assert match, name
        r = app_client.get(match.group(0))
        assert r.status_code == 200
        assert len(r.content) > 1000


def test_assets_reference_no_other_host(app_client: TestClient) -> None:
    for name in ("app.js", "app.css", "docs.js"):
        text = (WEB / "static" / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), name
        assert "@import" not in text and "url(" not in text, name


def test_font_stack_includes_chinese_fonts() -> None:
    css = (WEB / "static" / "app.css").read_text(encoding="utf-8")
    for font in ('"PingFang SC"', '"Microsoft YaHei"', '"WenQuanYi Micro Hei"'):
        assert font in css


# -- locale choice ----------------------------------------------------------------------------

def test_user_locale_is_used_unless_the_browser_chose(app_client: TestClient, world: World,
                                                      uows: UowFactory) -> None:
    with uows() as uow:
        account_actions.do_update_user(uow, world.agent_li, world.agent_li.user_id,
                                       UserUpdate(locale="en"))
    ui_login(app_client, "li@a.example.com")
    r = app_client.get("/app", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in r.text
    assert "Internal note" in r.text and "Customer is typing…" in r.text
    assert boot_of(r.text)["strings"]["ws.note_label"] == "Internal note"  # type: ignore[index]
    r = app_client.get("/app?lang=zh-CN")
    assert '<html lang="zh-CN">' in r.text
    assert r.cookies.get("kefu_lang") == "zh-CN"
    assert '<html lang="zh-CN">' in app_client.get("/app").text  # the cookie wins now


def test_language_switch_links_keep_the_page(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "wang@a.example.com")
    html = app_client.get("/app/admin/users?offset=0").text
    assert 'href="/app/admin/users?offset=0&amp;lang=en"' in html
    assert 'href="/app/admin/users?offset=0&amp;lang=zh-CN"' in html


@pytest.mark.parametrize(("query", "cookie", "user", "accept", "expected"), [
    ("en", "zh-CN", "zh-CN", "zh-CN", "en"),
    (None, "en", "zh-CN", "zh-CN", "en"),
    (None, None, "en", "zh-CN", "en"),
    (None, None, None, "en-GB,en;q=0.8", "en"),
    (None, None, None, "de, en;q=0.5, zh;q=0.9", "zh-CN"),
    (None, None, None, "de, fr", "zh-CN"),
    ("xx", "garbage", None, None, "zh-CN"),
    ("zh", None, "en", None, "zh-CN"),
    (None, None, None, "zh-Hant-TW", "zh-CN"),
])
def test_negotiate_order(query: str | None, cookie: str | None, user: str | None,
                         accept: str | None, expected: str) -> None:
    assert i18n.negotiate(query=query, cookie=cookie, user_locale=user,
                          accept_language=accept) == expected


def test_localize_message_splits_bilingual_domain_messages() -> None:
    msg = "邮箱或密码错误 / Wrong email or password"
    assert i18n.localize_message(msg, "zh-CN") == "邮箱或密码错误"
    assert i18n.localize_message(msg, "en") == "Wrong email or password"
    assert i18n.localize_message("only one language", "en") == "only one language"
    assert i18n.localize_message("a / b / c", "en") == "a / b / c"


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    assert set(zh) == set(en)
    for key in zh:
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert zh[key].strip() and en[key].strip(), key


def test_every_key_used_in_templates_and_scripts_exists() -> None:
    zh = i18n.catalog("zh-CN")
    used: set[str] = set()
    for path in (WEB / "templates").rglob("*.html"):
        used |= set(re.findall(r"\bt\('([\w.-]+)'", path.read_text(encoding="utf-8")))
    for path in (WEB / "ui").glob("*.py"):
        used |= set(re.findall(r'\bt\("([\w.-]+)"', path.read_text(encoding="utf-8")))
    assert used, "no keys found: the pattern is wrong"
    missing = sorted(k for k in used if k not in zh and not k.endswith("."))
    assert not missing, missing
    # the scripts only see the prefixes the page hands them
    for script, prefixes in (("app.js", ("ws.", "status.", "priority.", "role.", "common.",
                                         "err.")),
                             ("docs.js", ("docs.", "common."))):
        keys = set(re.findall(r"\bt\('([\w.-]+)'", (WEB / "static" / script).read_text("utf-8")))
        assert keys, script
        for key in keys:
            if key.endswith("."):
                continue
            assert key in zh, (script, key)
            assert key.startswith(prefixes), (script, key)
    for status in ("bot", "queued", "open", "pending", "resolved"):
        assert f"status.{status}" in zh
    for role in ("admin", "supervisor", "agent", "inspector"):
        assert f"role.{role}" in zh
    for state in ("connecting", "online", "reconnecting", "offline"):
        assert f"ws.conn.{state}" in zh
