"""Every write to inboxes, conversations and messages.

``check_*`` validates and authorises; ``do_*`` changes rows and emits events (published by the
unit of work after commit). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from kefu.accounts.access import access_team, access_user
from kefu.accounts.actor import Actor
from kefu.contacts.models import Contact
from kefu.core.errors import Conflict, Invalid, NotFound
from kefu.core.ids import new_id, new_secret
from kefu.core.uow import UnitOfWork
from kefu.inbox.access import access_conversation, access_inbox
from kefu.inbox.events import (
    ConversationCreated,
    ConversationUpdated,
    InboxChanged,
    MessageCreated,
)
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.inbox.queries import conversation_read, message_read
from kefu.inbox.schemas import MAX_TEXT, InboxCreate, InboxUpdate

OPEN_STATUSES = ("bot", "queued", "open", "pending")
#: a contact's ``last_seen_at`` is refreshed at most this often (not on every message)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
ASSIGNABLE_ROLES = ("admin", "supervisor", "agent")


class Keep:
    """Marker for "leave this field as it is" (distinct from None, which clears it)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep()


@dataclass(frozen=True, slots=True)
class Posted:
    """The result of posting a message: the row, and False when it was a replay."""

    message: Message
    conversation: Conversation
    created: bool


# -- inboxes ------------------------------------------------------------------------------

def do_create_inbox(uow: UnitOfWork, actor: Actor | None, *, workspace_id: str,
                    data: InboxCreate) -> Inbox:
    if actor is not None:
        actor.require("admin.manage")
        workspace_id = actor.workspace_id
    inbox = Inbox(id=new_id(), workspace_id=workspace_id, name=data.name.strip(),
                  channel_type=data.channel_type, secret=new_secret(24),
                  settings=data.settings.model_dump(), is_active=True,
                  created_at=uow.clock.now())
    uow.session.add(inbox)
    uow.session.flush()
    uow.emit(InboxChanged(workspace_id=workspace_id, inbox_id=inbox.id))
    return inbox


def do_update_inbox(uow: UnitOfWork, actor: Actor, inbox_id: str, data: InboxUpdate) -> Inbox:
    actor.require("admin.manage")
    inbox = access_inbox(actor, inbox_id, session=uow.session)
    if data.name is not None:
        inbox.name = data.name.strip()
    if data.settings is not None:
        inbox.settings = data.settings.model_dump()
    if data.is_active is not None:
        inbox.is_active = data.is_active
    uow.emit(InboxChanged(workspace_id=inbox.workspace_id, inbox_id=inbox.id))
    return inbox


def do_rotate_inbox_secret(uow: UnitOfWork, actor: Actor, inbox_id: str) -> Inbox:
    actor.require("admin.manage")
    inbox = access_inbox(actor, inbox_id, session=uow.session)
    inbox.secret = new_secret(24)
    uow.emit(InboxChanged(workspace_id=inbox.workspace_id, inbox_id=inbox.id))
    return inbox


# -- messages -----------------------------------------------------------------------------

def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("消息不能为空 / Message is empty", code="empty_message", field="content")
    if len(text) > MAX_TEXT:
        raise Invalid(f"消息不能超过 {MAX_TEXT} 字 / Message longer than {MAX_TEXT} characters",
                      code="message_too_long", field="content", max_length=MAX_TEXT)
    return text


def _bump(session: Session, conv: Conversation, *, now: datetime,
          preview: str | None) -> int:
    """Take the conversation's next ``seq`` and record its latest activity, in one statement
    (the row lock it takes orders concurrent writers to one conversation on PostgreSQL)."""
    values: dict[str, object] = {"last_seq": Conversation.last_seq + 1, "last_activity_at": now}
    if preview is not None:
        values["last_message_preview"] = preview
    seq = int(session.execute(
        update(Conversation).where(Conversation.id == conv.id).values(**values)
        .returning(Conversation.last_seq).execution_options(synchronize_session=False)
    ).scalar_one())
    set_committed_value(conv, "last_seq", seq)
    set_committed_value(conv, "last_activity_at", now)
    if preview is not None:
        set_committed_value(conv, "last_message_preview", preview)
    return seq


