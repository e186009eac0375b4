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
