"""The answering bot in the real widget: 猜你想问 under the greeting, an answer with related
questions and 有用/没用, "您是想问…" options that answer on click, a malicious answer shown as
text, and "没用" handing the conversation to a person."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kefu.bot.actions import do_update_config, load_config
from kefu.bot.schemas import BusinessHours
from kefu.kb import actions as kb_actions
from kefu.kb.schemas import EntryCreate
from tests.e2e.conftest import LiveServer
from tests.e2e.test_chat_flow import open_widget, shot

pytestmark = pytest.mark.e2e


def admin(live: LiveServer) -> Any:
    from kefu.accounts.models import User
    from kefu.accounts.queries import actor_for

    with live.services.uows(readonly=True) as uow:
        from sqlalchemy import select

        user = uow.session.scalar(select(User).where(User.email == "admin@shop.demo"))
        assert user is not None
        return actor_for(user)


def humans_always_available(live: LiveServer) -> None:
    with live.services.uows() as uow:
        config = load_config(uow.session, live.inbox_id)
        do_update_config(uow, admin(live), live.inbox_id, config.model_copy(
            update={"hours": BusinessHours(enabled=False)}))


def start_chat(page: Page, base: str) -> None:
    page.goto(f"{base}/demo/shop")
    open_widget(page)
    prechat = page.locator("#kefu-prechat")
    expect(prechat).to_be_visible()
    prechat.locator("input[name=name]").fill("钱先生")
    prechat.locator("input[name=phone]").fill("13600002222")
    page.click("#kefu-prechat-submit")
    expect(prechat).to_have_count(0)


def bot_says(page: Page, text: str) -> Any:
    return page.locator(".kefu-msg-bot", has=page.locator(".kefu-msg-body", has_text=text))


def test_bot_answers_in_the_widget(live_server: LiveServer, new_context: Any) -> None:
    humans_always_available(live_server)
    page = new_context().new_page()
    start_chat(page, live_server.url)

    # 猜你想问 under the greeting; a click asks it and the bot answers with its extras
    chips = page.locator(".kefu-greeting .kefu-chip")
    expect(chips.first).to_be_visible()
    assert chips.count() >= 3
    page.locator(".kefu-greeting .kefu-chip", has_text="什么时候发货").click()
    answer = bot_says(page, "24 小时内发货")
    expect(answer).to_be_visible()
    expect(answer.locator(".kefu-msg-sender")).to_have_text("小鲜")
    expect(answer.locator(".kefu-chip", has_text="怎么查物流")).to_be_visible()
    shot(page, "bot-1-answer")

    # 有用 is recorded once; the bar says thanks
    answer.locator(".kefu-feedback button").first.click()
    expect(answer.locator(".kefu-feedback-state")).to_contain_text("感谢您的反馈")
    expect(answer.locator(".kefu-feedback button").first).to_have_attribute(
        "aria-pressed", "true")

    # a related question is one click away
    answer.locator(".kefu-chip", has_text="怎么查物流").click()
    expect(bot_says(page, "实时轨迹")).to_be_visible()

    # 没用 hands the conversation to a person
    tracking = bot_says(page, "实时轨迹")
    tracking.locator(".kefu-feedback button").nth(1).click()
    expect(bot_says(page, "正在为您转接人工客服")).to_be_visible()
    conv_id = tracking.get_attribute("data-conversation-id")
    conv = live_server.api().get(f"/api/v1/conversations/{conv_id}").json()
    assert conv["status"] == "queued"
    shot(page, "bot-2-handoff")


def test_clarify_options_and_escaped_answers(live_server: LiveServer,
                                             new_context: Any) -> None:
    with live_server.services.uows() as uow:
        kb_actions.do_create_entry(uow, admin(live_server), EntryCreate(
            question="榴莲怎么挑", phrasings=["榴莲如何挑选"], status="published",
            answer='<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
                   "看开口和香味"))
        config = load_config(uow.session, live_server.inbox_id)
        do_update_config(uow, admin(live_server), live_server.inbox_id, config.model_copy(
            update={"answer_threshold": 0.99, "clarify_threshold": 0.05, "max_misses": 5}))
    try:
        page = new_context().new_page()
        start_chat(page, live_server.url)
        page.fill("#kefu-input", "榴莲")
        page.click("#kefu-send")
        options = bot_says(page, "您是想问").locator(".kefu-chip")
        expect(options.first).to_have_text("榴莲怎么挑")
        options.first.click()
        answer = bot_says(page, "看开口和香味")
        expect(answer).to_be_visible()
        expect(answer.locator(".kefu-msg-body")).to_contain_text("<script>")
        assert page.evaluate("window.__pwned") is None
        assert answer.locator("img").count() == 0
    finally:
        with live_server.services.uows() as uow:
            config = load_config(uow.session, live_server.inbox_id)
            do_update_config(uow, admin(live_server), live_server.inbox_id, config.model_copy(
                update={"answer_threshold": 0.36, "clarify_threshold": 0.28, "max_misses": 2}))
