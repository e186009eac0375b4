"""How much the bot used each knowledge entry: hits and feedback, aggregated in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kefu.bot.models import BotTurn


@dataclass(frozen=True, slots=True)
class EntryUsage:
    """Bot turns that used one entry since a time: how many, the last one, the feedback."""

    hits: int
    last_hit: datetime | None
    helpful: int
    unhelpful: int


def entry_usage(session: Session, workspace_id: str, since: datetime) -> dict[str, EntryUsage]:
    """Per entry id: the bot turns of ``workspace_id`` at or after ``since`` that carry that
    entry (one GROUP BY query; entries never used are absent)."""
    helpful = func.sum(case((BotTurn.feedback == "helpful", 1), else_=0))
    unhelpful = func.sum(case((BotTurn.feedback == "unhelpful", 1), else_=0))
    stmt = (select(BotTurn.entry_id, func.count(BotTurn.id), func.max(BotTurn.created_at),
                   helpful, unhelpful)
            .where(BotTurn.workspace_id == workspace_id, BotTurn.entry_id.is_not(None),
                   BotTurn.decision == "answer",
                   BotTurn.created_at >= since)
            .group_by(BotTurn.entry_id))
    out: dict[str, EntryUsage] = {}
    for entry_id, hits, last, good, bad in session.execute(stmt):
        if entry_id is not None:
            out[entry_id] = EntryUsage(hits=int(hits), last_hit=last, helpful=int(good or 0),
                                       unhelpful=int(bad or 0))
    return out
