"""Conversations for agents: lists, one conversation, messages, replies, notes, assignment."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from kefu.accounts.actor import Actor
from kefu.core.pagination import MAX_LIMIT, Page
from kefu.inbox import actions as inbox_actions
from kefu.inbox import queries as inbox_queries
from kefu.inbox.access import access_conversation
from kefu.inbox.queries import message_read
from kefu.inbox.schemas import (
    AssignRequest,
    ConversationRead,
    MessageCreate,
    MessageRead,
    PriorityRequest,
    Status,
    StatusRequest,
)
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


@router.post("/{conversation_id}/messages", response_model=MessageRead, status_code=201)
def reply(conversation_id: str, data: MessageCreate, request: Request, response: Response,
          actor: Actor = Depends(current_actor)) -> MessageRead:
    """Reply to the customer. A resend with the same ``client_msg_id`` returns the stored
    message with status 200 and ``X-Kefu-Duplicate: 1``."""
    with services(request).uows() as uow:
        posted = inbox_actions.do_agent_reply(uow, actor, conversation_id, content=data.content,
                                              client_msg_id=data.client_msg_id)
        result = _posted(response, posted)
    return result.model_copy(update={"sender_name": actor.name})


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


