"""The inspection engine: rules compiled once, one pass per message, real time and batch alike.

``compile_rules`` folds every keyword and word-pack term (NFKC width folding, traditional →
simplified, case folding — the character-level steps of ``kefu.nlp.normalise``) into ONE
Aho-Corasick automaton, every regex into one combined gate pattern plus the individual
patterns, and keeps the timing and sentiment checks. Messages are folded character by
character into a copy of the *same length*, so every span points into the original text.

Pure functions: no database, no clock (``now`` is an argument), no I/O.
"""

from __future__ import annotations

import logging
import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ahocorasick
import regex

from kefu.nlp.normalise import strip_symbols, to_simplified
from kefu.nlp.sentiment import anger, dissatisfaction
from kefu.qa.pii import find_pii
from kefu.qa.rules import (
    AGENT,
    AnyRule,
    CombinationRule,
    ConversationFacts,
    FactRule,
    KeywordRule,
    Kind,
    Message,
    PiiKind,
    PiiRule,
    RegexRule,
    Role,
    ScriptRule,
    SentimentRule,
    TimingRule,
    WordPack,
    WordpackRule,
)
from kefu.qa.wordpacks import DEFAULT_PACKS

log = logging.getLogger(__name__)

#: characters of a message that are inspected; the rest of a huge paste is ignored
MAX_MESSAGE_CHARS = 10_000
#: messages of one conversation; ``inspect`` refuses a larger one (``ValueError``)
MAX_CONVERSATION_MESSAGES = 10_000

Span = tuple[int, int]
_Use = Literal["term", "near", "exclude", "then"]


class _FoldTable(dict[int, str]):
    """``str.translate`` table folding one character to one character, filled on demand."""

    def __missing__(self, key: int) -> str:
        ch = chr(key)
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) != 1:
            folded = ch
        simple = to_simplified(folded)
        if len(simple) == 1:
            folded = simple
        lower = folded.casefold()
        if len(lower) == 1:
            folded = lower
        self[key] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Case/width/traditional folding that keeps the length: ``fold(t)[i]`` is ``t[i]`` folded,
    so spans found in the folded copy are spans of ``t``."""
    return text.translate(_FOLD)


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


@dataclass(frozen=True, slots=True)
class Hit:
    rule_id: str
    rule_name: str
    kind: Kind
    message_index: int | None
    span: Span | None
    deduction: float


@dataclass(frozen=True, slots=True)
class _TermUse:
    rule: int
    use: _Use


@dataclass(frozen=True, slots=True)
class _LexiconRule:
    """A keyword or word-pack rule, compiled."""

    index: int
    rule: KeywordRule | WordpackRule
    terms: frozenset[str]
    mode: str
    n: int
    has_near: bool
    within: int


@dataclass(frozen=True, slots=True)
class _RegexCompiled:
    index: int
    rule: RegexRule
    pattern: Any  # regex.Pattern (the ``regex`` module: matching with a timeout)
    exclude: tuple[Any, ...]
    #: literals of which one must be in a text the pattern matches (None: unknown)
    needs: tuple[str, ...] | None
    #: the pattern cannot match a text without a digit
    needs_digit: bool


_DIGIT = re.compile(r"\d")
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
            getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT))


def _needs(items: Iterable[tuple[Any, Any]]) -> tuple[str, ...] | None:
    """From a parsed regex sequence: literals of which one must occur in any match (the
    strongest such requirement of the sequence), or None."""
    runs: list[tuple[str, ...]] = []
    cur: list[str] = []
    for op, av in items:
        if op is sre_constants.LITERAL:
            cur.append(chr(av))
            continue
        if cur:
            runs.append(("".join(cur),))
            cur = []
        sub: tuple[str, ...] | None = None
        if op is sre_constants.SUBPATTERN:
            sub = _needs(av[-1])
        elif op in _REPEATS and av[0] >= 1:
            sub = _needs(av[2])
        elif op is sre_constants.BRANCH:
            alts = [_needs(a) for a in av[1]]
            if all(alts):
                sub = tuple(x for a in alts if a for x in a)
        elif op is sre_constants.IN and av and all(o is sre_constants.LITERAL for o, _ in av):
            sub = tuple(chr(v) for _, v in av)
        if sub:
            runs.append(sub)
    if cur:
        runs.append(("".join(cur),))
    return max(runs, key=lambda alts: (min(len(a) for a in alts), -len(alts)), default=None)


def _digit_class(av: Any) -> bool:
    return all((o is sre_constants.CATEGORY and v is sre_constants.CATEGORY_DIGIT)
               or (o is sre_constants.RANGE and v[0] >= 48 and v[1] <= 57)
               or (o is sre_constants.LITERAL and 48 <= v <= 57) for o, v in av) and bool(av)


def _needs_digit(items: Iterable[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op is sre_constants.IN and _digit_class(av):
            return True
        if op is sre_constants.SUBPATTERN and _needs_digit(av[-1]):
            return True
        if op in _REPEATS and av[0] >= 1 and _needs_digit(av[2]):
            return True
    return False


def _walk(items: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """Every (op, argument) of a parsed pattern, nested ones included."""
    for op, av in items:
        yield op, av
        for part in av if isinstance(av, list | tuple) else ():
            if isinstance(part, sre_parse.SubPattern):
                yield from _walk(part)
            elif isinstance(part, list):
                for alt in part:
                    if isinstance(alt, sre_parse.SubPattern):
                        yield from _walk(alt)


def _prefilter(pattern: str) -> tuple[tuple[str, ...] | None, bool]:
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None, False
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None, False
    items = list(parsed)
    for op, av in _walk(items):  # a scoped (?i:…) changes what a literal matches
        if op is sre_constants.SUBPATTERN and av[1] & re.IGNORECASE:
            return None, False
    return _needs(items), _needs_digit(items)


def _refers_to_groups(pattern: str) -> bool:
    """Back-references or conditionals: the group numbers shift inside a joined gate."""
    try:
        items = list(sre_parse.parse(pattern))
    except re.error:
        return True
    return any(op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS)
               for op, _ in _walk(items))


@dataclass(frozen=True, slots=True)
class _RoleRules:
    """The rules that check one role's messages, sorted by kind."""

    active: frozenset[int]
    lexicon: tuple[_LexiconRule, ...]
    lexicon_at: Mapping[int, _LexiconRule]
    lexicon_none: frozenset[int]
    regexes: tuple[_RegexCompiled, ...]
    regexes_ungated: frozenset[int]
    pii: tuple[PiiRule, ...]
    pii_kinds: frozenset[PiiKind]
    sentiment: tuple[SentimentRule, ...]
    #: script rules (indexes) whose phrases are recorded for the conversation-level check
    script: tuple[int, ...] = ()
    #: escalation-mode sentiment rules: the message's sentiment scores are recorded
    escalation: tuple[SentimentRule, ...] = ()
    #: the sentiment measures any of the role's sentiment rules use
    measures: frozenset[str] = frozenset()


