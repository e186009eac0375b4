"""Request-scoped helpers for routes: services, the acting user, CSRF, units of work."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from kefu.accounts import actions as account_actions
from kefu.accounts import queries as account_queries
from kefu.accounts.actor import Actor
from kefu.core.errors import PermissionDenied, Unauthenticated
from kefu.services import Services

SESSION_COOKIE = "kefu_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def services(conn: HTTPConnection) -> Services:
    svc: Services = conn.app.state.services
    return svc


@dataclass(frozen=True)
class Auth:
    actor: Actor
    via: str  # "session" or "token"
    csrf_token: str | None = None
    locale: str = "zh-CN"


def resolve_auth(conn: HTTPConnection) -> Auth | None:
    """Who is calling: a bearer API token, or the browser session cookie."""
    svc = services(conn)
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        with svc.uows(readonly=True) as uow:
            actor = account_queries.token_actor(uow.session, token)
            stale = actor is not None and account_queries.token_needs_touch(
                uow.session, token, now=svc.clock.now())
        if actor is None:
            raise Unauthenticated("API 令牌无效 / Invalid API token", code="invalid_token")
        if stale:
            with svc.uows() as uow:
                account_actions.do_touch_api_token(uow, token=token)
        return Auth(actor=actor, via="token")
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        with svc.uows(readonly=True) as uow:
            found = account_queries.session_actor(uow.session, cookie, clock=svc.clock)
        if found is not None:
            actor, auth_session, user = found
            return Auth(actor=actor, via="session", csrf_token=auth_session.csrf_token,
                        locale=user.locale)
    return None


def check_csrf(request: Request, auth: Auth, form_token: str | None = None) -> None:
    if auth.via != "session" or request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER) or form_token or ""
    if not auth.csrf_token or not hmac.compare_digest(given, auth.csrf_token):
        raise PermissionDenied("CSRF 校验失败，请刷新页面 / CSRF check failed: reload the page",
                               code="csrf_failed")


def current_auth(request: Request) -> Auth:
    auth = resolve_auth(request)
    if auth is None:
        raise Unauthenticated("请先登录 / Please log in", code="unauthenticated")
    check_csrf(request, auth)
    return auth


def current_actor(auth: Auth = Depends(current_auth)) -> Actor:
    return auth.actor


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"
