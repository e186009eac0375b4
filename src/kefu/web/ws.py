"""WebSocket endpoints: ``/ws/webchat`` for visitors, ``/ws/agent`` for the agent workspace.

Clients load a snapshot over HTTP, then subscribe here. Visitors send messages over the
socket and get an ``ack`` per message (stored id + seq); on reconnect they send ``resume``
with the last seq they saw. Agents receive every event of their workspace and send typing
indicators; their writes go through the REST API (CSRF-protected).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from kefu.accounts.actor import Actor
from kefu.accounts.queries import token_actor
from kefu.channels.webchat.adapter import (
    PingFrame,
    ResumeFrame,
    SendFrame,
    TypingFrame,
    adapter,
)
from kefu.core.errors import DomainError
from kefu.inbox.access import access_conversation, public_inbox
from kefu.realtime.hub import (
    Connection,
    agents_topic,
    supervisors_topic,
    user_topic,
    visitor_topic,
)
from kefu.services import Services
from kefu.web import webchat
from kefu.web.deps import resolve_auth, services

log = logging.getLogger("kefu.ws")
router = APIRouter()

CLOSE_POLICY = 1008
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _error(exc: DomainError, ref: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": exc.code, "message": exc.message,
            "ref": ref if ref is not None else exc.details.get("ref")}


async def _pump(ws: WebSocket, conn: Connection) -> None:
    """Send queued frames to the socket until the connection is closed."""
    while True:
        frame = await conn.queue.get()
        if frame is None:
            await ws.close(code=1013)  # try again later: the client reconnects and resumes
            return
        await ws.send_text(frame)


async def _send(ws: WebSocket, frame: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(frame, ensure_ascii=False, default=str))


@router.websocket("/ws/webchat")
async def webchat_socket(ws: WebSocket) -> None:
    svc = services(ws)
    token = ws.query_params.get("token")
    try:
        visitor = webchat.visitor_from_token(svc, token,
                                             inbox_id=ws.query_params.get("inbox") or None)

        def _inbox_ok() -> bool:
            with svc.uows(readonly=True) as uow:
                inbox = public_inbox(visitor.claims.inbox_id, session=uow.session)
                return webchat.origin_allowed(inbox, ws.headers.get("origin"))

        allowed = await run_in_threadpool(_inbox_ok)
    except DomainError as exc:
        await ws.accept()
        await _send(ws, _error(exc))
        await ws.close(code=CLOSE_UNAUTHENTICATED)
        return
    if not allowed:
        await ws.close(code=CLOSE_FORBIDDEN)
        return
    await ws.accept()
    claims = visitor.claims
    conn = Connection(f"visitor:{claims.contact_id}")
    topic = visitor_topic(claims.inbox_id, claims.contact_id)
    svc.hub.subscribe(conn, topic)
    pump = asyncio.create_task(_pump(ws, conn))
    try:
        conversations = await run_in_threadpool(webchat.visitor_conversations, svc, visitor)
        await _send(ws, {"type": "hello", "contact_id": claims.contact_id,
                         "conversations": conversations})
        while True:
            raw = await ws.receive()
            if raw["type"] == "websocket.disconnect":
                break
            await _visitor_frame(svc, visitor, conn, raw)
    except WebSocketDisconnect:
        pass
    finally:
        await _hang_up(svc, conn, pump)


async def _hang_up(svc: Services, conn: Connection, pump: asyncio.Task[None]) -> None:
    svc.hub.unsubscribe_all(conn)
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await pump


async def _visitor_frame(svc: Services, visitor: webchat.Visitor, conn: Connection,
                         raw: Message) -> None:
    """Handle one frame from a visitor; protocol errors become ``error`` frames."""
    claims = visitor.claims
    text = raw.get("text")
    try:
        frame = adapter.parse_frame(text if text is not None else raw.get("bytes"))
        if isinstance(frame, SendFrame):
            ack = await run_in_threadpool(webchat.send, svc, visitor, content=frame.content,
                                          client_msg_id=frame.client_msg_id)
            conn.put(json.dumps(ack, ensure_ascii=False))
        elif isinstance(frame, ResumeFrame):
            missed = await run_in_threadpool(webchat.missed, svc, visitor,
                                             conversation_id=frame.conversation_id,
                                             after_seq=frame.after_seq)
            conn.put(json.dumps(missed, ensure_ascii=False, default=str))
        elif isinstance(frame, TypingFrame):
            svc.broker.publish(agents_topic(claims.workspace_id), {
                "type": "typing", "sender_type": "customer", "on": frame.on,
                "contact_id": claims.contact_id, "inbox_id": claims.inbox_id,
                "conversation_id": frame.conversation_id})
        elif isinstance(frame, PingFrame):
            conn.put('{"type":"pong"}')
    except DomainError as exc:
        ref = None
        if isinstance(text, str) and '"client_msg_id"' in text:
            with contextlib.suppress(ValueError, AttributeError):
                ref = json.loads(text).get("client_msg_id")
        conn.put(json.dumps(_error(exc, ref), ensure_ascii=False, default=str))


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # non-browser clients (API tokens, tests) send no Origin
        return True
    return urlsplit(origin).netloc.lower() == (ws.headers.get("host") or "").lower()


async def _agent_actor(ws: WebSocket, svc: Services) -> Actor | None:
    """The agent behind a socket: the browser session cookie, or ``?token=`` (API token)."""
    try:
        auth = await run_in_threadpool(resolve_auth, ws)
    except DomainError:
        auth = None
    if auth is not None:
        return auth.actor
    token = ws.query_params.get("token")
    if not token:
        return None

    def by_token() -> Actor | None:
        with svc.uows(readonly=True) as uow:
            return token_actor(uow.session, token)

    return await run_in_threadpool(by_token)


@router.websocket("/ws/agent")
async def agent_socket(ws: WebSocket) -> None:
    svc = services(ws)
    if not _same_origin(ws):
        await ws.close(code=CLOSE_FORBIDDEN)
        return
    actor = await _agent_actor(ws, svc)
    await ws.accept()
    if actor is None:
        await _send(ws, {"type": "error", "code": "unauthenticated",
                         "message": "请先登录 / Please log in", "ref": None})
        await ws.close(code=CLOSE_UNAUTHENTICATED)
        return
    conn = Connection(f"agent:{actor.user_id}")
    svc.hub.subscribe(conn, agents_topic(actor.workspace_id))
    svc.hub.subscribe(conn, user_topic(actor.user_id))  # notifications
    if actor.can("qa.alerts"):  # live quality alerts (``qa.alert`` frames)
        svc.hub.subscribe(conn, supervisors_topic(actor.workspace_id))
    pump = asyncio.create_task(_pump(ws, conn))
    await _send(ws, {"type": "hello", "user_id": actor.user_id})
    try:
        while True:
            raw = await ws.receive()
            if raw["type"] == "websocket.disconnect":
                break
            try:
                data = json.loads(raw.get("text") or "")
                kind = data.get("type") if isinstance(data, dict) else None
            except ValueError:
                kind = None
                data = {}
            if kind == "ping":
                conn.put('{"type":"pong"}')
            elif kind == "typing" and isinstance(data.get("conversation_id"), str):
                await run_in_threadpool(_agent_typing, svc, actor, data, conn)
            else:
                conn.put(json.dumps({"type": "error", "code": "bad_frame",
                                     "message": "未知的帧 / Unknown frame", "ref": None}))
    except WebSocketDisconnect:
        pass
    finally:
        await _hang_up(svc, conn, pump)


def _agent_typing(svc: Services, actor: Actor, data: dict[str, Any],
                  conn: Connection) -> None:
    try:
        with svc.uows(readonly=True) as uow:
            conv = access_conversation(actor, data["conversation_id"], session=uow.session)
            inbox_id, contact_id = conv.inbox_id, conv.contact_id
    except DomainError as exc:
        conn.put(json.dumps(_error(exc), ensure_ascii=False, default=str))
        return
    on = bool(data.get("on", True))
    svc.broker.publish(visitor_topic(inbox_id, contact_id),
                       {"type": "typing", "sender_type": "agent", "on": on})
    svc.broker.publish(agents_topic(actor.workspace_id),
                       {"type": "typing", "sender_type": "agent", "on": on,
                        "user_id": actor.user_id, "conversation_id": data["conversation_id"]})
