"""Shared helpers of the server-rendered pages: templates, locale, page auth, forms, headers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from kefu import __version__
from kefu.core.errors import DomainError
from kefu.web.deps import Auth, resolve_auth, services
from kefu.web.i18n import (
    LANG_COOKIE,
    LANG_COOKIE_MAX_AGE,
    SUPPORTED,
    Translator,
    choose_locale,
)

WEB = Path(__file__).resolve().parent.parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
LOGIN_PATH = "/app/login"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

_static_versions: dict[str, tuple[float, str]] = {}


def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>`` so browsers pick up a changed file at once."""
    path = STATIC / name
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return f"/static/{name}"
    cached = _static_versions.get(name)
    if cached is None or cached[0] != mtime:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        cached = (mtime, digest)
        _static_versions[name] = cached
    return f"/static/{name}?v={cached[1]}"


#: a 32x32 PNG (speech bubble on the accent colour), inlined so no request is needed
FAVICON = ("data:image/png;base64,"
           "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAYAAABzenr0AAAAfElEQVR42mNgwAJUk1//pzZmIAbQwmKiHUIP"
           "y3E6gp6WY3XEgDpgICxHccSoA0jRQCygiQNIBVR1ALmAKg6gFFDkAGoBqjgAmzguPj69ow4YWmlgwHPBoCgH"
           "yHXAgBbFNK+MRtsDow4YFg3TwdUvGPCe0aDoGw6K3vFAAAAP+cTmE8tLBwAAAABJRU5ErkJggg==")

env.globals["static_url"] = static_url
env.globals["favicon"] = FAVICON
env.globals["version"] = __version__


def security_headers(request: Request) -> dict[str, str]:
    """A strict CSP: our own scripts, styles and sockets only; no framing."""
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if host else ""
    csp = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           f"connect-src 'self'{sockets}; font-src 'self'; object-src 'none'; "
           "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    return {"Content-Security-Policy": csp, "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store"}


@dataclass(frozen=True)
class PageUser:
    id: str
    name: str
    role: str


def page_auth(request: Request) -> Auth | None:
    """The browser session behind a page request (pages never take API tokens)."""
    if "authorization" in request.headers:
        return None
    try:
        auth = resolve_auth(request)
    except DomainError:
        return None
    if auth is None or auth.via != "session":
        return None
    return auth


def locale_of(request: Request, auth: Auth | None = None) -> tuple[str, str | None]:
    choice = choose_locale(request, auth.locale if auth is not None else None)
    return choice.locale, choice.remember


def remember_locale(request: Request, response: Response, remember: str | None) -> None:
    if remember:
        response.set_cookie(LANG_COOKIE, remember, max_age=LANG_COOKIE_MAX_AGE, path="/",
                            samesite="lax", httponly=False,
                            secure=services(request).settings.secure_cookies)


def lang_links(request: Request) -> list[dict[str, str]]:
    """Links to the current page in each language (other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    out = []
    for code in SUPPORTED:
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in [*params, ("lang", code)])
        out.append({"code": code, "href": f"{request.url.path}?{query}"})
    return out


def render(
    request: Request,
    template: str,
    *,
    locale: str,
    auth: Auth | None = None,
    status: int = 200,
    remember: str | None = None,
    **context: Any,
) -> HTMLResponse:
    t = Translator(locale)
    user = (PageUser(id=auth.actor.user_id, name=auth.actor.name, role=auth.actor.role)
            if auth is not None else None)
    base = {
        "request": request, "t": t, "locale": locale, "user": user, "auth": auth,
        "csrf_token": auth.csrf_token if auth is not None else "",
        "lang_links": lang_links(request), "path": request.url.path,
        "section": "", "workspace_name": "", "body_class": "",
        "can_admin": auth is not None and (auth.actor.can("admin.manage")
                                           or auth.actor.can("admin.read")),
    }
    html = env.get_template(template).render({**base, **context})
    response = HTMLResponse(html, status_code=status, headers=security_headers(request))
    remember_locale(request, response, remember)
    return response


def redirect(url: str, *, status: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status, headers={"Cache-Control": "no-store"})


def safe_next(value: str | None) -> str:
    """Only local workspace addresses are allowed as a post-login destination."""
    if not value or "\\" in value or any(ord(ch) < 32 for ch in value):
        return "/app"
    if value != "/app" and not value.startswith(("/app/", "/app?", "/app#")):
        return "/app"
    if value.startswith((LOGIN_PATH, "/app/logout")):
        return "/app"
    return value


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET" or target == "/app":
        return redirect(LOGIN_PATH)
    return redirect(f"{LOGIN_PATH}?next={quote(target, safe='/')}")


def error_page(request: Request, *, locale: str, auth: Auth | None, status: int,
               title_key: str, message: str) -> HTMLResponse:
    return render(request, "error.html", locale=locale, auth=auth, status=status,
                  title_key=title_key, message=message, status_code=status)


def page_gate(request: Request, *permissions: str) -> tuple[Auth, str] | Response:
    """The signed-in user and the page's locale, if they hold any of ``permissions``; else
    the login redirect or the 403 page to return."""
    auth = page_auth(request)
    if auth is None:
        return login_redirect(request)
    locale, _ = locale_of(request, auth)
    if any(auth.actor.can(p) for p in permissions):
        return auth, locale
    return forbidden(request, auth, locale)


def forbidden(request: Request, auth: Auth, locale: str, message: str | None = None) -> Response:
    t = Translator(locale)
    return error_page(request, locale=locale, auth=auth, status=403, title_key="error.403.title",
                      message=message or t("error.403.body"))


# -- forms ----------------------------------------------------------------------------------

Form = Mapping[str, list[str]]


async def read_form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    await form.close()
    return out


def form_csrf_ok(request: Request, auth: Auth, form: Form) -> bool:
    """Whether a page post carries the session's CSRF token (form field or header)."""
    from kefu.web.deps import check_csrf

    try:
        check_csrf(request, auth, field(form, "csrf_token"))
    except DomainError:
        return False
    return True


def csrf_failed_page(request: Request, auth: Auth, locale: str) -> Response:
    """403: the form's CSRF token did not match (an old tab, or a forged post)."""
    t = Translator(locale)
    return error_page(request, locale=locale, auth=auth, status=403,
                      title_key="error.csrf.title", message=t("error.csrf.body"))


def field(form: Form, name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


def fields(form: Form, name: str) -> list[str]:
    return list(form.get(name, []))


def csrf_ok(auth: Auth, form: Form) -> bool:
    given = field(form, "csrf_token")
    return bool(auth.csrf_token) and bool(given) and hmac.compare_digest(
        given.encode(), (auth.csrf_token or "").encode())


def validation_message(exc: ValidationError, t: Translator) -> str:
    names = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        label = t(f"field.{loc[-1]}") if loc else ""
        if label and label not in names:
            names.append(label)
    return t("error.invalid_fields", fields="、".join(names) if t.locale != "en"
             else ", ".join(names))
