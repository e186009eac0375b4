"""Pure parts of the bot policy: asking for a human, contact details in a left message."""

from __future__ import annotations

import pytest

from kefu.bot.policy import asks_for_human, contact_details
from kefu.bot.schemas import BotConfig

CFG = BotConfig()


@pytest.mark.parametrize("text", ["转人工", "轉人工", "人工", "客服", "我要人工客服！",
                                  "找客服", "ＨＵＭＡＮ please", "real person?", " 人工 "])
def test_asks_for_human(text: str):
    assert asks_for_human(text, CFG)


@pytest.mark.parametrize("text", ["人工智能是什么", "客服电话多少", "怎么退货", "", "😀",
                                  "agent fees?"])
def test_not_asking_for_human(text: str):
    assert not asks_for_human(text, CFG)


def test_custom_keywords():
    cfg = BotConfig(handoff_keywords=["找小二"])
    assert asks_for_human("帮我找小二", cfg) and not asks_for_human("转人工客服啊", cfg)
    assert asks_for_human("人工", cfg)  # a message that is only "人工" always counts


@pytest.mark.parametrize(("text", "found"), [
    ("电话13800138000", {"phone": "13800138000"}),
    ("手机 +86 13912345678", {"phone": "13912345678"}),
    ("订单号 2026111113800138000", {}),  # digits inside a longer number are not a phone
    ("邮箱zhao.li@example.com.cn谢谢", {"email": "zhao.li@example.com.cn"}),
    ("no contact", {}),
])
def test_contact_details(text: str, found: dict[str, str]):
    assert contact_details(text) == found


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="clarify_threshold"):
        BotConfig(answer_threshold=0.3, clarify_threshold=0.5)


def test_the_widget_button_works_with_custom_keywords():
    cfg = BotConfig(handoff_keywords=["找小二"])
    assert asks_for_human("转人工", cfg)  # what the widget's button sends


@pytest.mark.parametrize("text", ["that is inhumane", "human resources contact?"])
def test_english_keywords_match_whole_words(text: str):
    cfg = BotConfig(handoff_keywords=["human"])
    assert asks_for_human(text, cfg) is (text.startswith("human"))


@pytest.mark.parametrize("field", ["fallback_text", "handoff_text", "clarify_text"])
def test_the_bot_always_has_something_to_say(field: str):
    with pytest.raises(ValueError, match="something to say"):
        BotConfig(**{field: "  "})


@pytest.mark.parametrize("text", ["请留言 {手机号}", "留言 {", "{0}"])
def test_leave_message_placeholders_are_checked(text: str):
    with pytest.raises(ValueError, match="placeholders"):
        BotConfig(leave_message_text=text)
    assert BotConfig(leave_message_text="我们 {next_open} 后回复（{hours}），{{括号}}")
