"""Every write of the bot: settings, a turn for a customer message, feedback."""

from __future__ import annotations

import heapq
import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.bot.models import BotSession, BotSettings, BotTurn
from kefu.bot.policy import State, Turn, describe_open, plan_turn
from kefu.bot.schemas import BotConfig
from kefu.contacts.actions import apply_contact_update
from kefu.contacts.models import Contact
from kefu.contacts.schemas import ContactUpdate
from kefu.core.audit import record
from kefu.core.errors import Invalid, NotFound
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork
from kefu.inbox.access import access_inbox, contact_conversation
from kefu.inbox.actions import do_bot_message, do_handoff
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.kb.index import EntryInfo, Hit, KbIndex
from kefu.kb.passages import PassageHit

log = logging.getLogger(__name__)
CHANNEL_OF = {"webchat": "web", "wechat": "wechat", "wecom": "wechat", "email": "email"}

HANDOFF_LABELS = {
    "asked_for_human": "客户要求人工 / the customer asked for a human",
    "sentiment": "客户情绪激动 / the customer is upset",
    "no_match": "机器人无法回答 / the bot had no answer",
    "low_confidence": "机器人不确定 / the bot was unsure",
    "negative_feedback": "客户反馈答案没用 / the customer said the answer did not help",
    "error": "机器人出错 / the bot failed",
}


def load_config(session: Session, inbox_id: str) -> BotConfig:
    row = session.scalar(select(BotSettings).where(BotSettings.inbox_id == inbox_id))
    return BotConfig.model_validate(row.config) if row is not None else BotConfig()


def do_update_config(uow: UnitOfWork, actor: Actor, inbox_id: str,
                     config: BotConfig) -> BotSettings:
    actor.require("bot.manage")
    inbox = access_inbox(actor, inbox_id, session=uow.session)
    row = uow.session.scalar(select(BotSettings).where(BotSettings.inbox_id == inbox.id))
    data = config.model_dump(mode="json")
    if row is None:
        row = BotSettings(id=new_id(), workspace_id=inbox.workspace_id, inbox_id=inbox.id,
                          config=data, updated_at=uow.clock.now())
        uow.session.add(row)
    elif row.config != data:
        row.config = data
        row.updated_at = uow.clock.now()
    else:
        return row
    record(uow, workspace_id=inbox.workspace_id, actor_id=actor.user_id or None,
           action="bot.settings.update", object_type="inbox", object_id=inbox.id,
           data={"config": data})
    return row


class WorkspaceKnowledge:
    """``policy.Knowledge`` over this process's index of one workspace, at one moment."""

    def __init__(self, kb: KbIndex, workspace_id: str, now: datetime, config: BotConfig):
        self.kb = kb
        self.workspace_id = workspace_id
        self.now = now
        self.config = config

    def search(self, text: str) -> list[Hit]:
        return self.kb.search(self.workspace_id, text, now=self.now, k=5)

    def smalltalk(self, text: str) -> str | None:
        found = self.kb.smalltalk(self.workspace_id, text, self.config.smalltalk_threshold)
        return found[0] if found else None

    def passage(self, text: str) -> PassageHit | None:
        return self.kb.passage(self.workspace_id, text)

    def entry(self, entry_id: str) -> EntryInfo | None:
        info = self.kb.entry(self.workspace_id, entry_id)
        return info if info is not None and info.valid_at(self.now) else None


def plan_for(session: Session, kb: KbIndex, inbox: Inbox, text: str, *, now: datetime,
             state: State | None = None) -> tuple[Turn, BotConfig]:
    """The bot's plan for ``text`` in this inbox (used by turns and by hit testing)."""
    config = load_config(session, inbox.id)
    calendar = config.hours.calendar()
    is_open = calendar.is_open(now)
    nxt = calendar.next_open(now)
    turn = plan_turn(text, config=config, state=state or State(),
                     knowledge=WorkspaceKnowledge(kb, inbox.workspace_id, now, config),
                     channel=CHANNEL_OF.get(inbox.channel_type, "web"), is_open=is_open,
                     open_text=describe_open(nxt, config.hours.timezone))
    return turn, config


