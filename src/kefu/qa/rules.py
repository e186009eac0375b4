"""Inspection rule definitions: frozen, validated at construction, compiled by ``qa.engine``.

Every rule carries its scoring fields (``deduction``, ``per_hit``, ``cap``, ``fatal``,
``group``) and a ``scope``: the message roles it checks. A rule that cannot be compiled
(an invalid regex, a pattern prone to catastrophic backtracking, no terms, ``at_least`` above
the number of terms) raises ``ValueError`` with the reason when it is *built*, so a bad rule is
rejected when it is saved, never while a conversation is inspected.
"""

from __future__ import annotations

import math
import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import ClassVar, Literal

import regex

Role = Literal["customer", "agent", "bot"]
Kind = Literal["keyword", "regex", "wordpack", "pii", "timing", "sentiment", "script",
               "combination", "fact"]
KeywordMode = Literal["any", "all", "at_least", "none"]
TimingCheck = Literal["first_reply", "reply_gap", "duration", "unanswered", "silence",
                      "interruption"]
ScriptCheck = Literal["opening", "closing", "order"]
SentimentMode = Literal["level", "escalation"]
SentimentMeasure = Literal["anger", "dissatisfaction"]
Fact = Literal["transfers", "repeated_question", "bot_failed_handoff", "low_csat",
               "repeat_contact"]
PiiKind = Literal["mobile", "id_card", "bank_card", "email"]

AGENT: frozenset[Role] = frozenset({"agent"})
CUSTOMER: frozenset[Role] = frozenset({"customer"})
ALL_PII: frozenset[PiiKind] = frozenset({"mobile", "id_card", "bank_card", "email"})

#: a quantified group that itself contains a quantifier — ``(a+)+``, ``(\d*x)*``, ``(a|b+){2,}``
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")
MAX_PATTERN_CHARS = 500
#: no number of a rule (deduction, seconds, threshold …) may be larger than this
MAX_NUMBER = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation; ``ts`` must be timezone-aware. For a call transcript,
    ``ts`` is when the speaker's turn started and ``end`` when it ended."""

    role: Role
    text: str
    ts: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    """What is known about a conversation beyond its messages (for ``fact`` rules).

    ``transfers``: times it was transferred between agents/teams; ``csat``: the customer's
    satisfaction rating 1–5 (None: not rated); ``bot_failed_handoff``: the bot handed off
    after failing to answer; ``repeat_contact``: the same customer had another conversation
    in the 24 hours before this one."""

    transfers: int = 0
    csat: int | None = None
    bot_failed_handoff: bool = False
    repeat_contact: bool = False


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Fields every rule has. ``deduction`` is per hit when ``per_hit``, else once per
    conversation; ``cap`` bounds the rule's total deduction; a ``fatal`` hit zeroes the score;
    ``group`` is the scorecard item group (服务态度 / 业务能力 / 合规 …). A negative deduction
    is a bonus."""

    kind: ClassVar[Kind]

    id: str
    name: str
    scope: frozenset[Role] = AGENT
    deduction: float = 5.0
    per_hit: bool = False
    cap: float | None = None
    fatal: bool = False
    group: str = "合规"
    enabled: bool = True
    #: channels the rule applies to (``web``, ``email``, ``wechat`` …); empty: every channel
    channels: frozenset[str] = frozenset()
    #: real time: a hit raises a live alert to supervisors
    alert: bool = False
    #: real time: an agent message with a hit is not sent (the agent may override with a reason)
    block: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a rule needs an id")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"rule {self.id}: {f.name} must be a finite number")
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and abs(value) > MAX_NUMBER:
                raise ValueError(f"rule {self.id}: {f.name} is out of range")
        if not self.scope:
            raise ValueError(f"rule {self.id}: the scope names no role")
        if self.cap is not None and self.cap < 0:
            raise ValueError(f"rule {self.id}: the cap must not be negative")


@dataclass(frozen=True, kw_only=True)
class KeywordRule(Rule):
    """Terms matched after case/width/traditional folding.

    ``mode``: ``any`` (one hit per occurrence), ``all`` / ``at_least`` (one hit per message
    where all / at least ``n`` distinct terms occur), ``none`` (one hit per message where no
    term occurs). ``near`` + ``within``: an occurrence counts only with a ``near`` term at most
    ``within`` characters away (either side). ``exclude``: an exclusion word overlapping an
    occurrence cancels it (``最`` excluded by ``最近``, ``保证`` by ``不能保证``).
    """

    kind: ClassVar[Kind] = "keyword"

    terms: tuple[str, ...]
    mode: KeywordMode = "any"
    n: int = 1
    near: tuple[str, ...] = ()
    within: int = 10
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not any(t.strip() for t in self.terms):
            raise ValueError(f"rule {self.id}: no terms")
        if self.mode == "at_least" and not 1 <= self.n <= len(set(self.terms)):
            raise ValueError(f"rule {self.id}: at_least n={self.n} with {len(self.terms)} terms")
        if self.within < 0:
            raise ValueError(f"rule {self.id}: within must not be negative")


@dataclass(frozen=True, kw_only=True)
class WordpackRule(Rule):
    """Any term of the named word pack (the pack's own exclusions apply, plus ``exclude``)."""

    kind: ClassVar[Kind] = "wordpack"

    pack: str
    exclude: tuple[str, ...] = ()


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a rule's pattern, or raise ``ValueError`` with the reason."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    if _NESTED_QUANTIFIER.search(pattern):
        raise ValueError(f"nested quantifier in {pattern!r} (catastrophic backtracking)")
    if compiled.search("") is not None:
        raise ValueError(f"pattern {pattern!r} matches the empty string")
    _probe(pattern)
    return compiled


#: the time a pattern may take on one probe text when it is saved
PROBE_TIMEOUT = 0.1


def _probe_chars(pattern: str) -> list[str]:
    """Characters to build probe texts from: the pattern's own literals, then common ones."""
    out: list[str] = []
    try:
        items = list(sre_parse.parse(pattern))
    except re.error:
        items = []
    stack = list(items)
    while stack and len(out) < 12:
        op, av = stack.pop(0)
        if op is sre_constants.LITERAL:
            ch = chr(av)
            if ch not in out:
                out.append(ch)
        elif isinstance(av, list | tuple):
            for part in av:
                if isinstance(part, sre_parse.SubPattern):
                    stack.extend(part)
                elif isinstance(part, list):
                    stack.extend(x for x in part if isinstance(x, tuple) and len(x) == 2)
    return out + [c for c in "a1 _的-.@" if c not in out]


def _probe(pattern: str) -> None:
    """Refuse a pattern that backtracks badly: it must finish every probe text (runs of one
    character, then a character that stops the match, then the pattern's literals) within
    ``PROBE_TIMEOUT``. At run time
    the engine also bounds each pattern per message (``engine.REGEX_TIMEOUT``)."""
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"pattern {pattern!r} is not supported: {exc}") from exc
    chars = _probe_chars(pattern)
    # the pattern's own literals go after the stop, so no "needs this literal" shortcut
    # skips the real work
    tail = "!" + "".join(chars[:12])
    for ch in chars:
        for n in (32, 1500):
            text = ch * n + tail
            try:
                for _ in compiled.finditer(text, timeout=PROBE_TIMEOUT):
                    pass
            except TimeoutError:
                raise ValueError(
                    f"pattern {pattern!r} is too slow: it backtracks on a text of {n} "
                    f"{ch!r} (catastrophic backtracking); simplify the repeated parts"
                ) from None


