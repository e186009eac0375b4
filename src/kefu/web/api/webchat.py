"""Public web chat endpoints used by the widget (and its HTTP fallback when sockets fail).

Visitors authenticate with the visitor token from ``POST /api/v1/webchat/{inbox}/sessions``,
sent as ``Authorization: Visitor <token>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from kefu.bot.schemas import FeedbackCreate
from kefu.core.errors import PermissionDenied
from kefu.web import webchat
from kefu.web.deps import services

router = APIRouter(prefix="/api/v1/webchat", tags=["webchat"])


def _visitor(request: Request, inbox_id: str | None = None) -> webchat.Visitor:
    header = request.headers.get("authorization", "")
    token = header[8:].strip() if header.lower().startswith("visitor ") else None
    return webchat.visitor_from_token(services(request), token, inbox_id=inbox_id)


def _check_origin(request: Request, inbox_id: str) -> None:
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        from kefu.inbox.access import public_inbox

        inbox = public_inbox(inbox_id, session=uow.session)
        if not webchat.origin_allowed(inbox, request.headers.get("origin")):
            raise PermissionDenied("此网站不允许嵌入该客服窗口 / Origin not allowed",
                                   code="origin_not_allowed")


@router.get("/{inbox_id}/config")
def inbox_config(inbox_id: str, request: Request) -> dict[str, Any]:
    """The widget's public settings (name, greeting, colour, pre-chat form)."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        from kefu.inbox.access import public_inbox

        return webchat.public_config(public_inbox(inbox_id, session=uow.session), uow.session)


@router.post("/{inbox_id}/sessions")
def start_session(inbox_id: str, data: webchat.SessionStart, request: Request) -> dict[str, Any]:
    """Start or resume a visitor: with ``token`` the same visitor comes back; with
    ``user_id`` + ``user_hash`` (HMAC-SHA256 of the id with the inbox secret) the host site's
    logged-in user is identified. Returns the visitor token and the visitor's history."""
    _check_origin(request, inbox_id)
    return webchat.start_session(services(request), inbox_id, data)


@router.get("/{inbox_id}/messages")
def fetch_messages(inbox_id: str, request: Request,
                   conversation_id: str | None = Query(None, max_length=24),
                   after_seq: int = Query(0, ge=0)) -> dict[str, Any]:
    """HTTP fallback: what the visitor missed after ``after_seq`` (and later conversations)."""
    visitor = _visitor(request, inbox_id)
    return webchat.missed(services(request), visitor, conversation_id=conversation_id,
                          after_seq=after_seq)


@router.post("/{inbox_id}/messages")
def send_message(inbox_id: str, data: webchat.VisitorSend, request: Request,
                 response: Response) -> dict[str, Any]:
    """HTTP fallback: send a message. A resend with the same ``client_msg_id`` is acked
    with the stored message (``duplicate: true``), never stored twice."""
    _check_origin(request, inbox_id)
    visitor = _visitor(request, inbox_id)
    ack = webchat.send(services(request), visitor, content=data.content,
                       client_msg_id=data.client_msg_id)
    response.status_code = 200 if ack["duplicate"] else 201
    return ack


@router.patch("/{inbox_id}/contact")
def update_contact(inbox_id: str, data: webchat.PrechatUpdate, request: Request) -> dict[str, Any]:
    """The pre-chat form: the visitor's name / phone / email."""
    visitor = _visitor(request, inbox_id)
    return webchat.update_prechat(services(request), visitor, data)


@router.post("/{inbox_id}/suggestions")
def suggestions(inbox_id: str, data: webchat.SuggestRequest, request: Request) -> dict[str, Any]:
    """猜你想问: questions to offer under the greeting, chosen for the host page (its URL and
    context, e.g. ``{"order_status": "unpaid"}``) and by what customers ask most."""
    _check_origin(request, inbox_id)
    return webchat.suggestions(services(request), inbox_id, data)


@router.post("/{inbox_id}/feedback")
def feedback(inbox_id: str, data: FeedbackCreate, request: Request) -> dict[str, Any]:
    """有用 / 没用 on a bot answer (``turn_id`` from the answer's ``meta``). Sending the same
    feedback again changes nothing; "没用" may hand the conversation to a human."""
    _check_origin(request, inbox_id)
    visitor = _visitor(request, inbox_id)
    return webchat.feedback(services(request), visitor, data)
