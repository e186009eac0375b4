"""Conversations for agents: lists, one conversation, messages, replies, notes, assignment."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid
from kefu.core.pagination import MAX_LIMIT, Page
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.access import access_conversation
from kefu.inbox.queries import message_read
from kefu.inbox.schemas import (
    MAX_TEXT,
    AssignRequest,
    ConversationRead,
    MessageCreate,
    MessageRead,
    PriorityRequest,
    Status,
    StatusRequest,
)
from kefu.qa import live as qa_live
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.get("", response_model=Page[ConversationRead])
def list_conversations(
    request: Request,
    actor: Actor = Depends(current_actor),
    view: Literal["unassigned", "mine", "all"] = "all",
    status: Status | None = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> Page[ConversationRead]:
    """``unassigned`` and ``mine`` show conversations still in progress unless ``status``
    is given; ``all`` shows every status."""
    with services(request).uows(readonly=True) as uow:
        return inbox_queries.list_conversations(uow.session, actor, view=view, status=status,
                                                limit=limit, offset=offset)


@router.get("/{conversation_id}", response_model=ConversationRead)
def get_conversation(conversation_id: str, request: Request,
                     actor: Actor = Depends(current_actor)) -> ConversationRead:
    with services(request).uows(readonly=True) as uow:
        conv = access_conversation(actor, conversation_id, session=uow.session)
        return inbox_queries.get_conversation_read(uow.session, conv)


@router.get("/{conversation_id}/messages", response_model=list[MessageRead])
def list_messages(
    conversation_id: str,
    request: Request,
    actor: Actor = Depends(current_actor),
    after_seq: int = Query(0, ge=0),
    before_seq: int | None = Query(None, ge=1),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
) -> list[MessageRead]:
    """Messages in ``seq`` order (notes included): after ``after_seq``, or the last
    ``limit`` before ``before_seq``."""
    with services(request).uows(readonly=True) as uow:
        conv = access_conversation(actor, conversation_id, session=uow.session)
        return inbox_queries.list_messages(uow.session, conv.id, after_seq=after_seq,
                                           before_seq=before_seq, limit=limit)


def _posted(response: Response, posted: inbox_actions.Posted) -> MessageRead:
    response.status_code = 201 if posted.created else 200
    if not posted.created:
        response.headers["X-Kefu-Duplicate"] = "1"
    return message_read(posted.message)


class ReplyCreate(MessageCreate):
    #: send a draft that a blocking quality rule stopped; the reason is audited
    qa_override_reason: str | None = Field(default=None, min_length=1,
                                           max_length=qa_live.MAX_REASON)


class QaCheckRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


def _blocked_hits(check: qa_live.DraftCheck) -> list[dict[str, Any]]:
    return [{"rule_id": h.rule_id, "rule_name": h.rule_name, "kind": h.kind,
             "span": list(h.span) if h.span is not None else None} for h in check.blocking]


@router.post("/{conversation_id}/messages", response_model=MessageRead, status_code=201)
def reply(conversation_id: str, data: ReplyCreate, request: Request, response: Response,
          actor: Actor = Depends(current_actor)) -> MessageRead:
    """Reply to the customer. A resend with the same ``client_msg_id`` returns the stored
    message with status 200 and ``X-Kefu-Duplicate: 1``.

    The draft is checked against the workspace's quality rules first: a hit of a blocking rule
    answers 422 ``qa_blocked`` with the hits (``rule_id``, ``rule_name``, ``kind``, ``span``
    into ``content`` as it would be stored: trimmed, ``\\r\\n`` → ``\\n``) and stores
    nothing. Sending it anyway takes ``qa_override_reason`` (1–500 characters): the message
    is sent and the override audited (``qa.override``). A personal-data rule with ``mask``
    stores and delivers the reply masked (``138****5678``)."""
    svc = services(request)
    with svc.uows() as uow:
        # checked as it will be stored (trimmed), so spans and masking fit the stored text
        text = data.content.replace("\r\n", "\n").strip()
        check = qa_live.check_draft(uow, svc.qa, actor, conversation_id, text)
        reason = (data.qa_override_reason or "").strip()
        if check.blocked and not reason:
            raise Invalid("消息包含不允许发送的内容，请修改后再发送 / The message contains words "
                          "that may not be sent: rephrase it", code="qa_blocked",
                          hits=_blocked_hits(check))
        meta = {"qa_masked": [h.as_dict() for h in check.masked_hits]} \
            if check.masked is not None else None
        posted = inbox_actions.do_agent_reply(uow, actor, conversation_id,
                                              content=check.masked or text,
                                              client_msg_id=data.client_msg_id, meta=meta)
        if check.blocked and posted.created:
            # spans into the message as stored (trimmed), not the draft as typed
            stored = qa_live.check_draft(uow, svc.qa, actor, conversation_id,
                                         posted.message.content)
            qa_live.record_override(uow, actor, conversation_id, posted.message.id,
                                    stored.blocking or check.blocking, reason)
        result = _posted(response, posted)
    return result.model_copy(update={"sender_name": actor.name})


@router.post("/{conversation_id}/qa-check")
def qa_check(conversation_id: str, data: QaCheckRequest, request: Request,
             actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Check a draft reply against the quality rules without sending it: ``blocked``,
    ``blocking`` hits (not sent without an override) and ``other`` hits, each with
    ``rule_id``, ``rule_name``, ``kind``, ``span``, ``block``, ``alert``."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        return qa_live.check_draft(uow, svc.qa, actor, conversation_id, data.text).as_dict()


@router.post("/{conversation_id}/notes", response_model=MessageRead, status_code=201)
def add_note(conversation_id: str, data: MessageCreate, request: Request, response: Response,
             actor: Actor = Depends(current_actor)) -> MessageRead:
    """An internal note: visible to agents only, never sent to the customer."""
    with services(request).uows() as uow:
        posted = inbox_actions.do_add_note(uow, actor, conversation_id, content=data.content,
                                           client_msg_id=data.client_msg_id)
        result = _posted(response, posted)
    return result.model_copy(update={"sender_name": actor.name})


def _conv(request: Request, conv_id: str) -> ConversationRead:
    with services(request).uows(readonly=True) as uow:
        from kefu.inbox.models import Conversation

        conv = uow.session.get(Conversation, conv_id)
        assert conv is not None
        return inbox_queries.get_conversation_read(uow.session, conv)


@router.post("/{conversation_id}/assign", response_model=ConversationRead)
def assign(conversation_id: str, data: AssignRequest, request: Request,
           actor: Actor = Depends(current_actor)) -> ConversationRead:
    """Assign or transfer to an agent (``assignee_id``) and/or a team (``team_id``). A field
    given as null clears it; a field left out is not changed."""
    given = data.model_fields_set
    with services(request).uows() as uow:
        inbox_actions.do_assign(
            uow, actor, conversation_id,
            assignee_id=data.assignee_id if "assignee_id" in given else inbox_actions.KEEP,
            team_id=data.team_id if "team_id" in given else inbox_actions.KEEP)
    return _conv(request, conversation_id)


@router.post("/{conversation_id}/status", response_model=ConversationRead)
def set_status(conversation_id: str, data: StatusRequest, request: Request,
               actor: Actor = Depends(current_actor)) -> ConversationRead:
    """``resolved`` resolves, ``open`` reopens, ``pending`` waits on the customer."""
    with services(request).uows() as uow:
        inbox_actions.do_set_status(uow, actor, conversation_id, status=data.status)
    return _conv(request, conversation_id)


@router.post("/{conversation_id}/priority", response_model=ConversationRead)
def set_priority(conversation_id: str, data: PriorityRequest, request: Request,
                 actor: Actor = Depends(current_actor)) -> ConversationRead:
    with services(request).uows() as uow:
        inbox_actions.do_set_priority(uow, actor, conversation_id, priority=data.priority)
    return _conv(request, conversation_id)


