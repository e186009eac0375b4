"""Conversation-level rules of the engine: required scripts and their order, combinations,
conversation facts, escalating anger, call silence and interruption, and the unanswered
customer — table-driven, on hand-made conversations."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from kefu.qa import ConversationFacts, Message, check_message, compile_rules, fold, inspect
from kefu.qa.engine import MAX_CONVERSATION_MESSAGES, default_rules
from kefu.qa.rules import (
    AnyRule,
    CombinationRule,
    FactRule,
    KeywordRule,
    RegexRule,
    Role,
    ScriptRule,
    SentimentRule,
    TimingRule,
)
from kefu.qa.spec import SpecError, rule_from_dict, rule_to_dict, ruleset_from_obj

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 11, 10, 0, tzinfo=TZ)


def conv(*items: tuple[Role, str, float]) -> list[Message]:
    return [Message(role, text, T0 + timedelta(seconds=s)) for role, text, s in items]


def call(*turns: tuple[Role, str, float, float]) -> list[Message]:
    return [Message(role, text, T0 + timedelta(seconds=a), T0 + timedelta(seconds=b))
            for role, text, a, b in turns]


def where(rules: list[AnyRule], messages: list[Message], rule_id: str, **kw: object
          ) -> list[tuple[int | None, tuple[int, int] | None]]:
    hits = inspect(compile_rules(rules), messages, **kw)  # type: ignore[arg-type]
    return [(h.message_index, h.span) for h in hits if h.rule_id == rule_id]


# ---------------------------------------------------------------------------- scripts

GREETING = ScriptRule(id="greet", name="开场白", check="opening", terms=("您好", "你好"))
CLOSING = ScriptRule(id="close", name="结束语", check="closing",
                     terms=("还有其他", "祝您生活愉快"), window=2)
IDENTITY = ScriptRule(id="ident", name="先核身", check="order",
                      terms=("手机号后四位", "核实身份"), then=("订单",))


@pytest.mark.parametrize(("rule", "messages", "expected"), [
    (GREETING, conv(("customer", "在吗", 0), ("agent", "您好，请问有什么可以帮您", 5)), []),
    (GREETING, conv(("customer", "在吗", 0), ("agent", "說吧", 5), ("agent", "您好", 9)),
     [(1, None)]),
    (GREETING, conv(("customer", "在吗", 0), ("agent", "你好！", 5)), []),  # any term
    (GREETING, conv(("customer", "在吗", 0)), []),  # no agent message: nothing to judge
    (CLOSING, conv(("customer", "好的", 0), ("agent", "还有其他问题吗", 5),
                   ("agent", "再见", 9)), []),  # within the last 2
    (CLOSING, conv(("agent", "还有其他问题吗", 0), ("agent", "嗯", 5), ("agent", "再见", 9)),
     [(2, None)]),
    (IDENTITY, conv(("customer", "我的订单呢", 0), ("agent", "请提供手机号后四位", 5),
                    ("agent", "您的订单已发货", 9)), []),  # the customer's 订单 is out of scope
    (IDENTITY, conv(("agent", "您的订单已发货", 5), ("agent", "请提供手机号后四位", 9)),
     [(0, (2, 4))]),
    (IDENTITY, conv(("agent", "先核实身份，再查订单", 5)), []),  # same message, before
    (IDENTITY, conv(("agent", "订单查到了，先核实身份", 5)), [(0, (0, 2))]),
    (IDENTITY, conv(("agent", "好的", 5)), []),  # no order talk at all
])
def test_script_rules(rule: ScriptRule, messages: list[Message], expected: list[object]):
    assert where([rule], messages, rule.id) == expected


def test_script_rules_fold_traditional_and_width():
    assert where([GREETING], conv(("agent", "妳好，請問", 1)), "greet") == [(0, None)]
    assert where([GREETING], conv(("agent", "你好，請問", 1)), "greet") == []
    assert where([IDENTITY], conv(("agent", "請提供手機號後四位", 1), ("agent", "訂單", 2)),
                 "ident") == []


# ------------------------------------------------------------------------- combinations

ANGRY = SentimentRule(id="angry", name="客户愤怒", deduction=0)
SORRY = KeywordRule(id="sorry", name="致歉", terms=("抱歉", "对不起", "不好意思"),
                    deduction=0)
PROMISE = KeywordRule(id="promise", name="承诺", terms=("保证",), deduction=0)
REFUND = KeywordRule(id="refund", name="退款", terms=("退款",), deduction=0)
NO_SORRY = CombinationRule(id="no_sorry", name="客户愤怒后未致歉", after="angry",
                           none_of=("sorry",), within=2)
BOTH = CombinationRule(id="both", name="承诺退款", all_of=("promise", "refund"))
EITHER = CombinationRule(id="either", name="承诺或退款", any_of=("promise", "refund"),
                         none_of=("sorry",))


@pytest.mark.parametrize(("messages", "rule_id", "expected"), [
    (conv(("customer", "你们就是骗子，我要投诉", 0), ("agent", "您稍等", 5),
          ("agent", "我查一下", 9)), "no_sorry", [(0, None)]),
    (conv(("customer", "你们就是骗子，我要投诉", 0), ("agent", "非常抱歉", 5)), "no_sorry", []),
    # an apology three messages later is too late
    (conv(("customer", "骗子！我要投诉", 0), ("agent", "稍等", 1), ("agent", "嗯", 2),
          ("agent", "抱歉", 3)), "no_sorry", [(0, None)]),
    (conv(("customer", "在吗", 0), ("agent", "您好", 5)), "no_sorry", []),
    (conv(("agent", "保证给您退款", 0)), "both", [(None, None)]),
    (conv(("agent", "保证", 0), ("agent", "好的", 2)), "both", []),
    (conv(("agent", "退款已提交", 0)), "either", [(None, None)]),
    (conv(("agent", "退款已提交，不好意思", 0)), "either", []),
])
def test_combination_rules(messages: list[Message], rule_id: str, expected: list[object]):
    rules: list[AnyRule] = [ANGRY, SORRY, PROMISE, REFUND, NO_SORRY, BOTH, EITHER]
    assert where(rules, messages, rule_id) == expected


def test_combinations_of_combinations_in_any_order():
    outer = CombinationRule(id="outer", name="o", all_of=("both",), none_of=("sorry",))
    rules: list[AnyRule] = [outer, PROMISE, REFUND, SORRY, BOTH]
    assert where(rules, conv(("agent", "保证退款", 0)), "outer") == [(None, None)]


@pytest.mark.parametrize(("rules", "reason"), [
    ([CombinationRule(id="c", name="c", all_of=("nope",))], "unknown rule 'nope'"),
    ([CombinationRule(id="a", name="a", all_of=("b",)),
      CombinationRule(id="b", name="b", all_of=("a",))], "cycle"),
    ([KeywordRule(id="k", name="k", terms=("x",), enabled=False),
      CombinationRule(id="c", name="c", all_of=("k",))], "missing or disabled"),
])
def test_bad_combinations_are_refused_at_compile(rules: list[AnyRule], reason: str):
    with pytest.raises(ValueError, match=reason):
        compile_rules(rules)


def test_combination_needs_a_reference_and_not_itself():
    with pytest.raises(ValueError, match="at least one rule"):
        CombinationRule(id="c", name="c")
    with pytest.raises(ValueError, match="itself"):
        CombinationRule(id="c", name="c", all_of=("c",))


# ------------------------------------------------------------------------------ facts


@pytest.mark.parametrize(("rule", "facts", "expected"), [
    (FactRule(id="f", name="转接过多", fact="transfers", n=2), ConversationFacts(transfers=3),
     [(None, None)]),
    (FactRule(id="f", name="转接过多", fact="transfers", n=2), ConversationFacts(transfers=2),
     []),
    (FactRule(id="f", name="差评", fact="low_csat", n=2), ConversationFacts(csat=2),
     [(None, None)]),
    (FactRule(id="f", name="差评", fact="low_csat", n=2), ConversationFacts(csat=3), []),
    (FactRule(id="f", name="差评", fact="low_csat", n=2), ConversationFacts(), []),
    (FactRule(id="f", name="机器人失败转人工", fact="bot_failed_handoff"),
     ConversationFacts(bot_failed_handoff=True), [(None, None)]),
    (FactRule(id="f", name="24小时重复进线", fact="repeat_contact"),
     ConversationFacts(repeat_contact=True), [(None, None)]),
    (FactRule(id="f", name="24小时重复进线", fact="repeat_contact"), None, []),
])
def test_fact_rules(rule: FactRule, facts: ConversationFacts | None, expected: list[object]):
    assert where([rule], conv(("customer", "在吗", 0)), "f", facts=facts) == expected


def test_repeated_question_counts_folded_text_and_ignores_short_words():
    rule = FactRule(id="rep", name="重复提问", fact="repeated_question", n=2)
    messages = conv(("customer", "我的快递到哪了？", 0), ("agent", "稍等", 5),
                    ("customer", "好的", 6), ("customer", "好的", 7),
                    ("customer", "我的快遞到哪了!!", 60), ("customer", "我的快递到哪了", 90))
    assert where([rule], messages, "rep") == [(4, None)]


def test_fact_rule_validation():
    with pytest.raises(ValueError, match="1 to 5"):
        FactRule(id="f", name="f", fact="low_csat", n=0)
    with pytest.raises(ValueError, match="at least 2"):
        FactRule(id="f", name="f", fact="repeated_question", n=1)


# -------------------------------------------------------------------------- escalation

ESCALATION = SentimentRule(id="esc", name="情绪升级", mode="escalation")


@pytest.mark.parametrize(("messages", "expected"), [
    (conv(("customer", "请问快递到哪了", 0), ("customer", "怎么还没到", 60),
          ("customer", "你们就是骗子！我要投诉！", 120), ("customer", "气死我了", 130)),
     [(2, None)]),
    # angry from the start: not an escalation
    (conv(("customer", "骗子！我要投诉", 0), ("customer", "气死了，投诉", 5)), []),
    (conv(("customer", "请问快递到哪了", 0), ("customer", "好的谢谢", 5)), []),
    # the agent's words are out of scope
    (conv(("customer", "请问", 0), ("agent", "投诉请找12315，骗子", 5)), []),
])
def test_escalating_anger(messages: list[Message], expected: list[object]):
    assert where([ESCALATION], messages, "esc") == expected


# ------------------------------------------------------------------ unanswered and calls

UNANSWERED = TimingRule(id="wait", name="客户等待无人应答", check="unanswered", seconds=60)
SILENCE = TimingRule(id="silence", name="静音超过5秒", check="silence", seconds=5)
INTERRUPT = TimingRule(id="interrupt", name="抢话", check="interruption", seconds=0.5)


@pytest.mark.parametrize(("messages", "now", "expected"), [
    (conv(("customer", "在吗", 0), ("agent", "在", 5), ("customer", "还有问题", 10)), 100,
     [(None, None)]),
    (conv(("customer", "在吗", 0), ("agent", "在", 5), ("customer", "还有问题", 10)), 50, []),
    (conv(("customer", "在吗", 0), ("agent", "在", 5)), 1000, []),
    (conv(("customer", "在吗", 0), ("customer", "人呢", 30), ("customer", "？？", 90)), None,
     [(None, None)]),  # without now: up to the last message
])
def test_unanswered_customer(messages: list[Message], now: float | None,
                             expected: list[object]):
    at = T0 + timedelta(seconds=now) if now is not None else None
    assert where([UNANSWERED], messages, "wait", now=at) == expected


def test_call_silence_and_interruption():
    turns = call(("agent", "您好，这里是客服", 0, 2), ("customer", "我要退货", 2.5, 4),
                 ("agent", "好的，请稍等", 11, 12),            # 7 s silence before the agent
                 ("customer", "等一下我还没说完", 11.8, 14),   # overlaps the agent by 0.2 s
                 ("agent", "您说", 13, 14.5))                   # interrupts the customer by 1 s
    rules: list[AnyRule] = [SILENCE, INTERRUPT]
    assert where(rules, turns, "silence") == [(2, None)]
    assert where(rules, turns, "interrupt") == [(4, None)]
    customer_silence = TimingRule(id="cs", name="c", check="silence", seconds=5,
                                  scope=frozenset({"customer"}))
    assert where([customer_silence], turns, "cs") == []


# ------------------------------------------------------------------- spec and big input


@pytest.mark.parametrize("rule", [GREETING, CLOSING, IDENTITY, NO_SORRY, BOTH, ESCALATION,
                                  FactRule(id="f", name="f", fact="transfers", n=3),
                                  SILENCE, INTERRUPT, UNANSWERED])
def test_new_kinds_round_trip_through_the_file_format(rule: AnyRule):
    assert rule_from_dict(rule_to_dict(rule)) == rule


def test_rules_file_with_combinations_is_checked_as_a_whole():
    ok = [rule_to_dict(r) for r in (ANGRY, SORRY, NO_SORRY)]
    assert len(ruleset_from_obj(ok).rules) == 3
    with pytest.raises(SpecError, match="unknown rule 'sorry'"):
        ruleset_from_obj([rule_to_dict(r) for r in (ANGRY, NO_SORRY)])
    with pytest.raises(SpecError, match=r"rules\[0\].check"):
        ruleset_from_obj([{"kind": "script", "id": "s", "name": "s", "check": "middle",
                           "terms": ["您好"]}])
    with pytest.raises(SpecError, match="'then' terms"):
        ruleset_from_obj([{"kind": "script", "id": "s", "name": "s", "check": "order",
                           "terms": ["您好"]}])


def test_a_huge_conversation_is_refused_not_half_inspected():
    compiled = compile_rules(default_rules())
    big = [Message("customer", "骗子！我要投诉", T0)] * (MAX_CONVERSATION_MESSAGES + 1)
    with pytest.raises(ValueError, match="at most"):
        inspect(compiled, big)
    assert inspect(compiled, big[:MAX_CONVERSATION_MESSAGES])  # the limit itself is fine


# --------------------------------------------------------------- the regex prefilter

PATTERNS = [
    r"订单号[:：]?\d{10,}", r"https?://\S+", r"¥\d+(\.\d{1,2})?", r"(微信|vx|weixin)[:：]?\w+",
    r"qq[:：]?\d{5,11}", r"\d{4}-\d{2}-\d{2}", r"\d{11}", r"[0-9]{3}\s?元", r"加我?好友",
    r"(?:退|换)货", r"a?b", r"(?=\d)\d+号", r"[^a-z]{3}吗", r"(?i)VIP\d", r"(售后|客服)(电话)?",
    r"x{0,2}y", r"\bok\b", r"[：:]\s*\d", r"(ab|cd)+ef", r"(?:\d|一)个月",
    r"(?i:ABC)", r"(?i:K)好", r"(\s)\s", r"(.)\1", r"(好)?(?(1)好|坏)",
]
TEXTS = [
    "您好，订单号：1234567890123 已发货", "请访问 https://example.com/a?b=1 查看",
    "价格¥199.00，到手¥99", "加我微信：shop888 或 vx:abc", "qq:12345678", "2026-11-11 发货",
    "手机13812345678", "一共 300元", "加我好友", "可以退货吗", "b", "3号楼", "真的吗",
    "vip9 会员", "售后电话多少", "y", "ok 好的", "时间: 5点", "cdabef", "一个月内", "",
    "ＱＱ：１２３４５６", "訂單號：9876543210", "no digits or literals here", "abc k好", "好好",
    "  x", "坏",
]


def test_the_regex_prefilter_never_changes_the_result():
    rules = [RegexRule(id=f"r{i}", name=f"r{i}", pattern=p) for i, p in enumerate(PATTERNS)]
    compiled = compile_rules(rules)
    for text in TEXTS:
        folded = fold(text)
        expected = sorted((r.id, m.span()) for r in rules
                          for m in re.finditer(r.pattern, folded) if m.end() > m.start())
        got = sorted((h.rule_id, h.span) for h in check_message(compiled, "agent", text))
        assert got == expected, text


# ------------------------------------------------------- first reply after the bot


FIRST = TimingRule(id="first", name="首响", check="first_reply", seconds=15)


@pytest.mark.parametrize(("messages", "now", "expected"), [
    # the bot talked for a minute, handed off; the agent came 10 s after the bot's last words
    (conv(("customer", "怎么退货", 0), ("bot", "您可以在订单页申请", 1),
          ("customer", "转人工", 50), ("bot", "正在为您转接人工", 51), ("agent", "您好", 61)),
     None, []),
    (conv(("customer", "怎么退货", 0), ("bot", "正在为您转接人工", 1), ("agent", "您好", 30)),
     None, [(2, None)]),
    # the bot answered and the customer went away happy: nobody is judged
    (conv(("customer", "几点发货", 0), ("bot", "下午四点前下单当天发", 1),
          ("customer", "谢谢", 20), ("bot", "不客气", 21)), 3600, []),
    # the customer's last words went unanswered
    (conv(("customer", "在吗", 0), ("customer", "人呢", 30)), None, [(None, None)]),
    (conv(("customer", "在吗", 0)), 40, [(None, None)]),
    (conv(("customer", "在吗", 0)), 10, []),
])
def test_first_reply_counts_from_the_bot_handoff(messages: list[Message], now: float | None,
                                                 expected: list[object]):
    at = T0 + timedelta(seconds=now) if now is not None else None
    assert where([FIRST], messages, "first", now=at) == expected


@pytest.mark.parametrize(("text", "hit"), [
    ("你给我滚", True), ("驴打滚很好吃", False), ("汤很滚烫，小心", False), ("页面往下滚动", False),
])
def test_abusive_pack_exclusions(text: str, hit: bool):
    rules = [r for r in default_rules() if r.id == "agent_abuse"]
    assert bool(check_message(compile_rules(rules), "agent", text)) is hit


def test_sentiment_rules_can_measure_dissatisfaction():
    unhappy = SentimentRule(id="unhappy", name="客户不满", measure="dissatisfaction")
    rising = SentimentRule(id="rising", name="不满升级", measure="dissatisfaction",
                           mode="escalation")
    messages = conv(("customer", "请问我的外卖到哪了", 0), ("customer", "好的谢谢", 30),
                    ("customer", "等了一个多小时，饭都凉了，太慢了", 90))
    assert where([unhappy, rising], messages, "unhappy") == [(2, None)]
    assert where([unhappy, rising], messages, "rising") == [(2, None)]
    # the anger measure does not call a slow delivery anger
    assert where([ANGRY], messages, "angry") == []
    assert rule_from_dict(rule_to_dict(rising)) == rising


# ---------------------------------------------------------------- regex time bounds


@pytest.mark.parametrize("pattern", [r"(a|a)*b", r"\d+\d+\d+号", r"\d+\s*\d+号", r"((a+))+b"])
def test_patterns_that_backtrack_badly_are_refused_when_saved(pattern: str):
    with pytest.raises(ValueError, match=r"too slow|nested quantifier"):
        RegexRule(id="r", name="r", pattern=pattern)


def test_a_pattern_out_of_time_is_skipped_for_that_message_only(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    from kefu.qa import engine

    slow = RegexRule(id="slow", name="慢", pattern=r"\d+号")
    fast = KeywordRule(id="kw", name="词", terms=("保证",))
    compiled = compile_rules([slow, fast])
    text = "保证" + "1" * 9000 + "！号"
    monkeypatch.setattr(engine, "REGEX_TIMEOUT", 1e-7)
    hits = check_message(compiled, "agent", text)
    assert [h.rule_id for h in hits] == ["kw"]
    assert "rule slow: regular expression ran out of time" in caplog.text
    monkeypatch.setattr(engine, "REGEX_TIMEOUT", 5.0)
    assert [h.rule_id for h in check_message(compiled, "agent", "3号楼")] == ["slow"]


@pytest.mark.parametrize(("text", "word"), [
    ("闭\u200b嘴", "闭\u200b嘴"), ("你爱买\u2060不买", "爱买\u2060不买"),
    ("白\ufeff痴", "白\ufeff痴"),
    ("打我电话138\u200b1234\u200b5678", "138\u200b1234\u200b5678"),
])
def test_invisible_characters_do_not_hide_a_word(text: str, word: str):
    hits = check_message(compile_rules(default_rules()), "agent", text)
    assert hits, text
    span = hits[0].span
    assert span is not None and text[span[0]:span[1]] == word


def test_at_least_counts_terms_after_folding():
    with pytest.raises(ValueError, match="different terms once case"):
        compile_rules([KeywordRule(id="k", name="k", terms=("VIP", "vip"), mode="at_least",
                                   n=2)])
    with pytest.raises(SpecError, match="different terms"):
        ruleset_from_obj([{"kind": "keyword", "id": "k", "name": "k", "terms": ["發貨", "发货"],
                           "mode": "at_least", "n": 2}])
