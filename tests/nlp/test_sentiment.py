"""The anger signal: cues, negation, intensity, punctuation, traditional and full-width."""

from __future__ import annotations

import pytest

from kefu.nlp.sentiment import anger, is_angry


@pytest.mark.parametrize("text", [
    "我要投诉你们！", "你们就是骗子", "什么破服务，气死我了", "再不退钱我就打12315",
    "我要投訴你們", "ＷＴＦ this is a scam", "说了多少遍了，到底什么时候发货？？？",
    "你们态度太差了", "别骗人了",
])
def test_angry(text: str):
    assert is_angry(text), (text, anger(text))


@pytest.mark.parametrize("text", [
    "你好，请问什么时候发货", "我不想投诉，只想问问物流", "谢谢，没生气", "怎么退货",
    "", "😀😀", "how do I change my card",
])
def test_calm(text: str):
    assert not is_angry(text), (text, anger(text))


def test_intensifier_raises_the_score():
    assert anger("太失望了") > anger("失望")


def test_long_text_is_bounded():
    assert is_angry("投诉" + "啊" * 100_000)


@pytest.mark.parametrize("text", ["我的手机号13812315678", "订单号 2023123150001",
                                  "我不是要投诉，只是问问", "我并不生气"])
def test_numbers_and_negated_phrases_are_not_anger(text: str):
    assert not is_angry(text), (text, anger(text))


def test_the_complaint_hotline_alone_still_counts():
    assert is_angry("再不处理我就打12315")
