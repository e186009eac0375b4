"""Server-rendered pages of the agent workspace: login, logout, the workspace, API docs.

The workspace page is a shell: ``static/app.js`` loads conversations from the REST API
(sending the session's CSRF token as ``X-CSRF-Token``) and follows ``/ws/agent``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kefu.accounts import actions as account_actions
from kefu.accounts import queries as account_queries
from kefu.core.errors import DomainError
from kefu.web.api.auth import login_user, set_session_cookie
from kefu.web.deps import SESSION_COOKIE, Auth, services
from kefu.web.i18n import Translator
from kefu.web.ui import admin
from kefu.web.ui.render import (
    LOGIN_PATH,
    Form,
    csrf_ok,
    error_page,
    field,
    locale_of,
    login_redirect,
    page_auth,
    read_form,
    redirect,
    render,
    safe_next,
)

router = APIRouter(include_in_schema=False)
router.include_router(admin.router)

LOGIN_CSRF_COOKIE = "kefu_login_csrf"
MAX_EMAIL = 254
MAX_PASSWORD = 200

#: permissions the workspace script needs to know about (it hides what the user cannot do)
UI_PERMISSIONS = ("conversation.reply", "conversation.manage", "conversation.assign_others",
                  "contact.write", "admin.manage", "admin.read", "kb.read")


@router.get("/")
def root() -> Response:
    return redirect("/app")


# -- login / logout -------------------------------------------------------------------------

def _login_signature(request: Request, nonce: str) -> str:
    key = services(request).settings.secret_key.encode()
    return hmac.new(key, f"login-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def new_login_csrf(request: Request) -> str:
    """A signed double-submit token: ``<nonce>.<hmac>`` (cookie and hidden field)."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_login_signature(request, nonce)}"


def login_csrf_valid(request: Request, token: str) -> bool:
    nonce, _, signature = token.partition(".")
    if not nonce or len(token) > 120:
        return False
    return hmac.compare_digest(signature.encode(), _login_signature(request, nonce).encode())


def _login_form(request: Request, *, locale: str, remember: str | None, status: int = 200,
                error: str | None = None, email: str = "", next_url: str = "/app") -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not login_csrf_valid(request, token):
        token = new_login_csrf(request)
    response = render(request, "login.html", locale=locale, status=status, remember=remember,
                      login_csrf=token, error=error, email=email, next_url=next_url)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path=LOGIN_PATH,
                        httponly=True, samesite="strict",
                        secure=services(request).settings.secure_cookies)
    return response


@router.get("/app/login")
def login_page(request: Request) -> Response:
    auth = page_auth(request)
    next_url = safe_next(request.query_params.get("next"))
    if auth is not None:
        return redirect(next_url)
    locale, remember = locale_of(request)
    return _login_form(request, locale=locale, remember=remember, next_url=next_url)


@router.post("/app/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_login_submit, request, form)


def _login_submit(request: Request, form: Form) -> Response:
    svc = services(request)
    locale, remember = locale_of(request)
    t = Translator(locale)
    email = field(form, "email").strip()
    password = field(form, "password")
    next_url = safe_next(field(form, "next"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = field(form, "csrf_token")
    if (not cookie or not given or not hmac.compare_digest(cookie.encode(), given.encode())
            or not login_csrf_valid(request, cookie)):
        return _login_form(request, locale=locale, remember=remember, status=403,
                           error=t("login.csrf_failed"), email=email[:MAX_EMAIL],
                           next_url=next_url)
    if not email or not password or len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
        return _login_form(request, locale=locale, remember=remember, status=401,
                           error=t("login.bad_credentials"), email=email[:MAX_EMAIL],
                           next_url=next_url)
    try:
        _user, token, _csrf = login_user(svc, request, email, password)
    except DomainError as exc:
        return _login_form(request, locale=locale, remember=remember,
                           status=exc.status if exc.status in (401, 403, 429) else 401,
                           error=t.message(exc.message), email=email, next_url=next_url)
    response = redirect(next_url)
    set_session_cookie(svc, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/app/logout")
async def logout_submit(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_logout_submit, request, form)


def _logout_submit(request: Request, form: Form) -> Response:
    auth = page_auth(request)
    if auth is None:
        return redirect(LOGIN_PATH)
    if not csrf_ok(auth, form):
        locale, _ = locale_of(request, auth)
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title",
                          message=Translator(locale)("error.csrf.body"))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with services(request).uows() as uow:
            account_actions.do_logout(uow, token=cookie)
    response = redirect(LOGIN_PATH)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the workspace --------------------------------------------------------------------------

def _boot(auth: Auth, locale: str, workspace_name: str) -> dict[str, Any]:
    t = Translator(locale)
    actor = auth.actor
    return {
        "locale": locale,
        "me": {"id": actor.user_id, "name": actor.name, "role": actor.role},
        "workspace": workspace_name,
        "perms": {p: actor.can(p) for p in UI_PERMISSIONS},
        "strings": t.strings("ws.", "status.", "priority.", "role.", "common.", "err."),
    }


@router.get("/app")
def workspace(request: Request) -> Response:
    auth = page_auth(request)
    if auth is None:
        return login_redirect(request)
    locale, remember = locale_of(request, auth)
    with services(request).uows(readonly=True) as uow:
        ws = account_queries.get_workspace(uow.session, auth.actor.workspace_id)
        workspace_name = ws.name if ws is not None else ""
    return render(request, "workspace.html", locale=locale, auth=auth, remember=remember,
                  boot=_boot(auth, locale, workspace_name), workspace_name=workspace_name,
                  section="workspace")


# -- API reference (served from our own files: no CDN) --------------------------------------

@router.get("/docs")
def api_docs(request: Request) -> Response:
    auth = page_auth(request)
    locale, remember = locale_of(request, auth)
    t = Translator(locale)
    return render(request, "docs.html", locale=locale, auth=auth, remember=remember,
                  section="docs",
                  boot={"locale": locale, "openapi_url": "/openapi.json",
                        "strings": t.strings("docs.", "common.")})
