"""Customer anger from a small Chinese/English lexicon with negation and intensity.

``anger(text)`` sums the weights of anger cues found in normalised text. A cue preceded (within
two characters) by a negation (不, 没, 无, 未) does not count; one preceded by an intensifier
(太, 非常, 真, 特别, 超, 极其, 简直) counts half again. Runs of ！ or ？ add a little. The word
lists are ours; the QA engine grows them further.
"""

from __future__ import annotations

import re

from kefu.nlp.normalise import normalise, strip_symbols, to_simplified

_CUES: dict[str, float] = {
    # complaints and threats
    "投诉": 1.0, "12315": 1.0, "消协": 1.0, "消费者协会": 1.0, "曝光": 0.8, "报警": 1.0,
    "起诉": 1.0, "律师": 0.6, "工商": 0.6, "差评": 0.6, "举报": 0.9,
    # insults and strong displeasure
    "骗子": 1.0, "骗人": 1.0, "欺骗": 0.9, "坑人": 0.8, "黑店": 1.0, "垃圾": 0.8, "恶心": 0.8,
    "气死": 1.0, "滚": 0.8, "愤怒": 0.9, "生气": 0.7, "火大": 0.8, "受够": 0.9, "忍无可忍": 1.0,
    "无语": 0.5, "离谱": 0.6, "失望": 0.5, "忽悠": 0.7, "态度差": 0.8,
    "态度太差": 1.0, "态度恶劣": 1.0,
    "什么破": 0.8, "破玩意": 0.9, "搞什么": 0.6, "有病": 0.8, "耍我": 0.9, "退钱": 0.6,
    "说了多少遍": 0.8, "多少次了": 0.7, "到底": 0.3, "还不": 0.3, "赶紧": 0.3, "太差": 0.7,
    # English
    "scam": 1.0, "fraud": 1.0, "angry": 0.8, "furious": 1.0, "terrible": 0.7, "ridiculous": 0.6,
    "complain": 0.8, "lawyer": 0.6, "wtf": 0.9, "useless": 0.6,
}
_NEGATIONS = "不没无未"
_INTENSIFIERS = ("太", "非常", "真", "特别", "超", "极其", "简直", "very", "so")
#: said before a cue, these undo it ("我不是要投诉", "不想投诉")
_NEGATION_PHRASES = ("不是要", "不是想", "不想", "没想", "没有要", "并不", "不会")


def _cue_pattern(cue: str) -> str:
    # numbers (12315) only as a whole number, never inside a phone or order number
    return rf"(?<!\d){re.escape(cue)}(?!\d)" if cue.isdigit() else re.escape(cue)


_PATTERN = re.compile("|".join(_cue_pattern(c) for c in sorted(_CUES, key=len, reverse=True)))
_PUNCT_RUN = re.compile(r"[!！]{2,}|[?？]{2,}")

ANGRY = 1.0


def anger(text: str, *, folded: str | None = None) -> float:
    """A non-negative anger score; ≥ ``ANGRY`` means an angry customer.

    ``folded``: the text already width/case/traditional-folded character by character (the
    QA engine's copy), which saves normalising it again."""
    if folded is not None:
        folded = folded[:4000]
        bonus = 0.3 * len(_PUNCT_RUN.findall(folded))
        norm = strip_symbols(folded)
    else:
        raw = to_simplified(text[:4000])
        bonus = 0.3 * len(_PUNCT_RUN.findall(raw))
        norm = normalise(text, max_chars=4000)
    if not _PATTERN.search(norm):
        return bonus / 2
    score = 0.0
    for m in _PATTERN.finditer(norm):
        before = norm[max(0, m.start() - 2):m.start()]
        if any(n in before for n in _NEGATIONS):
            continue
        if any(p in norm[max(0, m.start() - 5):m.start()] for p in _NEGATION_PHRASES):
            continue
        weight = _CUES[m.group(0)]
        head = norm[max(0, m.start() - 4):m.start()]
        if any(head.endswith((i, i + " ")) for i in _INTENSIFIERS):
            weight *= 1.5
        score += weight
    return score + (bonus if score > 0 else bonus / 2)


def anger_spans(folded: str) -> list[tuple[int, int]]:
    """Where anger cues are in a character-folded text (``kefu.qa.engine.fold``: same length
    as the original, so the spans are the original's) — for highlighting."""
    return [m.span() for m in _PATTERN.finditer(folded[:4000])]


def is_angry(text: str, threshold: float = ANGRY) -> bool:
    return anger(text) >= threshold


# ------------------------------------------------------------------------ dissatisfaction

