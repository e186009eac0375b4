"""Normalisation: one canonical form for every way of typing a question."""

from __future__ import annotations

import pytest

from kefu.nlp.normalise import normalise, to_simplified


@pytest.mark.parametrize(("raw", "expected"), [
    ("ＡＢＣ１２３", "abc123"),                      # full-width letters and digits
    ("請問這個怎麼發貨", "请问这个怎么发货"),          # traditional → simplified
    ("「請問」", "请问"),                           # full-width brackets are punctuation
    ("花呗还款😀🎉！！", "花呗还款"),                 # emoji and punctuation stripped
    ("iPhone 15 Pro 多少錢？", "iphone 15 pro 多少钱"),  # mixed scripts, case folded
    ("  多个   空格\t\n", "多个 空格"),
    ("订单号：２０２４１１１１", "订单号 20241111"),   # digits kept as tokens
    ("😀😀😀", ""),
    ("。。。！？", ""),
    ("", ""),
])
def test_normalise_table(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_simplified_passes_other_scripts_through() -> None:
    assert to_simplified("hello 123") == "hello 123"


def test_max_chars_truncates_input() -> None:
    assert normalise("好" * 10_000, max_chars=50) == "好" * 50
