"""Web chat wire format: visitor tokens, identity checks and the WebSocket frames.

Client → server frames::

    {"type": "message", "client_msg_id": "…", "content": "…"}
    {"type": "resume", "conversation_id": "…" | null, "after_seq": 0}
    {"type": "typing", "on": true}
    {"type": "ping"}

Server → client frames::

    {"type": "hello", "contact_id", "conversations": [{"id", "status", "last_seq"}]}
    {"type": "ack", "client_msg_id", "id", "seq", "conversation_id", "duplicate": bool}
    {"type": "message", "message": {...}}
    {"type": "messages", "conversation_id", "messages": [...]}      (answer to resume)
    {"type": "conversation", "conversation": {"id", "status", "last_seq"}}
    {"type": "typing", "sender_type": "agent", "on": bool}
    {"type": "error", "code", "message", "ref": client_msg_id | null}
    {"type": "pong"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from kefu.channels.base import InboundMessage
from kefu.channels.registry import register
from kefu.core.errors import Invalid, PermissionDenied, Unauthenticated
from kefu.core.ids import new_id
from kefu.core.security import check_identity_hmac

MAX_TEXT = 4000
MAX_FRAME_BYTES = 32 * 1024
TOKEN_MAX_AGE = 365 * 24 * 3600
VISITOR = "webchat_visitor"
HOST_USER = "host_user"


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    workspace_id: str
    inbox_id: str
    contact_id: str
    identity_kind: str
    external_id: str


class WebchatAdapter:
    channel_type = "webchat"
    max_text = MAX_TEXT

    # -- visitor tokens -----------------------------------------------------------------

    @staticmethod
    def _serializer(secret_key: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(secret_key, salt="kefu.webchat.visitor")

    def issue_token(self, secret_key: str, claims: VisitorClaims) -> str:
        return self._serializer(secret_key).dumps({
            "w": claims.workspace_id, "i": claims.inbox_id, "c": claims.contact_id,
            "k": claims.identity_kind, "x": claims.external_id,
        })

    def read_token(self, secret_key: str, token: str, *, inbox_id: str | None = None,
                   max_age: int = TOKEN_MAX_AGE) -> VisitorClaims:
        try:
            data = self._serializer(secret_key).loads(token, max_age=max_age)
        except SignatureExpired:
            raise Unauthenticated("访客凭证已过期 / Visitor token expired",
                                  code="visitor_token_expired") from None
        except BadSignature:
            raise Unauthenticated("访客凭证无效 / Invalid visitor token",
                                  code="visitor_token_invalid") from None
        claims = VisitorClaims(workspace_id=data["w"], inbox_id=data["i"], contact_id=data["c"],
                               identity_kind=data["k"], external_id=data["x"])
        if inbox_id is not None and claims.inbox_id != inbox_id:
            raise PermissionDenied("访客凭证属于另一个收件箱 / Visitor token is for another inbox",
                                   code="visitor_token_wrong_inbox")
        return claims

    @staticmethod
    def new_visitor_id() -> str:
        return "v_" + new_id()

    @staticmethod
    def verify_host_identity(inbox_secret: str, user_id: str, user_hash: str) -> None:
        """The host site proves who its logged-in user is: HMAC-SHA256(secret, user_id)."""
        if not user_id or len(user_id) > 200:
            raise Invalid("用户标识无效 / Bad user id", code="bad_user_id", field="user_id")
        if not check_identity_hmac(inbox_secret, user_id, user_hash or ""):
            raise Unauthenticated("身份签名校验失败 / Identity hash does not match",
                                  code="identity_hash_mismatch")

    # -- frames -------------------------------------------------------------------------

    def parse_frame(self, raw: str | bytes | None) -> ClientFrame:
        if raw is None:
            raise Invalid("只接受文本帧 / Only text frames are accepted", code="bad_frame")
        if isinstance(raw, bytes):
            raise Invalid("只接受文本帧 / Only text frames are accepted", code="bad_frame")
        if len(raw.encode()) > MAX_FRAME_BYTES:
            raise Invalid("帧太大 / Frame too large", code="frame_too_large")
        try:
            data: Any = json.loads(raw)
        except ValueError:
            raise Invalid("帧不是合法的 JSON / Frame is not valid JSON",
                          code="invalid_json") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise Invalid("帧缺少 type 字段 / Frame has no type", code="bad_frame")
        if data["type"] not in FRAME_TYPES:
            raise Invalid(f"未知的帧类型 / Unknown frame type: {data['type'][:40]}",
                          code="unknown_frame_type")
        try:
            return _frame_adapter.validate_python(data)
        except ValidationError as exc:
            too_long = any(e.get("type") == "string_too_long" for e in exc.errors())
            if too_long:
                raise Invalid(f"消息不能超过 {MAX_TEXT} 字 / Message too long",
                              code="message_too_long", ref=data.get("client_msg_id")) from None
            raise Invalid("帧字段无效 / Invalid frame fields", code="bad_frame",
                          errors=[{"loc": list(e["loc"]), "msg": e["msg"]}
                                  for e in exc.errors()]) from None

    def inbound(self, claims: VisitorClaims, frame: SendFrame) -> InboundMessage:
        return InboundMessage(channel_type=self.channel_type, inbox_id=claims.inbox_id,
                              identity_kind=claims.identity_kind,
                              identity_external_id=claims.external_id, content=frame.content,
                              external_id=frame.client_msg_id)


class SendFrame(BaseModel):
    type: Literal["message"]
    client_msg_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    content: str = Field(min_length=1, max_length=MAX_TEXT)


class ResumeFrame(BaseModel):
    type: Literal["resume"]
    conversation_id: str | None = Field(default=None, max_length=24)
    after_seq: int = Field(default=0, ge=0)


class TypingFrame(BaseModel):
    type: Literal["typing"]
    on: bool = True
    conversation_id: str | None = Field(default=None, max_length=24)


class PingFrame(BaseModel):
    type: Literal["ping"]


ClientFrame = Annotated[SendFrame | ResumeFrame | TypingFrame | PingFrame,
                        Field(discriminator="type")]
_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
FRAME_TYPES = ("message", "resume", "typing", "ping")

adapter = WebchatAdapter()
register(adapter)
