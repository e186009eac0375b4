"""The bot reacts to customer messages in conversations it holds: a durable ``bot_reply`` job,
enqueued in the same transaction as the message (so no message is left unanswered by a
crash, and a retried job never answers twice)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kefu.bot.actions import do_bot_turn
from kefu.core.events import Event, EventBus
from kefu.core.jobs import JobQueue
from kefu.core.uow import UnitOfWork
from kefu.inbox.events import MessageCreated
from kefu.kb.index import KbIndex


def select_bot_reply(event: Event) -> tuple[str, dict[str, Any], str | None] | None:
    if not isinstance(event, MessageCreated):
        return None
    m = event.message
    if m.sender_type != "customer" or m.private or event.conversation.status != "bot":
        return None
    return "bot_reply", {"message_id": m.id}, f"bot_reply:{m.id}"


def register(bus: EventBus, jobs: JobQueue, kb: KbIndex) -> None:
    def bot_reply(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        do_bot_turn(uow, kb, message_id=str(payload["message_id"]))

    # a customer is waiting: if a runner dies mid-turn, another retries after 15 s (a turn is
    # idempotent, so a slow first run finishing late cannot answer twice)
    jobs.register("bot_reply", bot_reply, lease=timedelta(seconds=15))
    bus.subscribe_job("message.created", select_bot_reply)