def _session_row(uow: UnitOfWork, conv: Conversation) -> BotSession:
    row = uow.session.scalar(select(BotSession).where(BotSession.conversation_id == conv.id))
    if row is None:
        row = BotSession(id=new_id(), workspace_id=conv.workspace_id, conversation_id=conv.id,
                         misses=0, mode="chat", last_options=[], updated_at=uow.clock.now())
        uow.session.add(row)
    return row


def _carry_out(uow: UnitOfWork, conv: Conversation, turn: Turn, config: BotConfig,
               bt: BotTurn) -> None:
    meta: dict[str, Any] = {**(turn.meta or {}), "turn_id": bt.id}
    reply = do_bot_message(uow, conv, content=turn.reply, sender_name=config.name, meta=meta)
    bt.reply_message_id = reply.id
    if turn.contact:
        contact = uow.session.get(Contact, conv.contact_id)
        if contact is not None:
            fields = {k: v for k, v in turn.contact.items() if not getattr(contact, k)}
            try:
                update = ContactUpdate(**fields)
            except ValidationError:
                update = None  # e.g. a 300-character "e-mail": keep the message, not the field
            if fields and update is not None:
                apply_contact_update(uow, contact, update)
    if turn.queue:
        if turn.decision == "leave_message":
            label = "客户留言（非人工服务时间），请在上班后跟进 / Message left outside business " \
                    "hours: follow up when open"
        else:
            reason = HANDOFF_LABELS.get(turn.handoff_reason or "", turn.handoff_reason or "")
            label = f"机器人转人工：{reason} / Bot handoff"
        do_handoff(uow, conv, label=label)


def do_bot_turn(uow: UnitOfWork, kb: KbIndex, *, message_id: str) -> BotTurn | None:
    """Answer one customer message if its conversation is still with the bot. Idempotent:
    a message is answered at most once (``bot_turns.message_id`` is unique)."""
    msg = uow.session.get(Message, message_id)
    if msg is None or msg.sender_type != "customer" or msg.private:
        return None
    if uow.session.scalar(select(BotTurn.id).where(BotTurn.message_id == msg.id)) is not None:
        return None
    conv = uow.session.scalar(select(Conversation).where(
        Conversation.id == msg.conversation_id).with_for_update())
    if conv is None or conv.status != "bot":
        return None  # a human took over meanwhile
    inbox = uow.session.get(Inbox, conv.inbox_id)
    assert inbox is not None
    if not (inbox.settings or {}).get("bot_enabled"):
        # the bot was switched off while this conversation was with it: people take over
        do_handoff(uow, conv, label="机器人已关闭，转人工 / The bot is off: handed to people")
        return None
    bs = _session_row(uow, conv)
    now = uow.clock.now()
    turn, config = plan_for(uow.session, kb, inbox, msg.content, now=now,
                            state=State(bs.misses, bs.mode, tuple(bs.last_options)))
    bt = BotTurn(id=new_id(), workspace_id=conv.workspace_id, inbox_id=conv.inbox_id,
                 conversation_id=conv.id, message_id=msg.id, query=msg.content[:2000],
                 candidates=turn.candidates, decision=turn.decision,
                 confidence=round(turn.confidence, 4), entry_id=turn.entry_id,
                 handoff_reason=turn.handoff_reason, created_at=now)
    uow.session.add(bt)
    uow.session.flush()
    bs.misses, bs.mode, bs.last_options = turn.state.misses, turn.state.mode, \
        list(turn.state.last_options)
    bs.updated_at = now
    emitted = len(uow.events)
    try:
        with uow.session.begin_nested():
            _carry_out(uow, conv, turn, config, bt)
    except Exception:
        del uow.events[emitted:]  # what the rolled-back savepoint announced never happened
        # the reply could not be posted (whatever the reason): never leave the customer
        # talking to a silent bot, hand the conversation to people instead
        log.exception("bot turn for message %s failed: handing off", msg.id)
        bt.decision, bt.handoff_reason = "handoff", "error"
        do_handoff(uow, conv, label="机器人出错，转人工 / The bot failed: handed to people")
    return bt