@dataclass
class _ConvState:
    """What the per-message pass records for the conversation-level checks."""

    #: script rule index → (message index, "term" | "then", start, end)
    script: dict[int, list[tuple[int, str, int, int]]] = field(
        default_factory=lambda: defaultdict(list))
    #: (message index, role, {measure: score})
    anger: list[tuple[int, Role, dict[str, float]]] = field(default_factory=list)


@dataclass(frozen=True)
class CompiledRules:
    """Everything ``inspect`` and ``check_message`` need; build with ``compile_rules``."""

    rules: tuple[AnyRule, ...]
    automaton: Any
    lexicon: tuple[_LexiconRule, ...]
    regexes: tuple[_RegexCompiled, ...]
    #: gate for the patterns without a literal or digit prefilter
    regex_gate: Any
    #: Aho-Corasick over the patterns' required literals → rule indexes
    regex_literals: Any
    #: rule indexes of the patterns that need a digit (and no literal)
    regex_digit: frozenset[int]
    pii: tuple[PiiRule, ...]
    timing: tuple[TimingRule, ...]
    sentiment: tuple[SentimentRule, ...]
    by_role: Mapping[Role, _RoleRules] = field(default_factory=dict)
    #: (rule index, rule) of the script rules
    scripts: tuple[tuple[int, ScriptRule], ...] = ()
    facts: tuple[FactRule, ...] = ()
    #: in dependency order (a combination after the combinations it uses)
    combinations: tuple[CombinationRule, ...] = ()

    def rule(self, rule_id: str) -> AnyRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _hit(rule: AnyRule, index: int | None, span: Span | None) -> Hit:
    return Hit(rule.id, rule.name, rule.kind, index, span, rule.deduction)


