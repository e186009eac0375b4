"""The anger signal: cues, negation, intensity, punctuation, traditional and full-width."""

from __future__ import annotations

import pytest

from kefu.nlp.sentiment import DISSATISFIED, anger, dissatisfaction, is_angry


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


@pytest.mark.parametrize("text", [
    "送餐太慢了，等了一个多小时，饭都凉了", "菜不新鲜，有异味", "味道一般，不推荐",
    "房间很脏，隔音差", "包装破损，里面的东西坏了", "味道还行，但是送得太慢了，菜都凉了",
    "質量差，非常失望", "不好吃", "The delivery was terrible and slow",
])
def test_dissatisfied(text: str):
    assert dissatisfaction(text) >= DISSATISFIED, text


@pytest.mark.parametrize("text", [
    "很快，好吃，味道足，量大", "服务热情，房间干净，下次还会再来", "不贵，也不慢，挺好的",
    "请问什么时候发货", "", "東西很新鮮，推薦", "Great, thanks!",
])
def test_not_dissatisfied(text: str):
    assert dissatisfaction(text) < DISSATISFIED, text


def test_negation_turns_praise_into_a_complaint_and_drops_a_negated_complaint():
    assert dissatisfaction("好吃") < 0 < dissatisfaction("不好吃")
    assert dissatisfaction("不贵") <= 0 < dissatisfaction("贵")


def test_what_follows_but_weighs_more():
    assert dissatisfaction("太贵了，但是好吃") < dissatisfaction("好吃，但是太贵了")


def test_folded_copy_gives_the_same_score():
    from kefu.qa.engine import fold

    for text in ("質量差，非常失望！！", "ＷＴＦ太慢了", "不好吃", "服务热情"):
        assert dissatisfaction(text) == dissatisfaction(text, folded=fold(text))
