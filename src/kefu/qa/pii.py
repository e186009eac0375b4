"""Personal data in text: mainland mobile numbers, ID card numbers, bank card numbers, emails.

* mobile: ``1[3-9]`` + 9 digits, optionally ``+86`` / ``0086`` / ``86`` before it and single
  spaces or hyphens as ``138 1234 5678``; never part of a longer digit run;
* ID card: 18 characters (17 digits + digit or X), a plausible birth date and a valid
  ISO 7064 MOD 11-2 check character;
* bank card: 16–19 digits (single spaces or hyphens allowed between them) passing Luhn;
* email: ``local@domain.tld``.

Spans index the text as given; ``find_pii`` sees full-width digits only in a same-length
folded copy (``kefu.qa.engine.fold``, which the engine and ``mask_pii`` pass). Overlaps
resolve ID card > email > mobile > bank card (an 18-digit ID number may pass Luhn by chance).
Masking keeps the length, so spans into the original stay valid after masking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kefu.qa.rules import ALL_PII, PiiKind

_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_ID_CARD = re.compile(
    r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"(?![\dA-Za-z])"
)
_BANK_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){15,18}(?![\d])")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

#: every number kind has 3 digits in a row (separators come every 3–4 digits at most)
_DIGIT_RUN = re.compile(r"\d{3}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ORDER: tuple[PiiKind, ...] = ("id_card", "email", "mobile", "bank_card")


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    value: str


def id_checksum_ok(number: str) -> bool:
    """True for an 18-character ID number whose last character is its check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_ok(digits: str) -> bool:
    """The Luhn check over a string of digits (separators are ignored)."""
    ds = [int(c) for c in digits if c.isdigit()]
    if not ds:
        return False
    total = 0
    for i, d in enumerate(reversed(ds)):
        doubled = d * 2 if i % 2 == 1 else d
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _candidates(text: str, kind: PiiKind) -> Iterable[PiiMatch]:
    if kind == "mobile":
        for m in _MOBILE.finditer(text):
            yield PiiMatch("mobile", m.start(), m.end(), m.group())
    elif kind == "id_card":
        for m in _ID_CARD.finditer(text):
            if id_checksum_ok(m.group()):
                yield PiiMatch("id_card", m.start(), m.end(), m.group())
    elif kind == "bank_card":
        for m in _BANK_CARD.finditer(text):
            if luhn_ok(m.group()):
                yield PiiMatch("bank_card", m.start(), m.end(), m.group())
    else:
        for m in _EMAIL.finditer(text):
            yield PiiMatch("email", m.start(), m.end(), m.group())


def find_pii(text: str, kinds: Iterable[PiiKind] = ALL_PII) -> list[PiiMatch]:
    """Personal data in ``text``, in text order, non-overlapping."""
    wanted = set(kinds)
    taken: list[PiiMatch] = []
    digits = _DIGIT_RUN.search(text) is not None
    # ID numbers are looked for even when not wanted, so a valid ID is never a bank card
    for kind in _ORDER:
        if kind not in wanted and kind != "id_card":
            continue
        if (not digits and kind != "email") or (kind == "email" and "@" not in text):
            continue
        for m in _candidates(text, kind):
            if all(m.end <= t.start or m.start >= t.end for t in taken):
                taken.append(m)
    return sorted((m for m in taken if m.kind in wanted), key=lambda m: m.start)


def mask_value(kind: PiiKind, value: str) -> str:
    """The masked form, same length: mobile and ID keep the first 3 and last 4 digits, bank
    cards the first 4 and last 4, emails the first character of the local part and the domain.
    Separators are kept."""
    if kind == "email":
        at = max(value.find("@"), value.find("＠"))
        if at < 1:
            return value[:1] + "*" * (len(value) - 1)
        return value[:1] + "*" * (at - 1) + value[at:]
    head, tail = (4, 4) if kind == "bank_card" else (3, 4)
    positions = [i for i, c in enumerate(value) if c.isalnum()]
    keep = set(positions[:head]) | set(positions[-tail:])
    return "".join(c if (i in keep or not c.isalnum()) else "*" for i, c in enumerate(value))


def mask_pii(text: str, kinds: Iterable[PiiKind] = ALL_PII, *, folded: str | None = None) -> str:
    """``text`` with every personal-data match masked (same length). The search runs over a
    same-length folded copy (``folded``, computed when not given) so full-width digits are
    found; the original characters are masked."""
    if folded is None:
        from kefu.qa.engine import fold

        folded = fold(text)
    matches = find_pii(folded, kinds)
    if not matches:
        return text
    out = list(text)
    for m in matches:
        masked = mask_value(m.kind, text[m.start:m.end])
        out[m.start:m.end] = masked
    return "".join(out)