def _regex_prefilters(regexes: Sequence[_RegexCompiled]) -> tuple[
        Any, frozenset[int], list[_RegexCompiled], Any]:
    """An automaton over the patterns' required literals, the patterns that need a digit, and
    one alternation gating the patterns with neither."""
    literal_uses: dict[str, set[int]] = defaultdict(set)
    for r in regexes:
        for lit in r.needs or ():
            literal_uses[lit].add(r.index)
    literals: Any = None
    if literal_uses:
        literals = ahocorasick.Automaton(ahocorasick.STORE_ANY)
        for lit, positions in literal_uses.items():
            literals.add_word(lit, frozenset(positions))
        literals.make_automaton()
    digit = frozenset(r.index for r in regexes if not r.needs and r.needs_digit)
    ungated = [r for r in regexes if not r.needs and not r.needs_digit]
    gate: Any = None
    if ungated and not any(_refers_to_groups(r.rule.pattern) for r in ungated):
        try:
            gate = regex.compile("|".join(f"(?:{r.rule.pattern})" for r in ungated))
        except regex.error:  # e.g. duplicate group names: run every pattern instead
            gate = None
    return literals, digit, ungated, gate


def compile_rules(
    rules: Iterable[AnyRule], packs: Mapping[str, WordPack] | None = None
) -> CompiledRules:
    """Compile enabled rules. ``packs`` defaults to ``wordpacks.DEFAULT_PACKS``; a rule naming a
    pack that is missing raises ``ValueError``, as do two rules with the same id."""
    packs = DEFAULT_PACKS if packs is None else packs
    kept = tuple(r for r in rules if r.enabled)
    ids = [r.id for r in kept]
    if len(ids) != len(set(ids)):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")

    uses: dict[str, set[tuple[int, _Use]]] = defaultdict(set)
    lexicon: list[_LexiconRule] = []
    regexes: list[_RegexCompiled] = []

    def add(term: str, index: int, use: _Use) -> str:
        folded = fold(term.strip())
        if folded:
            uses[folded].add((index, use))
        return folded

    for i, rule in enumerate(kept):
        if isinstance(rule, KeywordRule):
            terms = frozenset(t for t in (add(x, i, "term") for x in rule.terms) if t)
            for x in rule.near:
                add(x, i, "near")
            for x in rule.exclude:
                add(x, i, "exclude")
            if rule.mode == "at_least" and rule.n > len(terms):
                raise ValueError(f"rule {rule.id}: at_least n={rule.n} but only {len(terms)} "
                                 "different terms once case, width and 繁/简 are folded")
            lexicon.append(_LexiconRule(i, rule, terms, rule.mode, rule.n, bool(rule.near),
                                        rule.within))
        elif isinstance(rule, WordpackRule):
            pack = packs.get(rule.pack)
            if pack is None:
                raise ValueError(f"rule {rule.id}: unknown word pack {rule.pack!r}")
            terms = frozenset(t for t in (add(x, i, "term") for x in pack.terms) if t)
            for x in (*pack.exclusions, *rule.exclude):
                add(x, i, "exclude")
            lexicon.append(_LexiconRule(i, rule, terms, "any", 1, False, 0))
        elif isinstance(rule, RegexRule):
            needs, needs_digit = _prefilter(rule.pattern)
            regexes.append(_RegexCompiled(
                i, rule, regex.compile(rule.pattern),
                tuple(regex.compile(p) for p in rule.exclude),
                needs, needs_digit))
        elif isinstance(rule, ScriptRule):
            for x in rule.terms:
                add(x, i, "term")
            for x in rule.then:
                add(x, i, "then")
    combinations = _order_combinations(kept)

    automaton: Any = None
    if uses:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
        for term, entries in uses.items():
            automaton.add_word(term, (term, tuple(_TermUse(r, u) for r, u in sorted(entries))))
        automaton.make_automaton()

    literals, digit, ungated, gate = _regex_prefilters(regexes)

    by_role: dict[Role, _RoleRules] = {}
    for role in ("customer", "agent", "bot"):
        active = frozenset(i for i, r in enumerate(kept) if role in r.scope
                           and not isinstance(r, CombinationRule | FactRule | TimingRule))
        pii = tuple(r for r in kept if isinstance(r, PiiRule) and role in r.scope)
        feel = [r for r in kept if isinstance(r, SentimentRule) and role in r.scope]
        by_role[role] = _RoleRules(
            active=active,
            lexicon=tuple(lx for lx in lexicon if lx.index in active),
            lexicon_at={lx.index: lx for lx in lexicon if lx.index in active},
            lexicon_none=frozenset(lx.index for lx in lexicon
                                   if lx.index in active and lx.mode == "none"),
            regexes=tuple(r for r in regexes if r.index in active),
            regexes_ungated=frozenset(r.index for r in ungated if r.index in active),
            pii=pii,
            pii_kinds=frozenset(k for r in pii for k in r.kinds),
            sentiment=tuple(r for r in feel if r.mode == "level"),
            script=tuple(i for i, r in enumerate(kept)
                         if isinstance(r, ScriptRule) and role in r.scope),
            escalation=tuple(r for r in feel if r.mode == "escalation"),
            measures=frozenset(r.measure for r in feel),
        )
    return CompiledRules(
        rules=kept,
        automaton=automaton,
        lexicon=tuple(lexicon),
        regexes=tuple(regexes),
        regex_gate=gate,
        regex_literals=literals,
        regex_digit=digit,
        pii=tuple(r for r in kept if isinstance(r, PiiRule)),
        timing=tuple(r for r in kept if isinstance(r, TimingRule)),
        sentiment=tuple(r for r in kept if isinstance(r, SentimentRule)),
        by_role=by_role,
        scripts=tuple((i, r) for i, r in enumerate(kept) if isinstance(r, ScriptRule)),
        facts=tuple(r for r in kept if isinstance(r, FactRule)),
        combinations=combinations,
    )