@dataclass(frozen=True, kw_only=True)
class RegexRule(Rule):
    """A regular expression over the folded text (half-width, simplified, lower case); one hit
    per match. A match overlapped by a match of an ``exclude`` pattern is cancelled."""

    kind: ClassVar[Kind] = "regex"

    pattern: str
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        for p in (self.pattern, *self.exclude):
            try:
                check_pattern(p)
            except ValueError as exc:
                raise ValueError(f"rule {self.id}: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class PiiRule(Rule):
    """Personal data (``kefu.qa.pii``): one hit per number / address found. With ``mask``, an
    agent's reply is stored (and delivered) with the data masked — ``138****5678`` — and the
    hits are kept in the message's ``meta`` so its inspection still counts them."""

    kind: ClassVar[Kind] = "pii"

    kinds: frozenset[PiiKind] = ALL_PII
    mask: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.kinds:
            raise ValueError(f"rule {self.id}: no personal-data kinds")


@dataclass(frozen=True, kw_only=True)
class TimingRule(Rule):
    """Conversation timing; replies are messages whose role is in ``scope``.

    * ``first_reply``: the first reply came more than ``seconds`` after the customer's first
      message (hit on that reply); with no reply, a conversation-level hit when the
      conversation ends on the customer's words and its last message — or ``now``, when
      given — is more than ``seconds`` after the first. A bot message (bot not in scope)
      restarts the clock: a person's reply is due from the bot's last answer (the handoff),
      and a conversation the bot closed with its own answer is not judged.
    * ``reply_gap``: a later reply (not the first: that is ``first_reply``'s) came more than
      ``seconds`` after the earliest customer message it answers.
    * ``duration``: first to last message took more than ``seconds`` (conversation-level).
    * ``unanswered``: the customer's last message(s) got no reply and the conversation ended —
      or ``now`` is — more than ``seconds`` later (conversation-level).
    * ``silence`` (calls): more than ``seconds`` passed between the end of a turn and the
      start of the next turn, when that next turn is by a role in ``scope`` (hit on it).
    * ``interruption`` (calls): a turn by a role in ``scope`` started more than ``seconds``
      before the other speaker's turn ended (hit on the interrupting turn).
    """

    kind: ClassVar[Kind] = "timing"

    check: TimingCheck
    seconds: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seconds < 0:
            raise ValueError(f"rule {self.id}: seconds must not be negative")


@dataclass(frozen=True, kw_only=True)
class SentimentRule(Rule):
    """A message whose sentiment score is at least ``threshold``: ``measure`` ``anger``
    (``kefu.nlp.sentiment.anger``: complaints, insults, threats) or ``dissatisfaction``
    (``kefu.nlp.sentiment.dissatisfaction``: a polarity lexicon — slow, broken, not fresh,
    disappointed … minus praise)."""

    kind: ClassVar[Kind] = "sentiment"

    scope: frozenset[Role] = CUSTOMER
    threshold: float = 1.0
    #: ``level``: every message at or above the threshold; ``escalation``: once, at the first
    #: message reaching the threshold after the speaker started calm (an earlier message of
    #: theirs scored at most half the threshold): getting angrier over the conversation
    mode: SentimentMode = "level"
    measure: SentimentMeasure = "anger"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold <= 0:
            raise ValueError(f"rule {self.id}: the threshold must be positive")


@dataclass(frozen=True, kw_only=True)
class ScriptRule(Rule):
    """Required wording (话术), matched like keywords (folded, any of ``terms``).

    * ``opening``: one of the first ``window`` messages in scope must contain a term (the
      greeting); else a hit on the first of them.
    * ``closing``: one of the last ``window`` messages in scope must contain a term (the
      closing words before resolving); else a hit on the last of them.
    * ``order``: a ``terms`` phrase must come before the first ``then`` phrase ("identity
      check before discussing the order"); else a hit on that ``then`` phrase.
    """

    kind: ClassVar[Kind] = "script"

    check: ScriptCheck
    terms: tuple[str, ...]
    then: tuple[str, ...] = ()
    window: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not any(t.strip() for t in self.terms):
            raise ValueError(f"rule {self.id}: no terms")
        if self.check == "order" and not any(t.strip() for t in self.then):
            raise ValueError(f"rule {self.id}: an order check needs 'then' terms")
        if self.window < 1:
            raise ValueError(f"rule {self.id}: the window must be at least 1 message")


@dataclass(frozen=True, kw_only=True)
class CombinationRule(Rule):
    """AND / OR / NOT of other rules' hits in the conversation: every rule of ``all_of`` hit,
    at least one of ``any_of`` (when given), none of ``none_of``. With ``after``: only hits
    within ``within`` messages after a hit of rule ``after`` count (e.g. after an angry
    customer message, the agent did not apologise within 2 messages) — one hit per such
    ``after`` hit. Without ``after``, one conversation-level hit."""

    kind: ClassVar[Kind] = "combination"

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    after: str | None = None
    within: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        refs = (*self.all_of, *self.any_of, *self.none_of)
        if not refs:
            raise ValueError(f"rule {self.id}: name at least one rule in all_of, any_of or "
                             "none_of")
        if self.id in refs or self.after == self.id:
            raise ValueError(f"rule {self.id}: a combination cannot use itself")
        if self.within < 1:
            raise ValueError(f"rule {self.id}: within must be at least 1 message")

    @property
    def references(self) -> tuple[str, ...]:
        return (*self.all_of, *self.any_of, *self.none_of,
                *((self.after,) if self.after else ()))


@dataclass(frozen=True, kw_only=True)
class FactRule(Rule):
    """Facts about the conversation (``ConversationFacts`` and the messages).

    ``transfers``: transferred more than ``n`` times; ``repeated_question``: the customer sent
    the same words (≥ 4 characters, folded) ``n`` times or more — a hit on the repeat;
    ``bot_failed_handoff``: the bot handed off after failing; ``low_csat``: rated ``n`` or
    lower (1–5); ``repeat_contact``: the customer came back within 24 hours.
    """

    kind: ClassVar[Kind] = "fact"

    scope: frozenset[Role] = CUSTOMER
    fact: Fact
    n: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 0:
            raise ValueError(f"rule {self.id}: n must not be negative")
        if self.fact == "low_csat" and not 1 <= self.n <= 5:
            raise ValueError(f"rule {self.id}: a CSAT threshold is 1 to 5")
        if self.fact == "repeated_question" and self.n < 2:
            raise ValueError(f"rule {self.id}: a repeat needs n of at least 2")


AnyRule = (KeywordRule | WordpackRule | RegexRule | PiiRule | TimingRule | SentimentRule
           | ScriptRule | CombinationRule | FactRule)

#: kind → rule class (the ``kind`` field of a stored or file rule)
RULE_TYPES: dict[str, type[AnyRule]] = {
    cls.kind: cls
    for cls in (KeywordRule, WordpackRule, RegexRule, PiiRule, TimingRule, SentimentRule,
                ScriptRule, CombinationRule, FactRule)
}


@dataclass(frozen=True, slots=True)
class WordPack:
    """A named list of terms with exclusion words that cancel an overlapping occurrence."""

    name: str
    terms: tuple[str, ...]
    exclusions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not any(t.strip() for t in self.terms):
            raise ValueError(f"word pack {self.name!r} is empty")
