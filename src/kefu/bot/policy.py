"""The bot's decision for one customer message. Pure: the knowledge, the clock's verdict on
business hours and the conversation's state come in as arguments; a :class:`Turn` comes out.

Order of checks (docs/subsystems/bot.md):

1. collecting a message outside business hours (留言) → take it, queue the conversation;
2. a click on a "您是想问…" option → answer that entry;
3. the customer asks for a human (keywords) → hand off;
4. the customer is angry (``nlp.sentiment``) → hand off;
5. small talk (你好 / 谢谢 / 你是机器人吗) → its reply;
6. the knowledge base: answer (≥ answer threshold), clarify with up to 3 options (between the
   thresholds), or nothing;
7. nothing: a document passage if one fits; else a miss: say so honestly and offer a human;
   after ``max_misses`` consecutive misses hand off (reason ``no_match``, or
   ``low_confidence`` when the last miss was a clarify).

A handoff outside business hours becomes "leave a message" (step 1 on the next message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from kefu.bot.schemas import DEFAULT_HANDOFF_EXACT, BotConfig
from kefu.kb.index import EntryInfo, Hit
from kefu.kb.passages import PassageHit
from kefu.nlp.normalise import normalise
from kefu.nlp.sentiment import is_angry

_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class Knowledge(Protocol):
    def search(self, text: str) -> list[Hit]: ...

    def smalltalk(self, text: str) -> str | None: ...

    def passage(self, text: str) -> PassageHit | None: ...

    def entry(self, entry_id: str) -> EntryInfo | None: ...


@dataclass(frozen=True)
class State:
    misses: int = 0
    mode: str = "chat"  # chat | leave_message
    last_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Turn:
    decision: str
    reply: str
    state: State
    meta: dict[str, Any] | None = None
    confidence: float = 0.0
    entry_id: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    handoff_reason: str | None = None
    #: move the conversation to the human queue after replying
    queue: bool = False
    #: contact details found in a left message (phone, email)
    contact: dict[str, str] = field(default_factory=dict)


def asks_for_human(text: str, config: BotConfig) -> bool:
    norm = normalise(text, max_chars=200)
    if not norm:
        return False
    compact = norm.replace(" ", "")
    if compact in DEFAULT_HANDOFF_EXACT:
        return True
    for kw in config.handoff_keywords:
        k = normalise(kw)
        if not k:
            continue
        if k.isascii():  # English: whole words only ("human" but not "inhumane")
            if re.search(rf"(?<![a-z0-9]){re.escape(k)}(?![a-z0-9])", norm):
                return True
        elif k in norm or k.replace(" ", "") in compact:
            return True
    return False


def contact_details(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if m := _PHONE.search(text):
        out["phone"] = m.group(0)
    if m := _EMAIL.search(text):
        out["email"] = m.group(0)
    return out


def _related(info: EntryInfo, knowledge: Knowledge) -> list[dict[str, str]]:
    out = []
    for rid in info.related_ids:
        other = knowledge.entry(rid)
        if other is not None:
            out.append({"entry_id": other.id, "question": other.question})
    return out


def _answer(info: EntryInfo, confidence: float, channel: str, knowledge: Knowledge,
            state: State, candidates: list[dict[str, Any]]) -> Turn:
    meta = {"kind": "answer", "entry_id": info.id, "question": info.question,
            "related": _related(info, knowledge), "feedback": True}
    return Turn("answer", info.answer_for(channel), State(0, "chat", ()), meta,
                confidence=confidence, entry_id=info.id, candidates=candidates)


def _handoff(reason: str, text: str, config: BotConfig, *, is_open: bool, open_text: str,
             state: State, **kw: Any) -> Turn:
    if is_open:
        return Turn("handoff", text, replace(state, misses=0, last_options=()),
                    {"kind": "handoff", "reason": reason}, handoff_reason=reason, queue=True,
                    **kw)
    reply = config.leave_message_text.format(hours=config.hours.describe(), next_open=open_text)
    return Turn("leave_message", reply, State(0, "leave_message", ()),
                {"kind": "leave_message", "reason": reason}, handoff_reason=reason, **kw)


def plan_turn(text: str, *, config: BotConfig, state: State, knowledge: Knowledge,
              channel: str, is_open: bool, open_text: str) -> Turn:
    """What the bot does with one customer message."""
    # 1. a message left outside business hours
    if state.mode == "leave_message":
        reply = config.leave_message_thanks.format(next_open=open_text)
        return Turn("leave_message", reply, State(), {"kind": "leave_message_taken"},
                    queue=True, contact=contact_details(text))
    norm = normalise(text, max_chars=256)
    # 2. a click on one of the options offered by the last clarify turn
    for option in state.last_options:
        info = knowledge.entry(option)
        if info is not None and norm and normalise(info.question) == norm:
            return _answer(info, 1.0, channel, knowledge, state, [])
    # 3. asked for a human; 4. angry
    if asks_for_human(text, config):
        return _handoff("asked_for_human", config.handoff_text, config, is_open=is_open,
                        open_text=open_text, state=state)
    if config.handoff_on_anger and is_angry(text):
        return _handoff("sentiment", config.anger_text, config, is_open=is_open,
                        open_text=open_text, state=state)
    # 5. small talk
    if norm and (chat := knowledge.smalltalk(text)) is not None:
        return Turn("smalltalk", chat, replace(state, last_options=()), {"kind": "smalltalk"})
    # 6. the knowledge base
    hits = knowledge.search(text) if norm else []
    candidates = [{"entry_id": h.entry.id, "question": h.entry.question,
                   "confidence": round(h.confidence, 4), "score": round(h.score, 4),
                   "matched": h.matched} for h in hits[:5]]
    top = hits[0].confidence if hits else 0.0
    if hits and top >= config.answer_threshold:
        return _answer(hits[0].entry, top, channel, knowledge, state, candidates)
    clarify = [h for h in hits[:config.max_clarify] if h.confidence >= config.clarify_threshold]
    misses = state.misses + 1
    if clarify and misses < config.max_misses:
        options = [{"entry_id": h.entry.id, "question": h.entry.question} for h in clarify]
        return Turn("clarify", config.clarify_text, State(misses, "chat",
                                                          tuple(o["entry_id"] for o in options)),
                    {"kind": "clarify", "options": options}, confidence=top,
                    candidates=candidates)
    # 7. a document passage, or a miss
    if config.use_documents and norm and (p := knowledge.passage(text)) is not None \
            and p.confidence >= config.passage_threshold:
        reply = f"{p.quote}\n\n——摘自《{p.document_title}》"
        meta = {"kind": "passage", "document_id": p.document_id, "passage_id": p.passage_id,
                "title": p.document_title, "heading": p.heading, "feedback": True}
        return Turn("passage", reply, State(), meta, confidence=p.confidence,
                    candidates=candidates)
    if misses >= config.max_misses:
        reason = "low_confidence" if clarify else "no_match"
        return _handoff(reason, config.handoff_text, config, is_open=is_open,
                        open_text=open_text, state=state, confidence=top,
                        candidates=candidates)
    return Turn("none", config.fallback_text, State(misses, "chat", ()),
                {"kind": "fallback", "actions": ["handoff"]}, confidence=top,
                candidates=candidates)


def describe_open(at: datetime | None, timezone: str) -> str:
    """How the customer is told when humans are back: "11月12日 09:00"."""
    if at is None:
        return "下一个工作日"
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo(timezone))
    return f"{local.month}月{local.day}日 {local:%H:%M}"
