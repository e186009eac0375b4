"""Rules, word packs and scorecards as plain JSON-able dicts: the one format shared by the
rules file of ``kefu qa inspect --rules``, the database (a stored rule's ``definition``) and the
API.

A rule is ``{"kind": "keyword", "id": …, "name": …, <the fields of its dataclass>}``: lists
for tuples and sets, every field but ``kind``/``id``/``name`` (and the kind's required ones)
optional. Validation is pydantic's over the dataclasses of ``kefu.qa.rules`` (whose own
``__post_init__`` checks run too); every problem is reported as a ``SpecError`` naming the
field path (``rules[3].pattern``) and the reason, so a bad rule is refused when it is saved or
loaded — never while a conversation is being inspected.

A rules file is either a JSON list of rules or an object::

    {"packs": {"name": {"terms": [...], "exclusions": [...]}},   # merged over the built-in packs
     "rules": [...],
     "scorecard": {"base": 100, "group_weights": {"合规": 1.5}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kefu.qa.engine import Scorecard, compile_rules
from kefu.qa.rules import MAX_NUMBER, RULE_TYPES, AnyRule, WordPack
from kefu.qa.wordpacks import DEFAULT_PACKS

#: largest rules file / stored definition we accept
MAX_RULES = 20_000
MAX_PACK_TERMS = 50_000


class SpecError(ValueError):
    """A rule, pack or scorecard that cannot be used; ``errors`` lists ``(path, reason)``."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in self.errors))


_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(cls: type[AnyRule]) -> TypeAdapter[Any]:
    got = _ADAPTERS.get(cls.kind)
    if got is None:
        got = _ADAPTERS[cls.kind] = TypeAdapter(cls)
    return got