#: dissatisfaction cues (our own list): quality, delivery, service, value, regret
_NEGATIVE: dict[str, float] = {
    # quality of goods and food
    "差": 1.0, "难吃": 1.2, "难喝": 1.2, "难闻": 1.0, "变质": 1.2, "发霉": 1.2, "臭": 0.8,
    "馊": 1.2, "坏了": 1.0, "烂了": 1.0, "破损": 1.0, "假货": 1.2, "有虫": 1.2, "异物": 1.0,
    "头发": 0.6, "太咸": 1.0, "太油": 0.8, "油腻": 0.8, "太辣": 0.6, "太甜": 0.6, "没味": 0.8,
    "太淡": 0.6, "不熟": 1.0, "夹生": 1.0, "凉了": 0.8, "冷了": 0.6, "洒了": 1.0, "撒了": 1.0,
    "漏了": 0.8, "色差": 0.8, "掉色": 0.8, "褪色": 0.8, "起球": 0.8, "开线": 0.8,
    "质量差": 1.2, "做工差": 1.2, "做工粗糙": 1.2, "粗糙": 0.8, "劣质": 1.2, "故障": 1.0,
    "死机": 1.0, "卡顿": 0.8, "发烫": 0.6, "用不了": 1.0, "难用": 1.0, "毛病": 0.8,
    "问题": 0.4, "不符": 0.8, "不一致": 0.6, "缩水": 0.8, "异味": 1.0, "霉味": 1.0,
    # delivery
    "慢": 0.8, "超时": 1.0, "迟到": 0.8, "送错": 1.0, "漏送": 1.0, "少送": 1.0, "没送到": 1.0,
    "没收到": 1.0, "等了": 0.6, "等半天": 1.0, "催了": 0.6, "晚了": 0.6, "少了": 0.6,
    # service
    "态度差": 1.2, "态度恶劣": 1.5, "敷衍": 1.0, "冷漠": 1.0, "不理人": 1.0, "没人理": 1.0,
    "爱理不理": 1.2, "脏": 1.0, "吵": 0.8, "噪音": 0.8, "潮湿": 0.6, "破旧": 0.8, "陈旧": 0.6,
    "隔音差": 1.0, "设施旧": 0.8,
    # value and feelings
    "贵": 0.6, "不值": 1.0, "性价比低": 1.0, "坑": 1.0, "骗": 1.0, "上当": 1.2, "失望": 1.2,
    "后悔": 1.2, "糟糕": 1.2, "垃圾": 1.2, "恶心": 1.2, "无语": 0.8, "郁闷": 0.8, "气人": 1.0,
    "一般": 0.6, "凑合": 0.5, "勉强": 0.5, "退货": 0.6, "退款": 0.6, "退钱": 0.8, "投诉": 1.0,
    "差评": 1.2, "别买": 1.5, "千万别": 1.5, "再也不": 1.5, "不会再": 1.2, "最后一次": 1.0,
    "不推荐": 1.5, "不满意": 1.5, "不行": 0.8, "不好": 1.0, "不新鲜": 1.2, "不干净": 1.0,
    "不值得": 1.2, "不划算": 1.0, "没有想象": 0.8, "不如": 0.6, "太少": 0.8, "量少": 0.8,
    "分量少": 1.0,
    "disappointed": 1.2, "terrible": 1.2, "bad": 0.8, "slow": 0.8, "broken": 1.0,
}
#: satisfaction cues: they offset dissatisfaction; negated, they count as dissatisfaction
_POSITIVE: dict[str, float] = {
    "好吃": 1.0, "好喝": 1.0, "美味": 1.0, "香": 0.4, "新鲜": 0.8, "不错": 1.0, "满意": 1.0,
    "很好": 1.0, "挺好": 0.8, "非常好": 1.2, "好评": 1.2, "推荐": 0.8, "喜欢": 0.8,
    "干净": 0.8, "热情": 0.8, "周到": 0.8, "贴心": 0.8, "赞": 1.0, "棒": 1.0, "给力": 1.0,
    "值得": 0.8, "划算": 0.8, "实惠": 0.8, "便宜": 0.6, "惊喜": 1.0, "完美": 1.0,
    "舒服": 0.8, "舒适": 0.8, "方便": 0.6, "准时": 0.8, "及时": 0.6, "快": 0.6, "好用": 1.0,
    "正品": 0.6, "物美价廉": 1.2, "性价比高": 1.0, "满分": 1.2, "五星": 1.0, "回购": 1.0,
    "还会再": 1.0, "下次还": 1.0, "会再来": 1.0, "支持": 0.4, "感谢": 0.4, "谢谢": 0.4,
    "好": 0.4, "可以": 0.3, "ok": 0.4, "good": 0.8, "great": 1.0, "nice": 0.8,
}
_POLAR = {**{k: -v for k, v in _POSITIVE.items()}, **_NEGATIVE}
_POLAR_PATTERN = re.compile("|".join(re.escape(c) for c in sorted(_POLAR, key=len,
                                                                    reverse=True)))
_NEGATORS = ("不", "没", "无", "别", "未")
#: after these, what follows weighs more than what came before ("好吃，但是太贵")
_BUT = re.compile("但是|可是|不过|就是|但|然而")

DISSATISFIED = 1.0


def dissatisfaction(text: str, *, folded: str | None = None) -> float:
    """Dissatisfaction minus satisfaction, from our own polarity lexicon (≥ ``DISSATISFIED``:
    a dissatisfied customer; ≤ 0: neutral or pleased).

    A satisfaction cue after a negation (不, 没, 无, 别, 未 right before it) counts as
    dissatisfaction (``不好吃``, ``没有新鲜感``); a negated dissatisfaction cue is dropped
    (``不贵``, ``不慢``). Cues after a 但是-style turn weigh 1.5×; anger cues
    (``anger``) count too."""
    norm = strip_symbols(folded[:4000]) if folded is not None else normalise(text,
                                                                             max_chars=4000)
    if not norm:
        return 0.0
    turn = _BUT.search(norm)
    pivot = turn.end() if turn is not None else len(norm) + 1
    score = 0.0
    for m in _POLAR_PATTERN.finditer(norm):
        cue = m.group(0)
        weight = _POLAR[cue]
        head = norm[max(0, m.start() - 2):m.start()].replace(" ", "")
        negated = (bool(head) and head[-1:] in _NEGATORS) or head.endswith("没有")
        if negated and not cue.startswith(_NEGATORS):
            if weight > 0:
                continue  # 不贵, 不慢: not a complaint
            weight = -weight * 0.8  # 不好吃, 不新鲜
        if m.start() >= pivot:
            weight *= 1.5
        score += weight
    return round(score + anger(text, folded=folded) * 0.5, 4)