def _replay(session: Session, client_msg_id: str | None, sender_id: str | None,
            conversation_id: str | None = None, inbox_id: str | None = None) -> Message | None:
    """The message this sender already stored under ``client_msg_id``: in one conversation,
    or in any of the sender's (a customer's) conversations of an inbox."""
    if client_msg_id is None:
        return None
    stmt = select(Message).where(Message.client_msg_id == client_msg_id,
                                 Message.sender_id == sender_id)
    if conversation_id is not None:
        stmt = stmt.where(Message.conversation_id == conversation_id)
    else:
        stmt = stmt.join(Conversation, Conversation.id == Message.conversation_id).where(
            Conversation.inbox_id == inbox_id, Conversation.contact_id == sender_id)
    return session.scalar(stmt.limit(1))


def _check_reopen(session: Session, conv: Conversation) -> None:
    """A resolved conversation may come back only if its customer has no newer one open."""
    newer = session.scalar(
        select(Conversation.id).where(
            Conversation.inbox_id == conv.inbox_id, Conversation.contact_id == conv.contact_id,
            Conversation.status.in_(OPEN_STATUSES), Conversation.id != conv.id))
    if newer:
        raise Conflict("该客户已有进行中的会话 / The customer has another open conversation",
                       code="newer_conversation_open", conversation_id=newer)


def _contact_name(session: Session, conv: Conversation) -> str:
    return session.scalar(select(Contact.name).where(Contact.id == conv.contact_id)) or ""


def _append(uow: UnitOfWork, conv: Conversation, *, sender_type: str, sender_id: str | None,
            sender_name: str, content: str, private: bool = False,
            client_msg_id: str | None = None, contact_name: str | None = None,
            meta: dict[str, Any] | None = None) -> Message:
    now = uow.clock.now()
    seq = _bump(uow.session, conv, now=now, preview=None if private else content[:200])
    msg = Message(id=new_id(), workspace_id=conv.workspace_id, conversation_id=conv.id,
                  seq=seq, sender_type=sender_type, sender_id=sender_id, private=private,
                  content=content, client_msg_id=client_msg_id, meta=meta, created_at=now)
    uow.session.add(msg)
    uow.session.flush()
    if contact_name is None:
        contact_name = _contact_name(uow.session, conv)
    uow.emit(MessageCreated(workspace_id=conv.workspace_id,
                            message=message_read(msg, sender_name),
                            conversation=conversation_read(conv, contact_name)))
    return msg


def _emit_updated(uow: UnitOfWork, conv: Conversation, changed: list[str],
                  actor_id: str | None) -> None:
    contact_name = _contact_name(uow.session, conv)
    uow.emit(ConversationUpdated(workspace_id=conv.workspace_id,
                                 conversation=conversation_read(conv, contact_name),
                                 changed=changed, actor_id=actor_id))


def check_receive_inbound(uow: UnitOfWork, *, inbox: Inbox, contact: Contact,
                          content: str) -> str:
    if inbox.workspace_id != contact.workspace_id:
        raise NotFound("客户不存在 / No such customer", code="contact_not_found")
    if not inbox.is_active:
        raise Invalid("该收件箱已停用 / This inbox is disabled", code="inbox_disabled")
    return _clean_text(content)


def do_receive_inbound(uow: UnitOfWork, *, inbox: Inbox, contact: Contact, content: str,
                       client_msg_id: str | None = None) -> Posted:
    """A customer's message from any channel: dedupe, find or open the conversation, store.

    A resend with a ``client_msg_id`` already stored returns the stored message unchanged.
    A message to a resolved conversation opens a new one (each service session is scored
    and surveyed on its own).
    """
    text = check_receive_inbound(uow, inbox=inbox, contact=contact, content=content)
    # Serialise one customer's sends (PostgreSQL row lock; SQLite has a single writer).
    if uow.session.get_bind().dialect.name != "sqlite":
        uow.session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    replay = _replay(uow.session, client_msg_id, contact.id, inbox_id=inbox.id)
    if replay is not None:
        replayed = uow.session.get(Conversation, replay.conversation_id)
        assert replayed is not None
        return Posted(replay, replayed, created=False)
    now = uow.clock.now()
    found = uow.session.scalar(
        select(Conversation)
        .where(Conversation.inbox_id == inbox.id, Conversation.contact_id == contact.id,
               Conversation.status.in_(OPEN_STATUSES))
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(1))
    if found is not None:
        conv = found
    else:
        start = "bot" if (inbox.settings or {}).get("bot_enabled") else "queued"
        conv = Conversation(id=new_id(), workspace_id=inbox.workspace_id, inbox_id=inbox.id,
                            contact_id=contact.id, status=start, priority="normal",
                            last_seq=0, last_message_preview="", last_activity_at=now,
                            created_at=now)
        uow.session.add(conv)
        uow.session.flush()
        uow.emit(ConversationCreated(workspace_id=conv.workspace_id,
                                     conversation=conversation_read(conv, contact.name)))
    if conv.status == "pending":
        conv.status = "open"
        _emit_updated(uow, conv, ["status"], None)
    if contact.last_seen_at is None or now - contact.last_seen_at > LAST_SEEN_RESOLUTION:
        contact.last_seen_at = now
    msg = _append(uow, conv, sender_type="customer", sender_id=contact.id,
                  sender_name=contact.name, content=text, client_msg_id=client_msg_id,
                  contact_name=contact.name)
    return Posted(msg, conv, created=True)


