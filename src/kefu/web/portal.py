"""Public pages for customers without an account: the ticket portal and the self-service form.

- ``GET /portal/t/<token>``: the ticket (number, subject, status, public timeline) and a reply
  form. ``POST /portal/reply`` (multipart: ``token``, ``nonce``, ``body``, ``files``).
  ``GET /portal/t/<token>/files/<file_id>``: a file of a public line or the customer's own.
- ``GET /support/<slug>``: the self-service form (public templates of the workspace).
  ``POST /support/submit`` (multipart: ``slug``, ``form_token``, ``template_id``, ``subject``,
  ``description``, ``email``, ``phone``, ``name``, ``f_<key>`` values, ``file_<key>`` and
  ``attachments`` files) → the verification e-mail.
  ``GET /support/<slug>/verify/<token>`` → creates the ticket once, redirects to its portal.

Cross-site posting: every portal / support form carries a hidden value the server derives
with HMAC from ``secret_key`` (per portal token, resp. a signed per-workspace form token), and
a POST whose ``Origin`` header names another host is refused. Abuse limits per client address
(per process): 10 submissions an hour, 30 portal replies per 10 minutes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kefu.core.errors import DomainError, NotFound
from kefu.core.ratelimit import FailureLimiter
from kefu.tickets import portal
from kefu.tickets.files import MAX_FILE_BYTES
from kefu.tickets.models import Ticket, TicketFile, TicketTemplate
from kefu.tickets.templates import public_templates
from kefu.web.deps import client_ip, services
from kefu.web.i18n import Translator
from kefu.web.ui.kb import fmt_dt
from kefu.web.ui.render import locale_of, redirect, render

router = APIRouter(include_in_schema=False)
#: the two upload routes: several files of up to 10 MB each, capped in total
MAX_FORM_BYTES = 2 * MAX_FILE_BYTES
UPLOAD_LIMITS: dict[str, int] = {"/portal/reply": MAX_FORM_BYTES,
                                 "/support/submit": MAX_FORM_BYTES}
FORM_SALT = "kefu.support-form"
SUBMIT_LIMIT = (10, 3600)
REPLY_LIMIT = (30, 600)


def _text(value: Any) -> str:
    """A form value as text, without NUL characters (PostgreSQL cannot store them); a file
    sent where text is expected reads as empty."""
    return value.replace("\x00", "") if isinstance(value, str) else ""


def _limiter(request: Request, name: str, spec: tuple[int, int]) -> FailureLimiter:
    extra = services(request).extra
    lim = extra.get(name)
    if not isinstance(lim, FailureLimiter):
        lim = FailureLimiter(*spec)
        extra[name] = lim
    return lim


def _limited(request: Request, name: str, spec: tuple[int, int], key: str) -> bool:
    """Count one attempt; True when the caller is over the limit."""
    lim = _limiter(request, name, spec)
    now = services(request).clock.now()
    if lim.blocked_for(key, now) > 0:
        return True
    lim.fail(key, now)
    return False


def _foreign_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.headers.get("host", "")


def _page(request: Request, template: str, *, status: int = 200,
          **context: Any) -> Response:
    locale, remember = locale_of(request)
    return render(request, template, locale=locale, status=status, remember=remember,
                  **context)


def _invalid(request: Request, *, status: int = 404, message: str | None = None) -> Response:
    locale, _ = locale_of(request)
    t = Translator(locale)
    return _page(request, "portal/invalid.html", status=status,
                 message=t.message(message or portal.INVALID_LINK))


# -- the ticket portal ------------------------------------------------------------------------

def _ticket_page(request: Request, token: str, *, status: int = 200, error: str = "",
                 body: str = "", sent: bool = False) -> Response:
    settings = services(request).settings
    try:
        with services(request).uows() as uow:
            view = portal.open_portal(uow, settings, token, record_visit=status == 200)
            ticket = view.ticket
            data = {"number": ticket.number, "subject": ticket.subject,
                    "status": ticket.status, "created_at": ticket.created_at,
                    "closed": ticket.status == "closed"}
    except NotFound:
        return _invalid(request)
    t = Translator(locale_of(request)[0])
    status_labels = {"new": t("portal.status.new"), "open": t("portal.status.open"),
                     "pending": t("portal.status.pending"),
                     "resolved": t("portal.status.resolved"),
                     "closed": t("portal.status.closed")}
    return _page(request, "portal/ticket.html", status=status, ticket=data,
                 status_labels=status_labels,
                 timeline=view.timeline, workspace_name=view.workspace_name,
                 fmt_dt=lambda v: fmt_dt(v, view.timezone), token=token,
                 nonce=portal.form_nonce(settings, token), error=error, body=body, sent=sent)


@router.get("/portal/t/{token}")
def portal_page(token: str, request: Request) -> Response:
    return _ticket_page(request, token, sent=request.query_params.get("sent") == "1")


@router.get("/portal/t/{token}/files/{file_id}")
def portal_file(token: str, file_id: str, request: Request) -> Response:
    settings = services(request).settings
    with services(request).uows(readonly=True) as uow:
        try:
            ticket = portal.ticket_for_token(uow.session, settings, token)
        except NotFound:
            return _invalid(request)
        row = uow.session.get(TicketFile, file_id)
        if row is None or row.workspace_id != ticket.workspace_id \
                or file_id not in portal.portal_files(uow.session, ticket):
            return _invalid(request)
        data, name, ctype = row.data, row.name, row.content_type
    safe_inline = ctype.startswith("image/") and ctype != "image/svg+xml"
    disposition = "inline" if safe_inline else "attachment"
    from urllib.parse import quote

    return Response(data, media_type=ctype if safe_inline else "application/octet-stream",
                    headers={"Content-Disposition":
                             f"{disposition}; filename*=UTF-8''{quote(name)}",
                             "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "private, no-store"})


async def _uploads(values: list[Any]) -> list[portal.Upload]:
    out = []
    for v in values:
        if isinstance(v, UploadFile) and v.filename:
            out.append(portal.Upload(v.filename, v.content_type or "", await v.read()))
    return out


@router.post("/portal/reply")
async def portal_reply(request: Request) -> Response:
    form = await request.form()
    token = _text(form.get("token"))
    nonce = _text(form.get("nonce"))
    body = _text(form.get("body"))
    uploads = await _uploads(form.getlist("files"))
    await form.close()
    settings = services(request).settings
    locale, _ = locale_of(request)
    t = Translator(locale)
    if _foreign_origin(request) or not portal.check_nonce(settings, token, nonce):
        return _invalid(request, status=403, message=t("portal.error.form"))
    if _limited(request, "portal_reply_limiter", REPLY_LIMIT, client_ip(request)):
        return await run_in_threadpool(_ticket_page, request, token, status=429,
                                       error=t("portal.error.rate"), body=body)

    def write() -> Response:
        try:
            with services(request).uows() as uow:
                ev = portal.do_portal_reply(uow, settings, token, body=body, uploads=uploads)
                target = uow.session.get(Ticket, ev.ticket_id)
                path = portal.path_for(settings, target) if target else f"/portal/t/{token}"
        except NotFound:
            return _invalid(request)
        except DomainError as exc:
            return _ticket_page(request, token, status=422, error=t.message(exc.message),
                                body=body)
        return redirect(f"{path}?sent=1#reply")

    return await run_in_threadpool(write)


# -- the self-service form --------------------------------------------------------------------

def _form_token(request: Request, slug: str) -> str:
    s = URLSafeTimedSerializer(services(request).settings.secret_key, salt=FORM_SALT)
    return str(s.dumps(slug))


def _form_token_ok(request: Request, slug: str, token: str) -> bool:
    s = URLSafeTimedSerializer(services(request).settings.secret_key, salt=FORM_SALT)
    try:
        return bool(s.loads(token, max_age=86_400) == slug)
    except BadSignature:
        return False


@dataclass
class _FormState:
    template_id: str = ""
    subject: str = ""
    description: str = ""
    email: str = ""
    phone: str = ""
    name: str = ""
    values: dict[str, Any] = field(default_factory=dict)


def _field_spec(t: TicketTemplate) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "description": t.description, "fields": t.fields}


def _support_page(request: Request, slug: str, *, state: _FormState | None = None,
                  errors: dict[str, str] | None = None, status: int = 200,
                  error: str = "") -> Response:
    locale, _ = locale_of(request)
    t = Translator(locale)
    with services(request).uows(readonly=True) as uow:
        try:
            ws = portal.workspace_by_slug(uow.session, slug)
        except NotFound:
            return _invalid(request, message=t("portal.support.no_such"))
        templates = [_field_spec(x) for x in public_templates(uow.session, ws.id)]
        ws_name = ws.name
    state = state or _FormState()
    chosen_id = state.template_id or request.query_params.get("template") or ""
    chosen = next((x for x in templates if x["id"] == chosen_id),
                  templates[0] if templates else None)
    return _page(request, "portal/support.html", status=status, slug=slug,
                 workspace_name=ws_name, templates=templates, chosen=chosen, state=state,
                 errors={k: t.message(v) for k, v in (errors or {}).items()}, error=error,
                 form_token=_form_token(request, slug))


@router.get("/support/{slug}")
def support_page(slug: str, request: Request) -> Response:
    return _support_page(request, slug)


@router.post("/support/submit")
async def support_submit(request: Request) -> Response:
    form = await request.form()
    slug = _text(form.get("slug"))
    state = _FormState(template_id=_text(form.get("template_id")),
                       subject=_text(form.get("subject")),
                       description=_text(form.get("description")),
                       email=_text(form.get("email")), phone=_text(form.get("phone")),
                       name=_text(form.get("name")))
    field_files: dict[str, list[portal.Upload]] = {}
    for key in {k for k in form if k.startswith(("f_", "file_"))}:
        if key.startswith("file_"):
            ups = await _uploads(form.getlist(key))
            if ups:
                field_files[key[5:]] = ups
            continue
        vals = [_text(v) for v in form.getlist(key) if isinstance(v, str)]
        state.values[key[2:]] = vals if len(vals) > 1 else (vals[0] if vals else "")
    multi = {k[2:] for k in form if k.startswith("m_")}  # multiselects sent (maybe empty)
    for key in multi:
        v = state.values.get(key)
        state.values[key] = v if isinstance(v, list) else ([v] if v else [])
    attachments = await _uploads(form.getlist("attachments"))
    form_token = _text(form.get("form_token"))
    await form.close()
    locale, _ = locale_of(request)
    t = Translator(locale)
    if _foreign_origin(request) or not _form_token_ok(request, slug, form_token):
        return _invalid(request, status=403, message=t("portal.error.form"))
    if _limited(request, "portal_submit_limiter", SUBMIT_LIMIT, client_ip(request)):
        return await run_in_threadpool(_support_page, request, slug, state=state, status=429,
                                       error=t("portal.error.rate"))

    def write() -> Response:
        settings = services(request).settings
        try:
            with services(request).uows() as uow:
                ws = portal.workspace_by_slug(uow.session, slug)
                portal.do_submit(uow, settings, workspace_id=ws.id, slug=slug,
                                 form=portal.SubmissionForm(
                                     template_id=state.template_id, subject=state.subject,
                                     description=state.description, email=state.email,
                                     phone=state.phone, name=state.name, fields=state.values,
                                     field_files=field_files, attachments=attachments,
                                     locale=locale))
                ws_name = ws.name
        except NotFound:
            return _invalid(request, message=t("portal.support.no_such"))
        except DomainError as exc:
            errors = exc.details.get("fields") if exc.code == "invalid_fields" else None
            return _support_page(request, slug, state=state, status=422,
                                 errors=errors if isinstance(errors, dict) else None,
                                 error=t.message(exc.message))
        return _page(request, "portal/support_sent.html", workspace_name=ws_name,
                     email=state.email.strip(), slug=slug)

    return await run_in_threadpool(write)


@router.get("/support/{slug}/verify/{token}")
def support_verify(slug: str, token: str, request: Request) -> Response:
    settings = services(request).settings
    locale, _ = locale_of(request)
    t = Translator(locale)
    try:
        with services(request).uows() as uow:
            ws = portal.workspace_by_slug(uow.session, slug)
            ticket = portal.do_verify(uow, workspace_id=ws.id, token=token)
            path = portal.path_for(settings, ticket)
    except NotFound:
        return _invalid(request)
    except DomainError as exc:
        return _invalid(request, status=410, message=t.message(exc.message))
    return redirect(path)