def _order_combinations(kept: Sequence[AnyRule]) -> tuple[CombinationRule, ...]:
    """Combinations in dependency order; an unknown reference or a cycle is a ``ValueError``
    naming the rule."""
    ids = {r.id for r in kept}
    combos = {r.id: r for r in kept if isinstance(r, CombinationRule)}
    for c in combos.values():
        for ref in c.references:
            if ref not in ids:
                raise ValueError(f"rule {c.id}: unknown rule {ref!r} (missing or disabled)")
    ordered: list[CombinationRule] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(c: CombinationRule) -> None:
        if state.get(c.id) == 2:
            return
        if state.get(c.id) == 1:
            raise ValueError(f"rule {c.id}: combinations use each other in a cycle")
        state[c.id] = 1
        for ref in c.references:
            if ref in combos:
                visit(combos[ref])
        state[c.id] = 2
        ordered.append(c)

    for c in combos.values():
        visit(c)
    return tuple(ordered)


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _longest_leftmost(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    last_end = -1
    for s in sorted(spans, key=lambda x: (x[0], -x[1])):
        if s[0] >= last_end:
            out.append(s)
            last_end = s[1]
    return out


def _near_partner(span: Span, nears: list[Span], within: int) -> Span | None:
    for n in nears:
        gap = n[0] - span[1] if n[0] >= span[1] else span[0] - n[1]
        if not _overlaps(span, n) and gap <= within:
            return n
    return None


_Found = dict[int, dict[_Use, list[tuple[int, int, str]]]]


def _scan(compiled: CompiledRules, role_rules: _RoleRules, folded: str) -> _Found:
    """Every term occurrence in one message, per rule and use (one automaton pass)."""
    active = role_rules.active
    found: _Found = defaultdict(lambda: defaultdict(list))
    if compiled.automaton is not None:
        length = len(folded)
        for end, (term, entries) in compiled.automaton.iter(folded):
            start = end - len(term) + 1
            if (_is_word_char(term[0]) and start > 0 and _is_word_char(folded[start - 1])) or (
                    _is_word_char(term[-1]) and end + 1 < length
                    and _is_word_char(folded[end + 1])):
                continue
            for e in entries:
                if e.rule in active:
                    found[e.rule][e.use].append((start, end + 1, term))
    return found


def _lexicon_hits(role_rules: _RoleRules, found: _Found, index: int | None) -> list[Hit]:
    hits: list[Hit] = []
    lexicon = role_rules.lexicon_at
    # only rules with an occurrence can hit — and the "none" rules, which hit without one
    todo = sorted(found.keys() | role_rules.lexicon_none) if role_rules.lexicon_none \
        else sorted(found)
    for i in todo:
        lx = lexicon.get(i)
        if lx is None:
            continue
        got = found.get(i)
        occurrences = _longest_leftmost(got["term"]) if got else []
        if got and got["exclude"]:
            excl = got["exclude"]
            occurrences = [o for o in occurrences
                           if not any(_overlaps((o[0], o[1]), (x[0], x[1])) for x in excl)]
        spans: list[tuple[Span, str]] = []
        for o in occurrences:
            span: Span = (o[0], o[1])
            if lx.has_near:
                partner = _near_partner(span, [(x[0], x[1]) for x in got["near"]] if got else [],
                                        lx.within)
                if partner is None:
                    continue
                span = (min(span[0], partner[0]), max(span[1], partner[1]))
            spans.append((span, o[2]))
        if lx.mode == "any":
            hits.extend(_hit(lx.rule, index, s) for s, _ in spans)
            continue
        distinct = {t for _, t in spans}
        if lx.mode == "none":
            if not distinct:
                hits.append(_hit(lx.rule, index, None))
            continue
        needed = len(lx.terms) if lx.mode == "all" else lx.n
        if len(distinct & lx.terms) >= needed:
            hits.append(_hit(lx.rule, index, (min(s[0] for s, _ in spans),
                                               max(s[1] for s, _ in spans))))
    return hits


def _regex_hits(compiled: CompiledRules, role_rules: _RoleRules, folded: str,
                index: int | None) -> list[Hit]:
    regexes = role_rules.regexes
    if not regexes:
        return []
    # the prefilter: a pattern runs only when a literal it needs (or a digit) is there
    maybe: set[int] = set()
    if compiled.regex_literals is not None:
        for _, positions in compiled.regex_literals.iter(folded):
            maybe.update(positions)
    if compiled.regex_digit and _DIGIT.search(folded) is not None:
        maybe.update(compiled.regex_digit)
    ungated = role_rules.regexes_ungated
    if ungated and (compiled.regex_gate is None
                    or _spans(compiled.regex_gate, folded, "(gate)", first=True) != []):
        maybe.update(ungated)
    if not maybe:
        return []
    hits: list[Hit] = []
    for r in regexes:
        if r.index not in maybe:
            continue
        found = _spans(r.pattern, folded, r.rule.id)
        if not found:
            continue
        excluded: list[Span] = []
        for x in r.exclude:
            excluded += _spans(x, folded, r.rule.id) or []
        hits.extend(_hit(r.rule, index, span) for span in found
                    if span[1] > span[0] and not any(_overlaps(span, x) for x in excluded))
    return hits


#: the most one pattern may spend on one message (seconds); a pattern that runs longer is
#: skipped for that message (logged) — the bound on a regex that backtracks badly
REGEX_TIMEOUT = 0.05
_slow_patterns: set[str] = set()


def _spans(pattern: Any, text: str, rule_id: str, *, first: bool = False) -> list[Span] | None:
    """Match spans of a ``regex`` pattern within ``REGEX_TIMEOUT``; None when it ran out."""
    try:
        if first:
            m = pattern.search(text, timeout=REGEX_TIMEOUT)
            return [] if m is None else [m.span()]
        return [m.span() for m in pattern.finditer(text, timeout=REGEX_TIMEOUT)]
    except TimeoutError:
        if rule_id not in _slow_patterns:
            _slow_patterns.add(rule_id)
            log.warning("qa: rule %s: regular expression ran out of time on a %d-character "
                        "message; skipped there", rule_id, len(text))
        return None


def _message_hits(compiled: CompiledRules, role: Role, text: str, index: int | None,
                  state: _ConvState | None = None) -> list[Hit]:
    role_rules = compiled.by_role.get(role)
    if role_rules is None or not role_rules.active or not text:
        return []
    text = text[:MAX_MESSAGE_CHARS]
    folded = fold(text)
    # invisible format characters (zero-width space, soft hyphen …) cannot hide a word: the
    # stages run on a copy without them and the spans are mapped back to the original
    keep: list[int] | None = None
    if not folded.isprintable() and _INVISIBLE.search(folded) is not None:  # fast path first
        keep = [i for i, ch in enumerate(folded) if _INVISIBLE.match(ch) is None]
        folded = "".join(folded[i] for i in keep)
    hits: list[Hit] = []
    scripts = role_rules.script if state is not None and index is not None else ()
    if role_rules.lexicon or scripts:
        found = _scan(compiled, role_rules, folded)
        if role_rules.lexicon:
            hits = _lexicon_hits(role_rules, found, index)
        if state is not None and index is not None:
            for si in scripts:
                got = found.get(si)
                if got:
                    state.script[si].extend((index, use, *_back((a, b), keep))
                                            for use in ("term", "then")
                                            for a, b, _ in got.get(use, ()))
    hits += _regex_hits(compiled, role_rules, folded, index)
    if role_rules.pii:
        matches = find_pii(folded, role_rules.pii_kinds)
        for rule in role_rules.pii:
            hits.extend(_hit(rule, index, (m.start, m.end)) for m in matches
                        if m.kind in rule.kinds)
    record = state is not None and index is not None and bool(role_rules.escalation)
    if role_rules.sentiment or record:
        scores: dict[str, float] = {}
        if "anger" in role_rules.measures:
            scores["anger"] = anger(text, folded=folded)
        if "dissatisfaction" in role_rules.measures:
            scores["dissatisfaction"] = dissatisfaction(text, folded=folded)
        hits.extend(_hit(r, index, None) for r in role_rules.sentiment
                    if scores[r.measure] >= r.threshold)
        if record and state is not None and index is not None:
            state.anger.append((index, role, scores))
    if keep is not None:
        hits = [h if h.span is None else Hit(h.rule_id, h.rule_name, h.kind, h.message_index,
                                             _back(h.span, keep), h.deduction) for h in hits]
    return hits


_INVISIBLE = regex.compile(r"\p{Cf}")


def _back(span: Span, keep: list[int] | None) -> Span:
    """A span of the copy without invisible characters → the same span in the original."""
    if keep is None:
        return span
    return (keep[span[0]], keep[span[1] - 1] + 1) if span[1] > span[0] else (keep[span[0]],) * 2


def check_message(compiled: CompiledRules, role: Role, text: str, *,
                  index: int | None = None) -> list[Hit]:
    """Hits of one message (keyword, word pack, regex, personal data, sentiment; timing needs a
    conversation). The real-time path: an agent's draft is checked before it is sent."""
    return _message_hits(compiled, role, text, index)


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def _timing_hits(rule: TimingRule, messages: Sequence[Message],
                 now: datetime | None) -> list[Hit]:
    if not messages:
        return []
    replies = rule.scope
    if rule.check == "duration":
        start, end = messages[0].ts, messages[-1].ts
        return [_hit(rule, None, None)] if _seconds(start, end) > rule.seconds else []
    if rule.check in ("silence", "interruption"):
        return _call_hits(rule, messages)
    if rule.check == "unanswered":
        waiting: datetime | None = None
        for m in messages:
            if m.role == "customer":
                waiting = waiting or m.ts
            elif m.role in replies:
                waiting = None
        if waiting is None:
            return []
        end = now if now is not None else max(m.end or m.ts for m in messages)
        return [_hit(rule, None, None)] if _seconds(waiting, end) > rule.seconds else []
    first_customer = next((i for i, m in enumerate(messages) if m.role == "customer"), None)
    if first_customer is None:
        return []
    hits: list[Hit] = []
    waiting_since: datetime | None = None
    seen_reply = False
    for i, m in enumerate(messages):
        if i < first_customer:
            continue
        if m.role == "customer":
            if waiting_since is None:
                waiting_since = m.ts
        elif m.role == "bot" and "bot" not in replies:
            # the bot answered: a person's reply is due from the bot's last message (the
            # handoff), not from the customer's first words to the bot
            if waiting_since is not None:
                waiting_since = m.ts
        elif m.role in replies:
            if waiting_since is not None:
                late = _seconds(waiting_since, m.ts) > rule.seconds
                # first_reply judges only the first reply, reply_gap every reply but the first
                if late and (rule.check == "first_reply") == (not seen_reply):
                    hits.append(_hit(rule, i, None))
            seen_reply = True
            waiting_since = None
            if rule.check == "first_reply":
                break
    # nobody replied: a hit when the customer was left waiting — the conversation ends on the
    # customer's words (a conversation the bot closed on its own answer is not judged)
    if (rule.check == "first_reply" and not seen_reply and waiting_since is not None
            and messages[-1].role == "customer"):
        end = now if now is not None else messages[-1].ts
        if _seconds(waiting_since, end) > rule.seconds:
            hits.append(_hit(rule, None, None))
    return hits


def _call_hits(rule: TimingRule, messages: Sequence[Message]) -> list[Hit]:
    """Silence before, or interruption by, a turn of a role in scope (call transcripts; a
    chat message's end is its send time)."""
    hits: list[Hit] = []
    latest_end: datetime | None = None
    last_end_by_role: dict[Role, datetime] = {}
    for i, m in enumerate(messages):
        end = m.end or m.ts
        if i and m.role in rule.scope:
            if rule.check == "silence":
                if latest_end is not None and _seconds(latest_end, m.ts) > rule.seconds:
                    hits.append(_hit(rule, i, None))
            else:
                other = max((e for r, e in last_end_by_role.items() if r != m.role),
                            default=None)
                if other is not None and _seconds(m.ts, other) > rule.seconds:
                    hits.append(_hit(rule, i, None))
        latest_end = end if latest_end is None else max(latest_end, end)
        last_end_by_role[m.role] = max(last_end_by_role.get(m.role, end), end)
    return hits


def _script_hits(compiled: CompiledRules, messages: Sequence[Message],
                 state: _ConvState) -> list[Hit]:
    hits: list[Hit] = []
    for index, rule in compiled.scripts:
        in_scope = [i for i, m in enumerate(messages) if m.role in rule.scope and m.text]
        if not in_scope:
            continue
        seen = state.script.get(index, [])
        with_term = {i for i, use, _, _ in seen if use == "term"}
        if rule.check == "opening":
            first = in_scope[:rule.window]
            if not with_term.intersection(first):
                hits.append(_hit(rule, first[0], None))
        elif rule.check == "closing":
            last = in_scope[-rule.window:]
            if not with_term.intersection(last):
                hits.append(_hit(rule, last[-1], None))
        else:
            thens = sorted((i, a, b) for i, use, a, b in seen if use == "then")
            if not thens:
                continue
            i, a, b = thens[0]
            before = any(ti < i or (ti == i and tb <= a)
                         for ti, use, _, tb in seen if use == "term")
            if not before:
                hits.append(_hit(rule, i, (a, b)))
    return hits


def _escalation_hits(compiled: CompiledRules, state: _ConvState) -> list[Hit]:
    hits: list[Hit] = []
    for rule in (r for r in compiled.sentiment if r.mode == "escalation"):
        calm = False
        for index, role, scores in state.anger:
            if role not in rule.scope:
                continue
            value = scores[rule.measure]
            if value >= rule.threshold and calm:
                hits.append(_hit(rule, index, None))
                break
            if value <= rule.threshold / 2:
                calm = True
    return hits


def _fact_hits(compiled: CompiledRules, messages: Sequence[Message],
               facts: ConversationFacts | None) -> list[Hit]:
    f = facts or ConversationFacts()
    hits: list[Hit] = []
    for rule in compiled.facts:
        if rule.fact == "transfers":
            hit = f.transfers > rule.n
        elif rule.fact == "low_csat":
            hit = f.csat is not None and f.csat <= rule.n
        elif rule.fact == "bot_failed_handoff":
            hit = f.bot_failed_handoff
        elif rule.fact == "repeat_contact":
            hit = f.repeat_contact
        else:  # repeated_question
            counts: dict[str, int] = defaultdict(int)
            for i, m in enumerate(messages):
                if m.role not in rule.scope:
                    continue
                key = strip_symbols(fold(m.text[:MAX_MESSAGE_CHARS]))
                if len(key.replace(" ", "")) < 4:
                    continue
                counts[key] += 1
                if counts[key] == rule.n:
                    hits.append(_hit(rule, i, None))
            continue
        if hit:
            hits.append(_hit(rule, None, None))
    return hits


def _combination_hits(compiled: CompiledRules, hits: Sequence[Hit]) -> list[Hit]:
    by_rule: dict[str, list[Hit]] = defaultdict(list)
    for h in hits:
        by_rule[h.rule_id].append(h)
    out: list[Hit] = []
    for rule in compiled.combinations:

        def holds(got: Mapping[str, list[Hit]], rule: CombinationRule = rule) -> bool:
            return (all(got.get(r) for r in rule.all_of)
                    and (not rule.any_of or any(got.get(r) for r in rule.any_of))
                    and not any(got.get(r) for r in rule.none_of))

        made: list[Hit] = []
        if rule.after is None:
            if holds(by_rule):
                made.append(_hit(rule, None, None))
        else:
            done: set[int] = set()
            for a in by_rule.get(rule.after, []):
                start = a.message_index
                if start is None or start in done:
                    continue
                done.add(start)
                window = {rid: [h for h in hs if h.message_index is not None
                                and start <= h.message_index <= start + rule.within]
                          for rid, hs in by_rule.items() if rid != rule.after}
                if holds(window):
                    used = [h.message_index for r in (*rule.all_of, *rule.any_of)
                            for h in window.get(r, []) if h.message_index is not None]
                    made.append(_hit(rule, max(used, default=start), None))
        by_rule[rule.id].extend(made)
        out.extend(made)
    return out


def inspect(compiled: CompiledRules, messages: Sequence[Message], *,
            now: datetime | None = None, facts: ConversationFacts | None = None) -> list[Hit]:
    """Every hit of a conversation, message hits in message order then conversation hits.
    ``now`` (aware) lets an unanswered, still-open conversation fail the first-reply check;
    ``facts`` feed the ``fact`` rules (transfers, CSAT, bot failure, repeat contact)."""
    if len(messages) > MAX_CONVERSATION_MESSAGES:
        raise ValueError(f"{len(messages)} messages: at most {MAX_CONVERSATION_MESSAGES} "
                         "per conversation are inspected")
    hits: list[Hit] = []
    state = _ConvState()
    for i, m in enumerate(messages):
        hits += _message_hits(compiled, m.role, m.text, i, state)
    if compiled.scripts:
        hits += _script_hits(compiled, messages, state)
    if state.anger:
        hits += _escalation_hits(compiled, state)
    for rule in compiled.timing:
        hits += _timing_hits(rule, messages, now)
    if compiled.facts:
        hits += _fact_hits(compiled, messages, facts)
    if compiled.combinations:
        hits += _combination_hits(compiled, hits)
    return hits


# ---------------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class ScoreItem:
    deduction: float
    per_hit: bool
    cap: float | None
    fatal: bool
    group: str


@dataclass(frozen=True)
class Scorecard:
    """Base score, an item per rule id and a weight per group (default 1)."""

    items: Mapping[str, ScoreItem]
    base: float = 100.0
    group_weights: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def for_rules(cls, rules: Iterable[AnyRule], *, base: float = 100.0,
                  group_weights: Mapping[str, float] | None = None) -> Scorecard:
        items = {r.id: ScoreItem(r.deduction, r.per_hit, r.cap, r.fatal, r.group)
                 for r in rules}
        return cls(items=items, base=base, group_weights=dict(group_weights or {}))


@dataclass(frozen=True, slots=True)
class Score:
    total: float
    fatal: bool
    #: weighted deduction per group (negative: a bonus)
    per_group: dict[str, float]


OTHER_GROUP = "其他"


def score(hits: Iterable[Hit], scorecard: Scorecard) -> Score:
    """Per rule: its deduction once (or per hit when ``per_hit``), at most ``cap``; per group:
    the sum times the group weight; total = base − all groups, kept within [0, base]; any hit
    of a fatal item makes the total 0. A hit whose rule is not on the scorecard deducts its own
    ``deduction`` per hit, in group ``其他``."""
    per_rule: dict[str, list[Hit]] = defaultdict(list)
    for h in hits:
        per_rule[h.rule_id].append(h)
    per_group: dict[str, float] = defaultdict(float)
    fatal = False
    for rule_id, rule_hits in per_rule.items():
        item = scorecard.items.get(rule_id)
        if item is None:
            per_group[OTHER_GROUP] += sum(h.deduction for h in rule_hits) * \
                scorecard.group_weights.get(OTHER_GROUP, 1.0)
            continue
        fatal = fatal or item.fatal
        amount = item.deduction * (len(rule_hits) if item.per_hit else 1)
        if item.cap is not None:
            amount = max(-item.cap, min(item.cap, amount))
        per_group[item.group] += amount * scorecard.group_weights.get(item.group, 1.0)
    total = 0.0 if fatal else scorecard.base - sum(per_group.values())
    total = max(0.0, min(scorecard.base, total))
    return Score(total=round(total, 4), fatal=fatal, per_group=dict(per_group))


# ------------------------------------------------------------------------------ default set


def default_rules() -> tuple[AnyRule, ...]:
    """The built-in rule set (used by ``kefu qa inspect`` when no rules are given)."""
    return (
        WordpackRule(id="ad_law_absolute", name="广告法绝对化用语", pack="ad_law_absolute",
                     deduction=5, per_hit=True, cap=20, group="合规"),
        WordpackRule(id="risky_promise", name="风险承诺", pack="risky_promises",
                     deduction=5, per_hit=True, cap=20, group="合规", alert=True),
        WordpackRule(id="agent_abuse", name="辱骂/不文明用语", pack="abusive",
                     deduction=100, fatal=True, group="服务态度", alert=True, block=True),
        WordpackRule(id="competitor", name="提及竞品", pack="competitors",
                     deduction=3, group="合规"),
        PiiRule(id="pii_agent", name="客服发送个人敏感信息",
                kinds=frozenset({"mobile", "id_card", "bank_card"}), deduction=10,
                per_hit=True, cap=30, group="合规", block=True),
        PiiRule(id="pii_email_agent", name="客服发送邮箱地址", kinds=frozenset({"email"}),
                deduction=2, group="合规"),
        TimingRule(id="first_reply_15s", name="首次响应超过15秒", check="first_reply",
                   seconds=15, scope=AGENT, deduction=5, group="服务态度"),
        TimingRule(id="reply_gap_120s", name="回复间隔超过2分钟", check="reply_gap",
                   seconds=120, deduction=2, per_hit=True, cap=10, group="服务态度"),
        SentimentRule(id="customer_angry", name="客户情绪激动", threshold=1.0,
                      deduction=5, group="服务态度", alert=True),
    )


def default_scorecard() -> Scorecard:
    """Base 100, the default rules' items, every group weighted 1."""
    return Scorecard.for_rules(default_rules())
