"""Personal data: mobile numbers, ID cards (checksum), bank cards (Luhn), emails; masking."""

from __future__ import annotations

import pytest

from kefu.qa.pii import find_pii, id_checksum_ok, luhn_ok, mask_pii, mask_value

VALID_ID = "11010519491231002X"
VALID_ID_2 = "440308199901010012"
VALID_CARD_16 = "4111111111111111"
VALID_CARD_19 = "6212260200000000006"


@pytest.mark.parametrize(("number", "ok"), [
    (VALID_ID, True), (VALID_ID.lower(), True), (VALID_ID_2, True),
    ("110105194912310021", False), ("440308199901010014", False), ("1101051949123100", False),
])
def test_id_checksum(number: str, ok: bool):
    assert id_checksum_ok(number) is ok


@pytest.mark.parametrize(("digits", "ok"), [
    (VALID_CARD_16, True), (VALID_CARD_19, True), ("4111 1111 1111 1111", True),
    ("4111111111111112", False), ("6212260200000000007", False), ("", False),
])
def test_luhn(digits: str, ok: bool):
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("我的电话是13812345678谢谢", "mobile", "13812345678"),
    ("电话 138 1234 5678", "mobile", "138 1234 5678"),
    ("电话 138-1234-5678", "mobile", "138-1234-5678"),
    ("+8613812345678", "mobile", "+8613812345678"),
    (f"身份证号{VALID_ID}。", "id_card", VALID_ID),
    (f"身份证 {VALID_ID_2}", "id_card", VALID_ID_2),
    (f"卡号{VALID_CARD_16}", "bank_card", VALID_CARD_16),
    (f"卡号 {VALID_CARD_19}", "bank_card", VALID_CARD_19),
    ("卡号 4111 1111 1111 1111 收到", "bank_card", "4111 1111 1111 1111"),
    ("发到 zhang.san+kf@example.com.cn 吧", "email", "zhang.san+kf@example.com.cn"),
])
def test_found(text: str, kind: str, value: str):
    found = find_pii(text)
    assert [(m.kind, m.value) for m in found] == [(kind, value)]
    m = found[0]
    assert text[m.start:m.end] == value


@pytest.mark.parametrize("text", [
    "订单号 2023113812345678901",        # a phone number inside a longer digit run
    "单号138123456789",                  # 12 digits: not a phone
    "运单 913812345678",                 # a digit before it
    "身份证 110105194912310021",          # wrong check digit (and fails Luhn)
    "卡号 4111111111111112",              # fails Luhn
    "价格 12.50 元，数量 3",
    "邮箱是 user@localhost",
    "",
])
def test_not_found(text: str):
    assert find_pii(text) == [], find_pii(text)


def test_a_valid_id_is_never_a_bank_card_and_kinds_filter():
    assert [m.kind for m in find_pii(VALID_ID_2)] == ["id_card"]
    assert find_pii(VALID_ID_2, ["bank_card"]) == []
    text = "电话13812345678 邮箱a@b.cn"
    assert [m.kind for m in find_pii(text, ["email"])] == ["email"]


@pytest.mark.parametrize(("kind", "value", "masked"), [
    ("mobile", "13812345678", "138****5678"),
    ("mobile", "138 1234 5678", "138 **** 5678"),
    ("id_card", VALID_ID, "110***********002X"),
    ("bank_card", VALID_CARD_16, "4111********1111"),
    ("email", "zhang@example.com", "z****@example.com"),
])
def test_mask_value(kind: str, value: str, masked: str):
    out = mask_value(kind, value)  # type: ignore[arg-type]
    assert out == masked
    assert len(out) == len(value)


def test_mask_pii_keeps_length_and_finds_full_width_digits():
    text = "手机１３８１２３４５６７８，卡号4111111111111111，好的"
    masked = mask_pii(text)
    assert len(masked) == len(text)
    assert masked == "手机１３８****５６７８，卡号4111********1111，好的"
    assert mask_pii("没有敏感信息") == "没有敏感信息"
