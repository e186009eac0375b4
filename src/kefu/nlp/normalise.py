"""Text normalisation for matching: one canonical form for every way of typing a question.

Steps, in order: NFKC (full-width letters, digits and punctuation → half-width, compatibility
forms), traditional → simplified Chinese (OpenCC ``t2s``, bundled with the package, offline),
case folding, then every character that is not a letter, a digit or CJK becomes a space
(punctuation, symbols, emoji), and runs of spaces collapse. Digits are kept as they are.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

_KEEP_CATEGORIES = ("L", "N")


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC ``t2s``); other scripts pass through."""
    if not text:
        return text
    try:
        return str(_converter().convert(text))
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" from JSON): one "?" in its place
        return str(_converter().convert(text.encode("utf-8", "replace").decode("utf-8")))


def _is_kept(ch: str) -> bool:
    return unicodedata.category(ch)[0] in _KEEP_CATEGORIES


class _SymbolTable(dict[int, str]):
    """``str.translate`` table: a letter, digit or CJK character stays, anything else is a
    space; filled on demand."""

    def __missing__(self, key: int) -> str:
        ch = chr(key)
        out = ch if _is_kept(ch) else " "
        self[key] = out
        return out


_SYMBOLS = _SymbolTable()


def strip_symbols(text: str) -> str:
    """Punctuation, symbols, emoji and control characters become spaces; spaces collapse."""
    return " ".join(text.translate(_SYMBOLS).split())


def normalise(text: str, *, max_chars: int | None = None) -> str:
    """The canonical matching form of ``text`` (may be empty: nothing left to match).

    ``max_chars`` truncates the *input* first, so a 10,000-character paste costs no more than
    a long question.
    """
    if not text:
        return ""
    if max_chars is not None:
        text = text[:max_chars]
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text)
    text = text.casefold()
    return strip_symbols(text)
