"""Map every error to one JSON shape: ``{"error": {"code", "message", "details"}}``.

Also caps request bodies: a body larger than the limit is refused with 413 before it is read
into memory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.core.errors import DomainError

log = logging.getLogger("kefu.web")

HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "permission_denied",
              404: "not_found", 405: "method_not_allowed", 409: "conflict",
              413: "body_too_large", 415: "unsupported_media_type", 422: "invalid",
              429: "rate_limited"}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers = None
    if exc.status == 429 and "retry_after" in exc.details:
        headers = {"Retry-After": str(int(exc.details["retry_after"]) + 1)}
    return error_response(exc.status, exc.code, exc.message, _json_safe(exc.details), headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "请求体不是合法的 JSON / Body is not valid JSON")
    fields = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type"),
               "msg": e.get("msg")} for e in errors]
    too_long = [f for f in fields if f["type"] == "string_too_long"]
    if too_long:
        return error_response(422, "too_long", "字段超过长度上限 / A field is too long",
                              {"fields": too_long})
    return error_response(422, "validation_error", "请求字段无效 / Invalid request fields",
                          {"fields": fields})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error_response(exc.status_code, code, message,
                          headers=dict(exc.headers) if exc.headers else None)


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "服务器内部错误 / Internal server error")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False
        rejected = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent; drop what the app answers to the abort
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Answer now: frameworks turn errors raised while reading the body into
                    # their own responses (FastAPI: 400), so the exception alone is not enough.
                    if not started and not rejected:
                        await self._reject(scope, receive, send)
                        rejected = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started and not rejected:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"请求体超过 {self.limit} 字节 / Body larger than {self.limit} bytes"
        response = error_response(413, "body_too_large", message, {"max_bytes": self.limit})
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class UploadLimit(BodyLimit):
    """``BodyLimit`` for one upload route: the cap is the file limit plus the multipart
    framing, and a larger body is refused as the domain would name it (413
    ``file_too_large``) before it is read into memory."""

    def __init__(self, app: ASGIApp, limit: int, *, file_limit: int) -> None:
        super().__init__(app, limit)
        self.file_limit = file_limit

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        mb = self.file_limit // (1024 * 1024)
        response = error_response(413, "file_too_large",
                                  f"文件不能超过 {mb} MB / The file is larger than {mb} MB",
                                  {"max_bytes": self.file_limit})
        await response(scope, receive, send)


class BodyLimits:
    """The app's ``BodyLimit`` for every request, except POSTs to the upload routes."""

    def __init__(self, app: ASGIApp, limit: int, *, uploads: Mapping[str, int],
                 slack: int) -> None:
        self.default = BodyLimit(app, limit)
        self.uploads = {path: UploadLimit(app, max(limit, file_limit + slack),
                                          file_limit=file_limit)
                        for path, file_limit in uploads.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guard = None
        if scope["type"] == "http" and scope.get("method") == "POST":
            guard = self.uploads.get(scope["path"])
        await (guard or self.default)(scope, receive, send)


def install(app: FastAPI, *, max_body_bytes: int, uploads: Mapping[str, int] | None = None,
            upload_slack: int = 0) -> None:
    """Error handlers and the body cap: ``max_body_bytes`` for every request, except POSTs to
    ``uploads`` (path -> largest file), which may take their file plus ``upload_slack``."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
    app.add_middleware(BodyLimits, limit=max_body_bytes, uploads=dict(uploads or {}),
                       slack=upload_slack)
    app.add_middleware(WebchatCORS)


class WebchatCORS:
    """Let host sites call the public web chat API from their own origin (no cookies)."""

    PREFIX = "/api/v1/webchat/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        if scope["method"] == "OPTIONS" and origin is not None:
            response = Response(status_code=204, headers={
                "Access-Control-Allow-Origin": origin.decode("latin-1"),
                "Access-Control-Allow-Methods": "GET, POST, PATCH, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            })
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and origin is not None:
                message = dict(message)
                message["headers"] = [*message.get("headers", []),
                                      (b"access-control-allow-origin", origin),
                                      (b"vary", b"Origin")]
            await send(message)

        await self.app(scope, receive, send_with_cors)
