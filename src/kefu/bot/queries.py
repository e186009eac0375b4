"""Reads about the bot: its settings, statistics, the turn log, hit testing and the learning
loop (what it could not answer, clustered into suggested entries or phrasings)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.bot.actions import load_config, plan_for
from kefu.bot.models import BotTurn
from kefu.bot.schemas import BotConfig
from kefu.inbox.access import access_inbox
from kefu.kb.engine import Entry, MatchEngine
from kefu.kb.index import KbIndex
from kefu.nlp.normalise import normalise

ANSWERED = ("answer", "passage", "smalltalk")


def inbox_config(session: Session, actor: Actor, inbox_id: str) -> BotConfig:
    actor.require("kb.read")
    inbox = access_inbox(actor, inbox_id, session=session)
    return load_config(session, inbox.id)


@dataclass
class BotStats:
    since: datetime
    turns: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)
    handoff_reasons: dict[str, int] = field(default_factory=dict)
    helpful: int = 0
    unhelpful: int = 0
    top_entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answered_share(self) -> float:
        asked = sum(n for d, n in self.by_decision.items() if d != "greeting")
        return sum(self.by_decision.get(d, 0) for d in ANSWERED) / asked if asked else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "turns": self.turns,
                "answered_share": round(self.answered_share, 4),
                "by_decision": self.by_decision, "handoff_reasons": self.handoff_reasons,
                "helpful": self.helpful, "unhelpful": self.unhelpful,
                "top_entries": self.top_entries}


def bot_stats(session: Session, actor: Actor, kb: KbIndex, *, now: datetime,
              days: int = 30) -> BotStats:
    """Resolution rate, decisions, handoff reasons, feedback and the most used entries."""
    actor.require("kb.read")
    since = now - timedelta(days=days)
    base = (BotTurn.workspace_id == actor.workspace_id, BotTurn.created_at >= since)
    stats = BotStats(since=since)
    for decision, n in session.execute(select(BotTurn.decision, func.count()).where(*base)
                                       .group_by(BotTurn.decision)):
        stats.by_decision[decision] = n
        stats.turns += n
    for reason, n in session.execute(select(BotTurn.handoff_reason, func.count()).where(
            *base, BotTurn.handoff_reason.is_not(None)).group_by(BotTurn.handoff_reason)):
        stats.handoff_reasons[str(reason)] = n
    for fb, n in session.execute(select(BotTurn.feedback, func.count()).where(
            *base, BotTurn.feedback.is_not(None)).group_by(BotTurn.feedback)):
        if fb == "helpful":
            stats.helpful = n
        elif fb == "unhelpful":
            stats.unhelpful = n
    rows = session.execute(select(BotTurn.entry_id, func.count()).where(
        *base, BotTurn.decision == "answer", BotTurn.entry_id.is_not(None))
        .group_by(BotTurn.entry_id).order_by(func.count().desc(), BotTurn.entry_id).limit(10))
    for entry_id, n in rows:
        info = kb.entry(actor.workspace_id, str(entry_id))
        stats.top_entries.append({"entry_id": entry_id, "hits": n,
                                  "question": info.question if info else ""})
    return stats


def list_turns(session: Session, actor: Actor, *, decision: str | None = None,
               limit: int = 50, offset: int = 0) -> list[BotTurn]:
    actor.require("kb.read")
    stmt = select(BotTurn).where(BotTurn.workspace_id == actor.workspace_id)
    if decision:
        stmt = stmt.where(BotTurn.decision == decision)
    return list(session.scalars(stmt.order_by(BotTurn.created_at.desc(), BotTurn.id.desc())
                                .limit(limit).offset(offset)))


def hit_test(session: Session, actor: Actor, kb: KbIndex, inbox_id: str, text: str, *,
             now: datetime) -> dict[str, Any]:
    """命中测试: what the bot of this inbox would do with ``text`` now, and why."""
    actor.require("kb.read")
    inbox = access_inbox(actor, inbox_id, session=session)
    turn, config = plan_for(session, kb, inbox, text, now=now)
    top = turn.candidates[0]["confidence"] if turn.candidates else 0.0
    a, c = config.answer_threshold, config.clarify_threshold
    why = {
        "answer": f"最高置信度 {top:.2f} ≥ 回答阈值 {a:.2f}：直接回答 / top confidence "
                  f"{top:.2f} ≥ answer threshold {a:.2f}: answer",
        "clarify": f"最高置信度 {top:.2f} 介于澄清阈值 {c:.2f} 与回答阈值 {a:.2f} 之间：反问"
                   f"“您是想问…” / between the thresholds: ask which one",
        "none": f"最高置信度 {top:.2f} < 澄清阈值 {c:.2f}：无法回答，提示转人工 / below the "
                f"clarify threshold: no answer, offer a human",
        "smalltalk": "命中寒暄 / matched small talk",
        "passage": "没有合适的问答，引用文档段落 / no FAQ fits: quoting a document passage",
        "handoff": f"转人工：{turn.handoff_reason} / hand off: {turn.handoff_reason}",
        "leave_message": f"非人工服务时间，请客户留言（{turn.handoff_reason}）/ outside "
                         "business hours: take a message",
    }.get(turn.decision, turn.decision)
    return {"decision": turn.decision, "reply": turn.reply, "meta": turn.meta,
            "candidates": turn.candidates, "confidence": round(turn.confidence, 4),
            "thresholds": {"answer": a, "clarify": c}, "why": why,
            "handoff_reason": turn.handoff_reason}


@dataclass
class Cluster:
    """Unanswered questions that ask the same thing, with what to do about them."""

    representative: str
    questions: list[str]
    count: int
    #: the knowledge base's closest entry, when it is close enough to take these as phrasings
    suggest_entry_id: str | None = None
    suggest_question: str = ""
    suggest_confidence: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"representative": self.representative, "questions": self.questions,
                "count": self.count,
                "suggestion": ({"action": "add_phrasings", "entry_id": self.suggest_entry_id,
                                "question": self.suggest_question,
                                "confidence": round(self.suggest_confidence, 4)}
                               if self.suggest_entry_id else {"action": "new_entry"})}


def unanswered_clusters(session: Session, actor: Actor, kb: KbIndex, *, now: datetime,
                        days: int = 30, join: float = 0.5, attach: float = 0.28,
                        limit: int = 50) -> list[Cluster]:
    """Questions the bot missed (no answer, unsure, handed off for either, or answered but
    rated 没用) in the last ``days``, grouped by the matching engine itself: a question joins
    the first cluster it matches with confidence ≥ ``join``. Each cluster is matched against
    the knowledge base: close enough (≥ ``attach``) → add as phrasings of that entry, else a
    new entry. Biggest clusters first."""
    actor.require("kb.read")
    rows = session.execute(select(BotTurn.query).where(
        BotTurn.workspace_id == actor.workspace_id,
        BotTurn.created_at >= now - timedelta(days=days), BotTurn.query != "",
        or_(BotTurn.decision.in_(("none", "clarify")),
            BotTurn.handoff_reason.in_(("no_match", "low_confidence")),
            BotTurn.feedback == "unhelpful")))
    counts: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for (query,) in rows:
        key = normalise(query, max_chars=200)
        if not key:
            continue
        counts[key] += 1
        surface.setdefault(key, query.strip()[:200])
    engine = MatchEngine(tokeniser=kb.get(actor.workspace_id).engine.tokeniser)
    clusters: list[Cluster] = []
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        text = surface[key]
        found = engine.match(text, k=1)
        if found and found[0].confidence >= join:
            cl = clusters[int(found[0].entry_id)]
            cl.questions.append(text)
            cl.count += n
            engine.upsert(Entry(id=found[0].entry_id, question=cl.representative,
                                phrasings=tuple(cl.questions[1:])))
        else:
            clusters.append(Cluster(text, [text], n))
            engine.upsert(Entry(id=str(len(clusters) - 1), question=text))
    clusters.sort(key=lambda c: (-c.count, c.representative))
    for cl in clusters[:limit]:
        hits = kb.search(actor.workspace_id, cl.representative, now=now, k=1,
                         include_invalid=True)
        if hits and hits[0].confidence >= attach:
            cl.suggest_entry_id = hits[0].entry.id
            cl.suggest_question = hits[0].entry.question
            cl.suggest_confidence = hits[0].confidence
    return clusters[:limit]