def check_agent_write(uow: UnitOfWork, actor: Actor, conversation_id: str,
                      content: str) -> tuple[Conversation, str]:
    actor.require("conversation.reply")
    conv = access_conversation(actor, conversation_id, session=uow.session, for_update=True)
    return conv, _clean_text(content)


def do_agent_reply(uow: UnitOfWork, actor: Actor, conversation_id: str, *, content: str,
                   client_msg_id: str | None = None,
                   meta: dict[str, Any] | None = None) -> Posted:
    """An agent's reply to the customer. Takes an unassigned conversation for the agent.
    ``meta``: what other domains note on the message (e.g. QA's masked personal data)."""
    conv, text = check_agent_write(uow, actor, conversation_id, content)
    replay = _replay(uow.session, client_msg_id, actor.user_id, conversation_id=conv.id)
    if replay is not None:
        return Posted(replay, conv, created=False)
    reopened = conv.status == "resolved"
    if reopened:
        _check_reopen(uow.session, conv)
    changed: list[str] = []
    if conv.assignee_id is None:
        conv.assignee_id = actor.user_id
        changed.append("assignee_id")
    if conv.status != "open":
        conv.status = "open"
        conv.resolved_at = None
        changed.append("status")
    if changed:
        _emit_updated(uow, conv, changed, actor.user_id)
    if reopened:
        _activity(uow, conv, f"{actor.name} 回复并重新打开了会话 / "
                             f"{actor.name} replied and reopened the conversation")
    msg = _append(uow, conv, sender_type="agent", sender_id=actor.user_id,
                  sender_name=actor.name, content=text, client_msg_id=client_msg_id, meta=meta)
    return Posted(msg, conv, created=True)


def do_add_note(uow: UnitOfWork, actor: Actor, conversation_id: str, *, content: str,
                client_msg_id: str | None = None) -> Posted:
    """An internal note: stored in the thread, shown to agents only."""
    conv, text = check_agent_write(uow, actor, conversation_id, content)
    replay = _replay(uow.session, client_msg_id, actor.user_id, conversation_id=conv.id)
    if replay is not None:
        return Posted(replay, conv, created=False)
    msg = _append(uow, conv, sender_type="agent", sender_id=actor.user_id,
                  sender_name=actor.name, content=text, private=True,
                  client_msg_id=client_msg_id)
    return Posted(msg, conv, created=True)


def _activity(uow: UnitOfWork, conv: Conversation, text: str,
              meta: dict[str, Any] | None = None) -> None:
    """A system line in the thread; ``meta["activity"]`` names what happened, for readers
    such as QA (``assign``: a (re)assignment)."""
    _append(uow, conv, sender_type="system", sender_id=None, sender_name="", content=text,
            private=True, meta=meta)


def do_activity(uow: UnitOfWork, conv: Conversation, text: str,
                meta: dict[str, Any] | None = None) -> None:
    """A system line in the thread written by another domain (e.g. "已创建工单 #12")."""
    _activity(uow, conv, text, meta)


