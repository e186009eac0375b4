"""Each workspace's rules, compiled once per version and kept in memory.

``QaRegistry.get(session, workspace_id)`` returns a ``WorkspaceRules``: the workspace's enabled
rules (the built-in default set while the workspace has never stored a rule), its word packs
(built-ins overlaid by the workspace's own) and scorecards. Compiled engines are cached per
(inbox, channel). The cache is dropped on ``qa.rules_changed`` in this process; other processes
notice a change within ``RECHECK_SECONDS`` through a cheap fingerprint query.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.core.events import Event, EventBus
from kefu.qa.engine import CompiledRules, Scorecard, ScoreItem, compile_rules, default_rules
from kefu.qa.models import QaRule, QaScorecard, QaWordPack
from kefu.qa.rules import AnyRule, CombinationRule, WordPack
from kefu.qa.spec import SpecError, rule_from_dict, rule_to_dict
from kefu.qa.wordpacks import DEFAULT_PACKS

RECHECK_SECONDS = 5.0
#: inbox channel type → the channel name rules use (``Rule.channels``)
RULE_CHANNELS = {"webchat": "web"}


def rule_channel(channel_type: str | None) -> str | None:
    """The rule channel of an inbox channel type (``webchat`` → ``web``)."""
    if channel_type is None:
        return None
    return RULE_CHANNELS.get(channel_type, channel_type)


@dataclass(frozen=True)
class CardChoice:
    scorecard_id: str | None
    scorecard: Scorecard


@dataclass
class WorkspaceRules:
    workspace_id: str
    #: hash of every rule, pack and scorecard: stored with each inspection
    version: str
    rules: tuple[AnyRule, ...]
    #: rule key → inboxes it is limited to (absent: every inbox)
    rule_inboxes: Mapping[str, frozenset[str]]
    packs: Mapping[str, WordPack]
    cards: tuple[QaScorecardSnapshot, ...]
    _compiled: dict[tuple[str | None, str | None], CompiledRules] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rules_for(self, inbox_id: str | None, channel: str | None) -> tuple[AnyRule, ...]:
        out = []
        for r in self.rules:
            inboxes = self.rule_inboxes.get(r.id)
            if inboxes and inbox_id is not None and inbox_id not in inboxes:
                continue
            if r.channels and channel is not None and channel not in r.channels:
                continue
            out.append(r)
        # a combination whose rules do not apply here does not apply either (transitively)
        while True:
            ids = {r.id for r in out}
            kept = [r for r in out if not isinstance(r, CombinationRule)
                    or all(ref in ids for ref in r.references)]
            if len(kept) == len(out):
                return tuple(out)
            out = kept

    def compiled(self, inbox_id: str | None = None, channel: str | None = None) -> CompiledRules:
        """The engine for one inbox and channel (built once, then cached)."""
        key = (inbox_id, channel)
        with self._lock:
            got = self._compiled.get(key)
        if got is None:
            got = compile_rules(self.rules_for(inbox_id, channel), self.packs)
            with self._lock:
                self._compiled[key] = got
        return got

    def scorecard(self, inbox_id: str | None = None, team_id: str | None = None) -> CardChoice:
        """The card for an inbox (or team); else the default card; else the rules' own."""
        chosen = None
        for c in self.cards:
            if inbox_id is not None and inbox_id in c.inbox_ids:
                chosen = c
                break
        if chosen is None:
            chosen = next((c for c in self.cards if team_id is not None and team_id in c.team_ids),
                          None)
        if chosen is None:
            chosen = next((c for c in self.cards if c.is_default), None)
        own = Scorecard.for_rules(self.rules)
        if chosen is None:
            return CardChoice(None, own)
        items = dict(own.items)
        for key, raw in chosen.items.items():
            base = items.get(key)
            if base is None:
                continue
            items[key] = ScoreItem(
                deduction=float(raw.get("deduction", base.deduction)),
                per_hit=bool(raw.get("per_hit", base.per_hit)),
                cap=raw.get("cap", base.cap),
                fatal=bool(raw.get("fatal", base.fatal)),
                group=str(raw.get("group", base.group)))
        return CardChoice(chosen.id, Scorecard(items=items, base=chosen.base,
                                               group_weights=dict(chosen.group_weights)))


