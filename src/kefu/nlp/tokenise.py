"""Tokenisation for matching: word tokens (rjieba + a user dictionary) and character n-grams.

Input is text already passed through :func:`kefu.nlp.normalise.normalise`. Synonyms are
rewritten to their canonical term *before* cutting (longest surface form first), so
``快递`` / ``物流`` / ``发货`` all become one token in both views.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from kefu.nlp.normalise import normalise

# Function words that carry no intent. Question words (怎么, 为什么, 多少) are kept on purpose.
_STOP_TEXT = (
    "的 了 吗 呢 啊 吧 呀 哦 嘛 么 哈 啦 是 在 我 我的 你 你们 您 请问 一下 那 这 就 也 都 和 与 "
    "a an the is are am to of i my me you your it be do does please"
)
DEFAULT_STOP_WORDS: frozenset[str] = frozenset(_STOP_TEXT.split())

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+|[^{_CJK}]+")


_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def stem(word: str) -> str:
    """A light English suffix stripper (cards→card, charged→charg, charging→charg)."""
    if not word.isalpha() or len(word) <= 3:
        return word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)] + repl
    return word


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF


_default_jieba: Any = None


def _jieba_default() -> Any:
    global _default_jieba  # noqa: PLW0603 - one shared, read-only dictionary per process
    if _default_jieba is None:
        import rjieba

        _default_jieba = rjieba.Jieba()
    return _default_jieba


class Tokeniser:
    """Word and character-n-gram views of normalised text.

    ``terms``: words that must stay whole (product names). ``synonyms``: groups of surface
    forms; the first of each group is the canonical token. ``stop_words``: dropped from the
    word view (``None``: keep everything); if a text is only stop words they are kept.
    """

    def __init__(self, terms: Iterable[str] = (), synonyms: Iterable[Sequence[str]] = (),
                 stop_words: Iterable[str] | None = None, char_unigrams: bool = False) -> None:
        self.char_unigrams = char_unigrams
        self.stop_words: frozenset[str] = frozenset(stop_words) if stop_words is not None \
            else frozenset()
        self._canonical: dict[str, str] = {}
        for group in synonyms:
            forms = [f for f in (normalise(g) for g in group) if f]
            if not forms:
                continue
            for form in forms:
                self._canonical[form] = forms[0]
        words = {normalise(t) for t in terms} | set(self._canonical.values())
        words.discard("")
        if words:
            import rjieba

            self._jieba: Any = rjieba.Jieba()
            for w in sorted(words):
                if " " not in w:
                    self._jieba.add_word(w, 100000, None)
        else:
            self._jieba = _jieba_default()
        surfaces = sorted((s for s in self._canonical if s != self._canonical[s]),
                          key=lambda s: (-len(s), s))
        self._syn_re = re.compile("|".join(re.escape(s) for s in surfaces)) if surfaces else None

    def canonicalise(self, text: str) -> str:
        """Rewrite every synonym surface form in normalised ``text`` to its canonical term."""
        if self._syn_re is None:
            return text
        return self._syn_re.sub(lambda m: self._canonical[m.group(0)], text)

    def words(self, text: str) -> list[str]:
        """Word tokens of normalised ``text`` (synonyms canonicalised, stop words dropped)."""
        text = self.canonicalise(text)
        tokens: list[str] = []
        for chunk in text.split():
            if chunk.isascii():
                tokens.append(stem(chunk))
                continue
            tokens.extend(t for t in self._jieba.cut(chunk, True) if t.strip())
        if self.stop_words:
            kept = [t for t in tokens if t not in self.stop_words]
            if kept:
                return kept
        return tokens

    def chars(self, text: str) -> list[str]:
        """Character n-grams: CJK bigrams (and unigrams if asked, or for a lone character);
        other words as boundary-marked trigrams."""
        text = self.canonicalise(text)
        grams: list[str] = []
        for chunk in text.split():
            for run in _CJK_RUN.findall(chunk):
                if _is_cjk(run[0]):
                    if len(run) == 1 or self.char_unigrams:
                        grams.extend(run)
                    grams.extend(run[i:i + 2] for i in range(len(run) - 1))
                else:
                    padded = f"#{run}#"
                    if len(padded) <= 3:
                        grams.append(padded)
                    else:
                        grams.extend(padded[i:i + 3] for i in range(len(padded) - 2))
        return grams
