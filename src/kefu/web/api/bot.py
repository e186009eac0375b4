"""The answering bot: per-inbox settings, hit testing, statistics, the turn log and the
learning loop (unanswered questions clustered into suggested entries or phrasings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.actor import Actor
from kefu.bot import actions as bot_actions
from kefu.bot import queries as bot_queries
from kefu.bot.schemas import BotConfig
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["bot"])


class HitTest(BaseModel):
    inbox_id: str = Field(min_length=1, max_length=24)
    text: str = Field(min_length=1, max_length=10_000)


class TurnRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    inbox_id: str
    conversation_id: str | None
    query: str
    decision: str
    confidence: float
    entry_id: str | None
    handoff_reason: str | None
    feedback: str | None
    candidates: list[dict[str, Any]]
    created_at: datetime


@router.get("/inboxes/{inbox_id}/bot", response_model=BotConfig)
def get_bot_config(inbox_id: str, request: Request,
                   actor: Actor = Depends(current_actor)) -> BotConfig:
    """The bot settings of an inbox (defaults until someone saves them)."""
    with services(request).uows(readonly=True) as uow:
        return bot_queries.inbox_config(uow.session, actor, inbox_id)


@router.put("/inboxes/{inbox_id}/bot", response_model=BotConfig)
def put_bot_config(inbox_id: str, data: BotConfig, request: Request,
                   actor: Actor = Depends(current_actor)) -> BotConfig:
    """Replace the bot settings of an inbox: thresholds, greeting, texts, handoff keywords,
    business hours and holidays, 猜你想问 rules. Saving the same settings again is a no-op."""
    with services(request).uows() as uow:
        row = bot_actions.do_update_config(uow, actor, inbox_id, data)
        return BotConfig.model_validate(row.config)


@router.post("/bot/hit-test")
def post_hit_test(data: HitTest, request: Request,
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """命中测试: what the inbox's bot would answer now, the candidates with their confidence,
    the thresholds and why. Changes nothing."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        return bot_queries.hit_test(uow.session, actor, svc.kb, data.inbox_id, data.text,
                                    now=uow.clock.now())


@router.get("/bot/stats")
def get_stats(request: Request, actor: Actor = Depends(current_actor),
              days: int = Query(30, ge=1, le=366)) -> dict[str, Any]:
    """Bot resolution rate, decisions, handoff reasons, feedback and top entries."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        return bot_queries.bot_stats(uow.session, actor, svc.kb, now=uow.clock.now(),
                                     days=days).as_dict()


@router.get("/bot/turns", response_model=list[TurnRead])
def get_turns(request: Request, actor: Actor = Depends(current_actor),
              decision: str | None = Query(None, max_length=16),
              limit: int = Query(50, ge=1, le=200),
              offset: int = Query(0, ge=0)) -> list[TurnRead]:
    """The bot's turn log, newest first: query, candidates, decision, feedback."""
    with services(request).uows(readonly=True) as uow:
        return [TurnRead.model_validate(t) for t in bot_queries.list_turns(
            uow.session, actor, decision=decision, limit=limit, offset=offset)]


@router.get("/bot/unanswered")
def get_unanswered(request: Request, actor: Actor = Depends(current_actor),
                   days: int = Query(30, ge=1, le=366)) -> dict[str, Any]:
    """What the bot could not answer, clustered; each cluster suggests a new entry or new
    phrasings for the closest entry (``POST /api/v1/kb/entries/{id}/phrasings``)."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        clusters = bot_queries.unanswered_clusters(uow.session, actor, svc.kb,
                                                   now=uow.clock.now(), days=days)
        return {"items": [c.as_dict() for c in clusters]}