def _loc(prefix: str, loc: Sequence[Any]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reason(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def rule_from_dict(data: object, *, path: str = "") -> AnyRule:
    """Build and validate one rule; raises ``SpecError`` naming each bad field."""
    if not isinstance(data, Mapping):
        raise SpecError([(path, "a rule must be a JSON object")])
    kind = data.get("kind")
    cls = RULE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SpecError([(_loc(path, ["kind"]),
                          f"unknown rule kind {kind!r}; one of {', '.join(sorted(RULE_TYPES))}")])
    known = {f.name for f in fields(cls)}
    extra = sorted(str(k) for k in data if k != "kind" and k not in known)
    if extra:
        raise SpecError([(_loc(path, [k]), "unknown field") for k in extra])
    body = {k: v for k, v in data.items() if k != "kind"}
    try:
        rule: AnyRule = _adapter(cls).validate_python(body)
    except ValidationError as exc:
        raise SpecError([(_loc(path, err["loc"]), _reason(err)) for err in exc.errors()]) from None
    except ValueError as exc:  # a check outside pydantic's wrapping
        raise SpecError([(path, str(exc))]) from None
    return rule


def rule_to_dict(rule: AnyRule) -> dict[str, Any]:
    """The JSON-able form of a rule (sets sorted, so equal rules give equal dicts)."""
    out: dict[str, Any] = {"kind": rule.kind}
    for f in fields(rule):
        value = getattr(rule, f.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def pack_from_dict(name: str, data: object, *, path: str = "") -> WordPack:
    path = path or f"packs.{name}"
    if not isinstance(data, Mapping):
        raise SpecError([(path, "a word pack must be an object with terms and exclusions")])
    extra = sorted(str(k) for k in data if k not in ("terms", "exclusions"))
    if extra:
        raise SpecError([(f"{path}.{k}", "unknown field") for k in extra])
    errors: list[tuple[str, str]] = []
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("terms", "exclusions"):
        raw = data.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
            errors.append((f"{path}.{key}", "must be a list of strings"))
            continue
        if len(raw) > MAX_PACK_TERMS:
            errors.append((f"{path}.{key}", f"more than {MAX_PACK_TERMS} entries"))
            continue
        lists[key] = tuple(dict.fromkeys(t.strip() for t in raw if t.strip()))
    if errors:
        raise SpecError(errors)
    try:
        return WordPack(name, lists["terms"], lists["exclusions"])
    except ValueError as exc:
        raise SpecError([(f"{path}.terms", str(exc))]) from None


def pack_to_dict(pack: WordPack) -> dict[str, Any]:
    return {"terms": list(pack.terms), "exclusions": list(pack.exclusions)}


def scorecard_from_dict(data: object, rules: Sequence[AnyRule], *,
                        path: str = "scorecard") -> Scorecard:
    """``{"base": 100, "group_weights": {...}}``; items come from the rules' own scoring
    fields."""
    if data is None:
        return Scorecard.for_rules(rules)
    if not isinstance(data, Mapping):
        raise SpecError([(path, "must be an object")])
    extra = sorted(str(k) for k in data if k not in ("base", "group_weights"))
    if extra:
        raise SpecError([(f"{path}.{k}", "unknown field") for k in extra])
    base = data.get("base", 100)
    if isinstance(base, bool) or not isinstance(base, int | float) \
            or not math.isfinite(base) or not 0 < base <= MAX_NUMBER:
        raise SpecError([(f"{path}.base", "must be a positive number")])
    weights = data.get("group_weights", {})
    if not isinstance(weights, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            and 0 <= v <= MAX_NUMBER
            for v in weights.values()):
        raise SpecError([(f"{path}.group_weights",
                          "must map group names to non-negative numbers")])
    return Scorecard.for_rules(rules, base=float(base),
                               group_weights={str(k): float(v) for k, v in weights.items()})


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[AnyRule, ...]
    packs: Mapping[str, WordPack]
    scorecard: Scorecard


def ruleset_from_obj(data: object) -> RuleSet:
    """A rules file's parsed JSON → rules, packs (built-ins overlaid) and scorecard. Every
    bad rule is reported, not only the first."""
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, Mapping):
        raise SpecError([("", "a rules file is a JSON list of rules or an object with 'rules'")])
    extra = sorted(str(k) for k in data if k not in ("rules", "packs", "scorecard"))
    if extra:
        raise SpecError([(k, "unknown field") for k in extra])
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise SpecError([("rules", "must be a non-empty list of rules")])
    if len(raw_rules) > MAX_RULES:
        raise SpecError([("rules", f"more than {MAX_RULES} rules")])
    errors: list[tuple[str, str]] = []
    packs: dict[str, WordPack] = dict(DEFAULT_PACKS)
    raw_packs = data.get("packs", {})
    if not isinstance(raw_packs, Mapping):
        errors.append(("packs", "must be an object of word packs"))
    else:
        for name, body in raw_packs.items():
            try:
                packs[str(name)] = pack_from_dict(str(name), body)
            except SpecError as exc:
                errors += exc.errors
    rules: list[AnyRule] = []
    for i, raw in enumerate(raw_rules):
        try:
            rules.append(rule_from_dict(raw, path=f"rules[{i}]"))
        except SpecError as exc:
            errors += exc.errors
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.id in seen:
            errors.append((f"rules[{i}].id", f"duplicate rule id {rule.id!r}"))
        seen[rule.id] = i
    if errors:
        raise SpecError(errors)
    card = scorecard_from_dict(data.get("scorecard"), rules)
    try:  # unknown packs, references between rules: the compiler knows
        compile_rules(rules, packs)
    except ValueError as exc:
        raise SpecError([("rules", str(exc))]) from None
    return RuleSet(tuple(rules), packs, card)


def load_ruleset(text: str | bytes) -> RuleSet:
    """Parse a rules file (JSON text)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([("", f"not valid JSON: line {exc.lineno} column {exc.colno}: "
                              f"{exc.msg}")]) from None
    except UnicodeDecodeError:
        raise SpecError([("", "not UTF-8 text")]) from None
    return ruleset_from_obj(data)


def ruleset_to_obj(ruleset: RuleSet) -> dict[str, Any]:
    return {
        "packs": {n: pack_to_dict(p) for n, p in ruleset.packs.items()
                  if DEFAULT_PACKS.get(n) != p},
        "rules": [rule_to_dict(r) for r in ruleset.rules],
        "scorecard": {"base": ruleset.scorecard.base,
                      "group_weights": dict(ruleset.scorecard.group_weights)},
    }
