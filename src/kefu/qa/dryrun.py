"""Dry run: a draft rule (not saved) over the workspace's recent conversations.

The draft is validated exactly as when it is saved (``manage.validate_rule``), compiled with
the workspace's word packs, and run over the conversations created in the last ``days`` days
(newest first, at most ``MAX_CONVERSATIONS``; optionally one inbox). Private notes and system
lines are not inspected. Nothing is stored.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Workspace
from kefu.core.errors import Invalid
from kefu.inbox.access import access_inbox
from kefu.inbox.models import Conversation, Inbox
from kefu.inbox.models import Message as StoredMessage
from kefu.qa.engine import (
    MAX_CONVERSATION_MESSAGES,
    CompiledRules,
    Hit,
    compile_rules,
    inspect,
)
from kefu.qa.manage import effective_rules, validate_rule, workspace_packs
from kefu.qa.registry import RULE_CHANNELS
from kefu.qa.rules import AnyRule, Message, Role
from kefu.qa.spec import rule_to_dict

DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_CONVERSATIONS = 5_000
MAX_SAMPLES = 10
DRAFT_KEY = "draft"
_ROLES: dict[str, Role] = {"customer": "customer", "agent": "agent", "bot": "bot"}
_BATCH = 200


@dataclass
class SampleMessage:
    index: int
    role: str
    text: str
    spans: list[tuple[int, int]]
    at: datetime


@dataclass
class Sample:
    conversation_id: str
    created_at: datetime
    hits: int
    messages: list[SampleMessage]
    #: hits that belong to the whole conversation (timing, facts …): how many
    conversation_hits: int


@dataclass
class DryRunResult:
    days: int
    since: datetime
    inbox_id: str | None
    scanned: int
    hit_conversations: int
    total_hits: int
    #: ISO date (workspace time zone) → hits that day
    per_day: dict[str, int]
    samples: list[Sample]
    #: True when more than ``limit`` conversations matched: only the newest were scanned
    truncated: bool
    limit: int = MAX_CONVERSATIONS
    #: conversations too large to inspect (more than the engine's message limit)
    skipped: int = 0
    messages: int = 0
    rule: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["since"] = self.since.isoformat()
        for s in out["samples"]:
            s["created_at"] = s["created_at"].isoformat()
            for m in s["messages"]:
                m["at"] = m["at"].isoformat()
                m["spans"] = [list(x) for x in m["spans"]]
        return out


def _compile(session: Session, workspace_id: str, rule: AnyRule) -> CompiledRules:
    packs = workspace_packs(session, workspace_id)
    draft = dataclasses.replace(rule, enabled=True)
    try:
        return compile_rules([draft], packs)
    except ValueError:  # it refers to other rules (validate_rule checked this works)
        others = effective_rules(session, workspace_id, exclude_key=rule.id)
        return compile_rules([*others, draft], packs)


def _timezone(session: Session, workspace_id: str) -> ZoneInfo:
    ws = session.get(Workspace, workspace_id)
    try:
        return ZoneInfo(ws.timezone if ws is not None and ws.timezone else "Asia/Shanghai")
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def _conversations(session: Session, workspace_id: str, since: datetime,
                   inbox_id: str | None, channels: frozenset[str]) -> list[Conversation]:
    stmt = (select(Conversation).where(Conversation.workspace_id == workspace_id,
                                       Conversation.created_at >= since)
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .limit(MAX_CONVERSATIONS + 1))
    if inbox_id is not None:
        stmt = stmt.where(Conversation.inbox_id == inbox_id)
    if channels:  # rule channels (web …) → inbox channel types (webchat …)
        types = set(channels) | {t for t, c in RULE_CHANNELS.items() if c in channels}
        stmt = stmt.join(Inbox, Inbox.id == Conversation.inbox_id).where(
            Inbox.channel_type.in_(sorted(types)))
    return list(session.scalars(stmt))


def _messages(session: Session, ids: Sequence[str]) -> dict[str, list[StoredMessage]]:
    out: dict[str, list[StoredMessage]] = defaultdict(list)
    stmt = (select(StoredMessage)
            .where(StoredMessage.conversation_id.in_(ids), StoredMessage.private.is_(False),
                   StoredMessage.sender_type.in_(sorted(_ROLES)))
            .order_by(StoredMessage.conversation_id, StoredMessage.seq))
    for m in session.scalars(stmt):
        out[m.conversation_id].append(m)
    return out


def _sample(conv: Conversation, stored: list[StoredMessage], hits: list[Hit]) -> Sample:
    spans: dict[int, list[tuple[int, int]]] = {}
    for h in hits:
        if h.message_index is not None:
            got = spans.setdefault(h.message_index, [])
            if h.span is not None:
                got.append(h.span)
    messages = [SampleMessage(i, stored[i].sender_type, stored[i].content,
                              _merge(spans[i]), stored[i].created_at)
                for i in sorted(spans)]
    return Sample(conv.id, conv.created_at, len(hits), messages,
                  sum(1 for h in hits if h.message_index is None))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping spans joined (so they can be highlighted without nesting)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def dry_run(session: Session, actor: Actor, definition: Mapping[str, Any], *, now: datetime,
            days: int = DEFAULT_DAYS, inbox_id: str | None = None, name: str = "",
            key: str = DRAFT_KEY) -> DryRunResult:
    """Run a draft rule over recent conversations; changes nothing."""
    actor.require("qa.manage")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise Invalid(f"天数须在 1–{MAX_DAYS} 之间 / days must be 1–{MAX_DAYS}",
                      code="invalid_days", errors=[{"field": "days",
                                                    "reason": f"1–{MAX_DAYS}"}])
    rule = validate_rule(session, actor.workspace_id, key or DRAFT_KEY,
                         name.strip() or "草稿 / draft", definition)
    if inbox_id:
        inbox_id = access_inbox(actor, inbox_id, session=session).id
    compiled = _compile(session, actor.workspace_id, rule)
    tz = _timezone(session, actor.workspace_id)
    since = now - timedelta(days=days)
    convs = _conversations(session, actor.workspace_id, since, inbox_id or None,
                           rule.channels)
    truncated = len(convs) > MAX_CONVERSATIONS
    convs = convs[:MAX_CONVERSATIONS]
    per_day: Counter[str] = Counter()
    samples: list[Sample] = []
    hit_convs = total = n_messages = skipped = 0
    for start in range(0, len(convs), _BATCH):
        batch = convs[start:start + _BATCH]
        stored_by_conv = _messages(session, [c.id for c in batch])
        for conv in batch:
            stored = stored_by_conv.get(conv.id, [])
            if not stored:
                continue
            if len(stored) > MAX_CONVERSATION_MESSAGES:  # refused by the engine: not judged
                skipped += 1
                continue
            n_messages += len(stored)
            msgs = [Message(_ROLES[m.sender_type], m.content, m.created_at) for m in stored]
            open_now = now if conv.status != "resolved" else None
            hits = [h for h in inspect(compiled, msgs, now=open_now) if h.rule_id == rule.id]
            if not hits:
                continue
            hit_convs += 1
            total += len(hits)
            for h in hits:
                at = (stored[h.message_index].created_at if h.message_index is not None
                      else stored[-1].created_at)
                per_day[at.astimezone(tz).date().isoformat()] += 1
            if len(samples) < MAX_SAMPLES:
                samples.append(_sample(conv, stored, hits))
    return DryRunResult(days=days, since=since, inbox_id=inbox_id or None, scanned=len(convs),
                        hit_conversations=hit_convs, total_hits=total,
                        per_day=dict(sorted(per_day.items())), samples=samples,
                        truncated=truncated, messages=n_messages, rule=rule_to_dict(rule),
                        skipped=skipped)
