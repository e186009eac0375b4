"""The inspection engine: every rule kind, folding with spans into the original, scoring, the
default rule set on a realistic conversation, and a size sanity check (no timing asserts)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kefu.qa import (
    Hit,
    KeywordRule,
    Message,
    PiiRule,
    RegexRule,
    Scorecard,
    ScoreItem,
    SentimentRule,
    TimingRule,
    WordPack,
    WordpackRule,
    check_message,
    compile_rules,
    default_rules,
    default_scorecard,
    fold,
    inspect,
    score,
)
from kefu.qa.rules import AnyRule, Role

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 11, 10, 0, tzinfo=TZ)


def texts(rule: AnyRule, text: str, role: Role = "agent") -> list[str]:
    """The matched substrings of ``text`` (``""`` for a hit without a span)."""
    hits = check_message(compile_rules([rule]), role, text)
    return [text[h.span[0]:h.span[1]] if h.span else "" for h in hits]


def conv(*items: tuple[Role, str, float]) -> list[Message]:
    return [Message(role, text, T0 + timedelta(seconds=s)) for role, text, s in items]


def test_fold_keeps_length_and_folds():
    for text in ("這個產品絕對ＴＯＰ１００％", "ABC", "", "😀ﬁ①"):
        assert len(fold(text)) == len(text)
    assert fold("這個產品絕對ＴＯＰ１００％") == "这个产品绝对top100%"


# ------------------------------------------------------------------------------ keywords

ANY = KeywordRule(id="k", name="k", terms=("保证", "到货"))
EXCL = KeywordRule(id="k", name="k", terms=("保证",), exclude=("不能保证", "无法保证"))
NEAR = KeywordRule(id="k", name="k", terms=("保证",), near=("到货",), within=4)
ALL = KeywordRule(id="k", name="k", terms=("退款", "银行卡"), mode="all")
AT_LEAST = KeywordRule(id="k", name="k", terms=("您好", "请问", "谢谢"), mode="at_least", n=2)
NONE = KeywordRule(id="k", name="k", terms=("您好", "你好"), mode="none")
ASCII = KeywordRule(id="k", name="k", terms=("vip", "100%"))


@pytest.mark.parametrize(("rule", "text", "expected"), [
    (ANY, "我们保证明天到货", ["保证", "到货"]),
    (ANY, "保證到貨", ["保證", "到貨"]),                       # traditional, original spans
    (ANY, "好的，马上处理", []),
    (EXCL, "这个不能保证，但会尽快", []),                      # exclusion cancels the hit
    (EXCL, "不能保证今天，但保证明天", ["保证"]),               # only the overlapped one
    (NEAR, "保证明天到货", ["保证明天到货"]),                   # within 4 chars
    (NEAR, "到货后保证", ["到货后保证"]),                       # either side
    (NEAR, "我们保证质量没问题，一般三到五天到货", []),          # too far apart
    (NEAR, "保证质量", []),                                    # no partner at all
    (ALL, "退款会原路退回您的银行卡", ["退款会原路退回您的银行卡"]),
    (ALL, "退款已经处理", []),
    (AT_LEAST, "您好，请问有什么可以帮您", ["您好，请问"]),
    (AT_LEAST, "您好，稍等", []),
    (NONE, "在的，什么问题", [""]),
    (NONE, "您好，在的", []),
    (ASCII, "开通ＶＩＰ会员，１００％满意", ["ＶＩＰ", "１００％"]),   # full-width
    (ASCII, "vipshop 或 1100% 不算", []),                       # ASCII word boundaries
])
def test_keyword(rule: KeywordRule, text: str, expected: list[str]):
    assert texts(rule, text) == expected


def test_overlapping_terms_give_the_longest_leftmost():
    rule = KeywordRule(id="k", name="k", terms=("第一", "全网第一"))
    assert texts(rule, "全网第一的好货") == ["全网第一"]


def test_scope():
    rule = KeywordRule(id="k", name="k", terms=("投诉",), scope=frozenset({"customer"}))
    assert texts(rule, "我要投诉", role="customer") == ["投诉"]
    assert texts(rule, "我要投诉", role="agent") == []
    assert texts(rule, "我要投诉", role="bot") == []


@pytest.mark.parametrize("kwargs", [
    {"terms": ()}, {"terms": ("  ",)}, {"terms": ("a", "b"), "mode": "at_least", "n": 3},
    {"terms": ("a",), "scope": frozenset()}, {"terms": ("a",), "within": -1},
])
def test_bad_keyword_rules_are_rejected(kwargs: dict[str, object]):
    with pytest.raises(ValueError, match=r"."):
        KeywordRule(id="k", name="k", **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ word packs

@pytest.mark.parametrize(("pack", "text", "expected"), [
    ("ad_law_absolute", "这款是全网最低价，绝对第一", ["全网最低", "绝对", "第一"]),
    ("ad_law_absolute", "這款絕對是國家級品質", ["絕對", "國家級"]),
    ("ad_law_absolute", "１００％正品", ["１００％"]),
    ("ad_law_absolute", "第一时间帮您处理，您最好先拍照", []),            # exclusions
    ("risky_promises", "保证明天到，包退包换", ["保证", "包退包换"]),
    ("risky_promises", "不能保证，存在一定的延迟", []),
    ("abusive", "你烦不烦，爱买不买", ["你烦不烦", "爱买不买"]),
    ("abusive", "滚筒洗衣机", []),
    ("competitors", "竞品甲更便宜", ["竞品甲"]),
])
def test_default_packs(pack: str, text: str, expected: list[str]):
    assert texts(WordpackRule(id="w", name="w", pack=pack), text) == expected


def test_custom_pack_and_rule_exclusions():
    packs = {"mine": WordPack(name="mine", terms=("秒杀",), exclusions=("秒杀结束",))}
    rule = WordpackRule(id="w", name="w", pack="mine", exclude=("不是秒杀",))
    compiled = compile_rules([rule], packs)
    assert len(check_message(compiled, "agent", "限时秒杀")) == 1
    assert check_message(compiled, "agent", "秒杀结束了") == []
    assert check_message(compiled, "agent", "这个不是秒杀价") == []


def test_unknown_or_empty_pack():
    with pytest.raises(ValueError, match="unknown word pack"):
        compile_rules([WordpackRule(id="w", name="w", pack="nope")])
    with pytest.raises(ValueError, match="empty"):
        WordPack(name="e", terms=())


def test_duplicate_ids_and_disabled_rules():
    with pytest.raises(ValueError, match="duplicate"):
        compile_rules([ANY, EXCL])
    off = KeywordRule(id="off", name="off", terms=("保证",), enabled=False)
    assert check_message(compile_rules([off]), "agent", "保证") == []


# ------------------------------------------------------------------------------ regexes

ORDER = RegexRule(id="r", name="r", pattern=r"加(?:我|个)?(?:微信|vx|wx)", exclude=(r"不加微信",))


@pytest.mark.parametrize(("rule", "text", "expected"), [
    (ORDER, "可以加我微信聊", ["加我微信"]),
    (ORDER, "加個ＶＸ吧", ["加個ＶＸ"]),                     # folded: traditional + width + case
    (ORDER, "我们不加微信的", []),                           # exclusion pattern cancels
    (ORDER, "请在平台内沟通", []),
    (RegexRule(id="r", name="r", pattern=r"\d{3}元"), "一共１２０元和300元", ["１２０元", "300元"]),
])
def test_regex(rule: RegexRule, text: str, expected: list[str]):
    assert texts(rule, text) == expected


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(abc", "invalid"), (r"(a+)+$", "nested"), (r"(\d*x)*y", "nested"), ("a*", "empty"),
    ("x" * 600, "longer"),
])
def test_bad_patterns_are_rejected_at_construction(pattern: str, reason: str):
    with pytest.raises(ValueError, match=reason):
        RegexRule(id="r", name="r", pattern=pattern)


def test_several_regexes_share_the_gate_and_all_hit():
    rules = [RegexRule(id="a", name="a", pattern="微信"),
             RegexRule(id="b", name="b", pattern="加微"),
             RegexRule(id="c", name="c", pattern=r"(\w)\1\1")]  # a back-reference: no gate
    hits = check_message(compile_rules(rules), "agent", "加微信，哈哈哈")
    assert sorted(h.rule_id for h in hits) == ["a", "b", "c"]
    hits = check_message(compile_rules(rules[:2]), "agent", "你好")
    assert hits == []


# ------------------------------------------------------------------------------ personal data

def test_pii_rule_kinds_and_spans_into_full_width_text():
    rule = PiiRule(id="p", name="p", kinds=frozenset({"mobile", "id_card"}))
    assert texts(rule, "电话１３８１２３４５６７８") == ["１３８１２３４５６７８"]
    assert texts(rule, "身份证 11010519491231002X") == ["11010519491231002X"]
    assert texts(rule, "身份证 110105194912310021") == []
    assert texts(rule, "卡号 4111111111111111") == []          # bank cards not asked for
    assert texts(rule, "订单 2023113812345678901") == []      # phone inside a digit run
    assert texts(rule, "电话13812345678", role="customer") == []


# ------------------------------------------------------------------------------ timing

FIRST = TimingRule(id="t", name="t", check="first_reply", seconds=15)
GAP = TimingRule(id="t", name="t", check="reply_gap", seconds=60)
LONG = TimingRule(id="t", name="t", check="duration", seconds=30 * 60)


@pytest.mark.parametrize(("rule", "messages", "expected"), [
    (FIRST, conv(("customer", "在吗", 0), ("agent", "在的", 10)), []),
    (FIRST, conv(("customer", "在吗", 0), ("agent", "在的", 15)), []),
    (FIRST, conv(("customer", "在吗", 0), ("agent", "在的", 16)), [1]),
    (FIRST, conv(("bot", "欢迎", 0), ("customer", "在吗", 5), ("bot", "请稍等", 6),
                 ("agent", "在的", 30)), [3]),                  # bots do not answer for agents
    (FIRST, conv(("customer", "在吗", 0), ("customer", "人呢", 40)), [None]),  # never answered
    (FIRST, conv(("customer", "在吗", 0), ("customer", "？", 10)), []),
    (FIRST, conv(("agent", "您好", 0)), []),                    # no customer message
    (FIRST, [], []),
    (GAP, conv(("customer", "a", 0), ("agent", "b", 100), ("customer", "c", 110),
               ("customer", "d", 150), ("agent", "e", 200), ("customer", "f", 210),
               ("agent", "g", 230)), [4]),                      # the first reply is not a gap
    (LONG, conv(("customer", "a", 0), ("agent", "b", 30 * 60)), []),
    (LONG, conv(("customer", "a", 0), ("agent", "b", 30 * 60 + 1)), [None]),
])
def test_timing(rule: TimingRule, messages: list[Message], expected: list[int | None]):
    hits = inspect(compile_rules([rule]), messages)
    assert [h.message_index for h in hits] == expected
    assert all(h.span is None for h in hits)


def test_first_reply_uses_now_for_an_open_conversation():
    messages = conv(("customer", "在吗", 0))
    compiled = compile_rules([FIRST])
    assert inspect(compiled, messages) == []
    assert len(inspect(compiled, messages, now=T0 + timedelta(seconds=20))) == 1
    assert inspect(compiled, messages, now=T0 + timedelta(seconds=5)) == []


# ------------------------------------------------------------------------------ sentiment

@pytest.mark.parametrize(("text", "role", "hit"), [
    ("你们就是骗子，我要投诉！！", "customer", True),
    ("我要投訴你們", "customer", True),
    ("我不想投诉，只想问问物流", "customer", False),
    ("你们就是骗子", "agent", False),                    # scope: customers only
])
def test_sentiment(text: str, role: Role, hit: bool):
    rule = SentimentRule(id="s", name="s")
    assert bool(texts(rule, text, role=role)) is hit


def test_sentiment_threshold():
    calm = SentimentRule(id="s", name="s", threshold=5.0)
    assert texts(calm, "我要投诉", role="customer") == []


# ------------------------------------------------------------------------------ scoring

def h(rule_id: str, n: int = 1, deduction: float = 5) -> list[Hit]:
    return [Hit(rule_id, rule_id, "keyword", i, None, deduction) for i in range(n)]


CARD = Scorecard(
    items={
        "once": ScoreItem(deduction=5, per_hit=False, cap=None, fatal=False, group="合规"),
        "each": ScoreItem(deduction=5, per_hit=True, cap=None, fatal=False, group="合规"),
        "capped": ScoreItem(deduction=5, per_hit=True, cap=12, fatal=False, group="服务态度"),
        "fatal": ScoreItem(deduction=0, per_hit=False, cap=None, fatal=True, group="合规"),
        "bonus": ScoreItem(deduction=-3, per_hit=True, cap=6, fatal=False, group="服务态度"),
        "heavy": ScoreItem(deduction=80, per_hit=True, cap=None, fatal=False, group="业务能力"),
    },
    group_weights={"业务能力": 2.0},
)


@pytest.mark.parametrize(("hits", "total", "fatal", "groups"), [
    ([], 100, False, {}),
    (h("once", 3), 95, False, {"合规": 5}),
    (h("each", 3), 85, False, {"合规": 15}),
    (h("capped", 4), 88, False, {"服务态度": 12}),
    (h("once") + h("each", 2) + h("capped", 1), 80, False, {"合规": 15, "服务态度": 5}),
    (h("fatal") + h("once"), 0, True, {"合规": 5}),
    (h("each") + h("bonus", 5), 100, False, {"合规": 5, "服务态度": -6}),  # capped bonus, ≤ base
    (h("heavy"), 0, False, {"业务能力": 160}),                              # weight 2, floor 0
    (h("unknown", 2, deduction=4), 92, False, {"其他": 8}),
])
def test_score(hits: list[Hit], total: float, fatal: bool, groups: dict[str, float]):
    result = score(hits, CARD)
    assert (result.total, result.fatal, result.per_group) == (total, fatal, groups)


def test_scorecard_for_rules():
    card = Scorecard.for_rules([ANY], base=10)
    assert card.items["k"].deduction == 5
    assert score(h("k", 3), card).total == 5


# ------------------------------------------------------------------------------ default set

REALISTIC = conv(
    ("customer", "你好，我上周买的空气炸锅怎么还没发货？", 0),
    ("bot", "您好，正在为您转接人工客服，请稍候～", 1),
    ("agent", "亲，您好！這款是全網銷量第一的爆款，絕對正品，保證明天到貨哦", 25),
    ("customer", "我要的是发货时间！说了多少遍了，你们就是骗子，我要投诉！！", 60),
    ("agent", "非常抱歉，您留个电话吧，我的是 138 1234 5678，或者转账到 4111111111111111", 90),
    ("agent", "已为您加急，第一时间通知您，您最好先确认一下收货地址", 100),
    ("customer", "好吧，谢谢", 150),
)


def test_default_rules_on_a_realistic_conversation():
    compiled = compile_rules(default_rules())
    hits = inspect(compiled, REALISTIC)
    found = {(hit.rule_id, hit.message_index,
              REALISTIC[hit.message_index].text[hit.span[0]:hit.span[1]]
              if hit.message_index is not None and hit.span else None) for hit in hits}
    assert found == {
        ("ad_law_absolute", 2, "銷量第一"),
        ("ad_law_absolute", 2, "絕對"),
        ("risky_promise", 2, "保證"),
        ("pii_agent", 4, "138 1234 5678"),
        ("pii_agent", 4, "4111111111111111"),
        ("customer_angry", 3, None),
        ("first_reply_15s", 2, None),
    }
    result = score(hits, default_scorecard())
    # 合规: ad law 2×5 + promise 5 + pii 2×10 = 35; 服务态度: anger 5 + first reply 5 = 10
    assert result == type(result)(total=55, fatal=False, per_group={"合规": 35, "服务态度": 10})


def test_default_rules_leave_a_good_conversation_alone():
    good = conv(("customer", "你好，请问怎么退货", 0),
                ("agent", "您好，在订单页点申请退货即可，第一步先选择原因", 8),
                ("customer", "好的谢谢", 30), ("agent", "不客气，祝您生活愉快", 35))
    hits = inspect(compile_rules(default_rules()), good)
    assert hits == []
    assert score(hits, default_scorecard()).total == 100


def test_abuse_is_fatal_and_real_time_check_blocks_a_draft():
    compiled = compile_rules(default_rules())
    draft = "你烦不烦啊，爱买不买"
    hits = check_message(compiled, "agent", draft, index=7)
    assert {hit.rule_id for hit in hits} == {"agent_abuse"}
    assert all(hit.message_index == 7 for hit in hits)
    assert score(hits, default_scorecard()) == type(score([], default_scorecard()))(
        total=0, fatal=True, per_group={"服务态度": 100})


# ------------------------------------------------------------------------------ size sanity

def test_a_large_rule_set_and_a_long_conversation():
    """2,000 keywords, 50 regexes: compiles and inspects a 5,000-message conversation; the
    figures themselves belong to ``make bench``, not to an assertion here."""
    terms = tuple(f"词{i:04d}" for i in range(2000))
    rules: list[AnyRule] = [KeywordRule(id=f"k{i}", name="k", terms=terms[i * 20:(i + 1) * 20])
                            for i in range(100)]
    rules += [RegexRule(id=f"r{i}", name="r", pattern=rf"编号{i}号") for i in range(50)]
    rules += list(default_rules())
    compiled = compile_rules(rules)
    messages = [Message("agent" if i % 2 else "customer",
                        f"您好，词{i % 2000:04d}和编号{i % 50}号，保证发货" * 3,
                        T0 + timedelta(seconds=i)) for i in range(5000)]
    hits = inspect(compiled, messages)
    assert sum(hit.rule_id == "risky_promise" for hit in hits) == 2500 * 3
    # keyword and regex rules check agent messages (the default scope): 2,500 of them
    assert sum(hit.kind == "regex" for hit in hits) == 2500 * 3
    assert sum(hit.kind == "keyword" for hit in hits) == 2500 * 3
    long_text = "保证" + "啊" * 50_000 + "保证"
    assert len(check_message(compiled, "agent", long_text)) == 1   # bounded: the tail ignored