@dataclass(frozen=True)
class QaScorecardSnapshot:
    id: str
    name: str
    base: float
    group_weights: Mapping[str, float]
    items: Mapping[str, Mapping[str, Any]]
    inbox_ids: frozenset[str]
    team_ids: frozenset[str]
    is_default: bool


def _fingerprint(session: Session, workspace_id: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for model in (QaRule, QaWordPack, QaScorecard):
        row = session.execute(
            select(func.count(model.id), func.max(model.updated_at), func.sum(model.version))
            .where(model.workspace_id == workspace_id)).one()
        out.extend(str(v) for v in row)
    return tuple(out)


def load_workspace_rules(session: Session, workspace_id: str) -> WorkspaceRules:
    """Read and compile-check a workspace's rules. A stored rule that no longer validates
    (e.g. after an upgrade tightened a check) is skipped rather than stopping inspection."""
    rows = session.scalars(select(QaRule).where(QaRule.workspace_id == workspace_id)
                           .order_by(QaRule.created_at, QaRule.id)).all()
    packs: dict[str, WordPack] = dict(DEFAULT_PACKS)
    for p in session.scalars(select(QaWordPack).where(QaWordPack.workspace_id == workspace_id)):
        try:
            packs[p.name] = WordPack(p.name, tuple(p.terms), tuple(p.exclusions))
        except ValueError:
            continue
    rules: list[AnyRule] = []
    inboxes: dict[str, frozenset[str]] = {}
    if not rows:
        rules = list(default_rules())
    for row in rows:
        if row.deleted_at is not None or not row.enabled:
            continue
        try:
            rule = rule_from_dict({**row.definition, "id": row.key, "name": row.name})
        except SpecError:
            continue
        rules.append(rule)
        if row.inbox_ids:
            inboxes[row.key] = frozenset(row.inbox_ids)
    # a rule naming a pack that is gone, or a combination naming a rule that is gone: drop it
    while True:
        try:
            compile_rules(rules, packs)
            break
        except ValueError as exc:
            bad = next((r for r in rules if f"rule {r.id}:" in str(exc)), None)
            if bad is None:
                raise
            rules.remove(bad)
    cards = tuple(
        QaScorecardSnapshot(c.id, c.name, c.base, dict(c.group_weights), dict(c.items),
                            frozenset(c.inbox_ids), frozenset(c.team_ids), c.is_default)
        for c in session.scalars(select(QaScorecard).where(
            QaScorecard.workspace_id == workspace_id).order_by(QaScorecard.id)))
    digest = hashlib.sha256(json.dumps(
        [[rule_to_dict(r) for r in rules], sorted(inboxes.items(), key=lambda kv: kv[0]),
         {n: [list(p.terms), list(p.exclusions)] for n, p in sorted(packs.items())},
         [[c.id, c.base, c.group_weights, c.items, sorted(c.inbox_ids), sorted(c.team_ids),
           c.is_default] for c in cards]],
        ensure_ascii=False, sort_keys=True, default=sorted).encode()).hexdigest()[:16]
    return WorkspaceRules(workspace_id, digest, tuple(rules), inboxes, packs, cards)


class QaRegistry:
    """Per-process cache of ``WorkspaceRules``."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[WorkspaceRules, tuple[Any, ...], float]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, workspace_id: str) -> WorkspaceRules:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(workspace_id)
        if cached is not None and now - cached[2] < RECHECK_SECONDS:
            return cached[0]
        fp = _fingerprint(session, workspace_id)
        if cached is not None and cached[1] == fp:
            with self._lock:
                self._cache[workspace_id] = (cached[0], fp, now)
            return cached[0]
        loaded = load_workspace_rules(session, workspace_id)
        with self._lock:
            self._cache[workspace_id] = (loaded, fp, now)
        return loaded

    def invalidate(self, workspace_id: str) -> None:
        with self._lock:
            self._cache.pop(workspace_id, None)

    def register(self, bus: EventBus) -> None:
        def on_change(event: Event) -> None:
            self.invalidate(event.workspace_id)

        bus.subscribe("qa.rules_changed", on_change)