def do_feedback(uow: UnitOfWork, kb: KbIndex, *, inbox_id: str, contact_id: str,
                turn_id: str, helpful: bool) -> BotTurn:
    """有用 / 没用 on a bot answer, from the customer who got it. "没用" hands the
    conversation to a human when the inbox says so. Sending the same feedback again changes
    nothing."""
    bt = uow.session.scalar(select(BotTurn).where(BotTurn.id == turn_id).with_for_update())
    if bt is None or bt.conversation_id is None:
        raise NotFound("没有这条回答 / No such answer", code="turn_not_found", id=turn_id)
    conv = contact_conversation(bt.conversation_id, inbox_id=inbox_id, contact_id=contact_id,
                                session=uow.session)
    # two clicks at once on PostgreSQL: the second waits here and then sees the first's result
    uow.session.execute(select(Conversation.id).where(Conversation.id == conv.id)
                        .with_for_update())
    uow.session.refresh(bt)
    uow.session.refresh(conv)
    if bt.decision not in ("answer", "passage"):
        raise Invalid("这条消息不能评价 / This message cannot be rated", code="not_rateable")
    value = "helpful" if helpful else "unhelpful"
    if bt.feedback == value:
        return bt
    first = bt.feedback is None
    bt.feedback = value
    inbox = uow.session.get(Inbox, conv.inbox_id)
    assert inbox is not None
    config = load_config(uow.session, inbox.id)
    if helpful or not first or conv.status != "bot" or not config.handoff_on_unhelpful:
        return bt
    now = uow.clock.now()
    calendar = config.hours.calendar()
    from kefu.bot.policy import _handoff

    bs = _session_row(uow, conv)
    turn = _handoff("negative_feedback", config.unhelpful_text, config,
                    is_open=calendar.is_open(now),
                    open_text=describe_open(calendar.next_open(now), config.hours.timezone),
                    state=State(bs.misses, bs.mode, tuple(bs.last_options)))
    ht = BotTurn(id=new_id(), workspace_id=conv.workspace_id, inbox_id=conv.inbox_id,
                 conversation_id=conv.id, message_id=None, query="", candidates=[],
                 decision=turn.decision, entry_id=None,
                 handoff_reason="negative_feedback", created_at=now)
    uow.session.add(ht)
    uow.session.flush()
    bs.misses, bs.mode, bs.last_options = 0, turn.state.mode, []
    bs.updated_at = now
    _carry_out(uow, conv, turn, config, ht)
    return bt


def suggestions(session: Session, kb: KbIndex, inbox: Inbox, *, now: datetime,
                page_url: str = "", context: dict[str, str] | None = None
                ) -> list[dict[str, str]]:
    """猜你想问: entries chosen by the inbox's rules for this page/context first, then the
    most asked entries of the last 30 days, then the newest published ones."""
    config = load_config(session, inbox.id)
    want = config.suggest_count
    context = context or {}
    picked: list[str] = []
    for rule in config.suggest_rules:
        if rule.url_contains and rule.url_contains not in page_url:
            continue
        if rule.attribute and context.get(rule.attribute) != rule.value:
            continue
        if not rule.url_contains and not rule.attribute:
            continue
        picked.extend(rule.entry_ids)
    top = session.execute(
        select(BotTurn.entry_id, func.count()).where(
            BotTurn.workspace_id == inbox.workspace_id, BotTurn.decision == "answer",
            BotTurn.entry_id.is_not(None), BotTurn.created_at >= now - timedelta(days=30))
        .group_by(BotTurn.entry_id).order_by(func.count().desc()).limit(want * 3))
    picked.extend(eid for eid, _n in top if eid)
    index = kb.get(inbox.workspace_id)
    picked.extend(heapq.nlargest(want * 3, index.info))  # ids grow with time: the newest
    out: list[dict[str, str]] = []
    for eid in picked:
        info = kb.entry(inbox.workspace_id, eid)
        if info is None or not info.valid_at(now) or any(o["entry_id"] == eid for o in out):
            continue
        out.append({"entry_id": eid, "question": info.question})
        if len(out) >= want:
            break
    return out
