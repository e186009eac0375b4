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


def is_angry(text: str, threshold: float = ANGRY) -> bool:
    return anger(text) >= threshold