def do_assign(uow: UnitOfWork, actor: Actor, conversation_id: str, *,
              assignee_id: str | Keep | None = KEEP, team_id: str | Keep | None = KEEP,
              ) -> Conversation:
    """Assign (or transfer) a conversation to an agent and/or a team. ``None`` clears that
    side; ``KEEP`` (the default) leaves it as it is."""
    actor.require("conversation.manage")
    conv = access_conversation(actor, conversation_id, session=uow.session, for_update=True)
    changed: list[str] = []
    if not isinstance(team_id, Keep):
        if team_id is not None:
            access_team(actor, team_id, session=uow.session)
        if conv.team_id != team_id:
            conv.team_id = team_id
            changed.append("team_id")
    if isinstance(assignee_id, Keep):
        if changed:
            _emit_updated(uow, conv, changed, actor.user_id)
        return conv
    if assignee_id is not None:
        user = access_user(actor, assignee_id, session=uow.session)
        if not user.is_active or user.role not in ASSIGNABLE_ROLES:
            raise Invalid("该用户不能接待会话 / This user cannot take conversations",
                          code="not_assignable", id=assignee_id)
        label = (f"{actor.name} 将会话分配给 {user.name} / "
                 f"{actor.name} assigned it to {user.name}")
    else:
        label = f"{actor.name} 取消了分配 / {actor.name} unassigned it"
    if conv.assignee_id != assignee_id:
        conv.assignee_id = assignee_id
        changed.append("assignee_id")
        if assignee_id is not None and conv.status in ("bot", "queued"):
            conv.status = "open"
            changed.append("status")
        elif assignee_id is None and conv.status == "open":
            conv.status = "queued"
            changed.append("status")
    if changed:
        _emit_updated(uow, conv, changed, actor.user_id)
        if "assignee_id" in changed:
            _activity(uow, conv, label, meta={"activity": "assign",
                                              "assignee_id": assignee_id})
    return conv


def do_set_status(uow: UnitOfWork, actor: Actor, conversation_id: str, *,
                  status: str) -> Conversation:
    """Resolve, reopen (``open``) or park (``pending``, waiting on the customer)."""
    actor.require("conversation.manage")
    if status not in ("open", "pending", "resolved"):
        raise Invalid("无效的状态 / Invalid status", code="bad_status", status=status)
    conv = access_conversation(actor, conversation_id, session=uow.session, for_update=True)
    if conv.status == status:
        return conv
    if conv.status == "resolved":
        _check_reopen(uow.session, conv)
    previous = conv.status
    conv.status = status
    if status == "resolved":
        conv.resolved_at = uow.clock.now()
        label = f"{actor.name} 已解决会话 / {actor.name} resolved the conversation"
    elif previous == "resolved":
        conv.resolved_at = None
        label = f"{actor.name} 重新打开了会话 / {actor.name} reopened the conversation"
    elif status == "pending":
        label = f"{actor.name} 将会话设为待客户回复 / {actor.name} set the conversation to pending"
    else:
        label = f"{actor.name} 继续处理会话 / {actor.name} set the conversation to open"
    if status == "open" and conv.assignee_id is None:
        conv.assignee_id = actor.user_id
        _emit_updated(uow, conv, ["status", "assignee_id"], actor.user_id)
    else:
        _emit_updated(uow, conv, ["status"], actor.user_id)
    _activity(uow, conv, label)
    return conv


#: a bot answer may be as long as a knowledge-base answer (customers' and agents' messages:
#: ``MAX_TEXT``)
MAX_BOT_TEXT = 20_000


def do_bot_message(uow: UnitOfWork, conv: Conversation, *, content: str, sender_name: str,
                   meta: dict[str, Any] | None = None) -> Message:
    """A message from the answering bot (or an automatic reply), shown to the customer."""
    if conv.status == "resolved":
        raise Conflict("会话已结束 / The conversation is resolved", code="conversation_resolved")
    text = content.replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("消息不能为空 / Message is empty", code="empty_message", field="content")
    return _append(uow, conv, sender_type="bot", sender_id=None, sender_name=sender_name,
                   content=text[:MAX_BOT_TEXT], meta=meta)


def do_handoff(uow: UnitOfWork, conv: Conversation, *, label: str) -> Conversation:
    """The bot hands the conversation to the human queue; ``label`` says why (activity line).
    Only a conversation still with the bot moves; anything else is left alone."""
    if conv.status != "bot":
        return conv
    conv.status = "queued"
    _emit_updated(uow, conv, ["status"], None)
    _activity(uow, conv, label)
    return conv


def do_set_priority(uow: UnitOfWork, actor: Actor, conversation_id: str, *,
                    priority: str) -> Conversation:
    actor.require("conversation.manage")
    conv = access_conversation(actor, conversation_id, session=uow.session, for_update=True)
    if conv.priority != priority:
        conv.priority = priority
        _emit_updated(uow, conv, ["priority"], actor.user_id)
    return conv
