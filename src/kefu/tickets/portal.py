"""The customer side of tickets, without an account.

**Portal links.** ``link_for(settings, ticket)`` signs ``{"t": ticket id, "c": contact id}``
with ``settings.secret_key`` (itsdangerous ``URLSafeSerializer``, salt ``kefu.ticket-portal``).
Whoever holds the link sees the ticket's number, subject, status and *public* timeline and may
reply as the ticket's customer. A link that does not verify, names another contact than the
ticket's (someone else's ticket) or a merged / missing ticket is refused with one message
(``NotFound(code="portal_link_invalid")``) and nothing is recorded.

**Self-service form.** ``do_submit`` stores a :class:`TicketSubmission` (the form's values,
the hash of a random token, 24 h to live) and e-mails the verification link; ``do_verify``
creates the ticket once (source ``portal``, the contact found or made by e-mail address) and
returns it on every later visit."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update

from kefu.accounts.models import User, Workspace
from kefu.contacts import actions as contact_actions
from kefu.contacts.models import Contact
from kefu.core.errors import Invalid, NotFound
from kefu.core.ids import new_id, new_secret
from kefu.core.security import token_hash
from kefu.tickets import files as ticket_files
from kefu.tickets.fields import validate_values
from kefu.tickets.models import Ticket, TicketEvent, TicketFile, TicketSubmission, TicketTemplate
from kefu.tickets.timeline import By, record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.config import Settings
    from kefu.core.uow import UnitOfWork

SALT = "kefu.ticket-portal"
NONCE_SALT = b"kefu.ticket-portal-form:"
VIEW_THROTTLE = timedelta(minutes=10)
SUBMISSION_TTL = timedelta(hours=24)
MAX_REPLY = 10_000
EMAIL_RE = re.compile(r"^[^@\s<>\"',;\x00-\x1f\x7f]{1,64}"
                      r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{5,40}$")
INVALID_LINK = "链接无效或已过期 / This link is invalid or has expired"


# -- contacts by e-mail address ---------------------------------------------------------------

def normalize_email(address: str) -> str:
    return address.strip().lower()


def valid_email(address: str) -> bool:
    return bool(EMAIL_RE.match(address.strip())) and len(address.strip()) <= 254


def contact_for_email(uow: UnitOfWork, *, workspace_id: str, email: str, name: str = "",
                      phone: str = "", verified: bool = False) -> Contact:
    """The contact an e-mail address belongs to: by its ``email`` identity, else a contact
    whose ``email`` is that address (the identity is added), else a new contact."""
    address = normalize_email(email)
    contact = contact_actions.find_by_identity(uow, workspace_id=workspace_id, kind="email",
                                               external_id=address)
    if contact is None:
        contact = uow.session.scalar(
            select(Contact).where(Contact.workspace_id == workspace_id,
                                  Contact.email.in_([address, email.strip()]))
            .order_by(Contact.created_at).limit(1))
        if contact is None:
            contact = contact_actions.do_create_contact(
                uow, workspace_id=workspace_id, name=(name or address.split("@")[0])[:120],
                email=address, phone=phone)
        contact_actions.do_add_identity(uow, contact, kind="email", external_id=address,
                                        verified=verified)
    if not contact.email:
        contact.email = address
    if phone and not contact.phone:
        contact.phone = phone[:40]
    if name and not contact.name:
        contact.name = name[:120]
    return contact


# -- signed portal links ----------------------------------------------------------------------

def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=SALT)


def token_for(settings: Settings, ticket_id: str, contact_id: str | None) -> str:
    return str(_serializer(settings).dumps({"t": ticket_id, "c": contact_id or ""}))


def path_for(settings: Settings, ticket: Ticket) -> str:
    return f"/portal/t/{token_for(settings, ticket.id, ticket.contact_id)}"


def link_for(settings: Settings, ticket: Ticket) -> str:
    """The customer's portal address of ``ticket`` (absolute, with ``settings.base_url``)."""
    return settings.base_url + path_for(settings, ticket)


def form_nonce(settings: Settings, token: str) -> str:
    """The hidden value portal forms must send back (against cross-site posting)."""
    return hmac.new(settings.secret_key.encode(), NONCE_SALT + token.encode(),
                    hashlib.sha256).hexdigest()[:32]


def check_nonce(settings: Settings, token: str, given: str) -> bool:
    return hmac.compare_digest(form_nonce(settings, token), given or "")


def ticket_for_token(session: Session, settings: Settings, token: str, *,
                     for_update: bool = False) -> Ticket:
    """The ticket a portal token opens, or ``NotFound(code="portal_link_invalid")``."""
    try:
        data = _serializer(settings).loads(token)
    except BadSignature:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise NotFound(INVALID_LINK, code="portal_link_invalid")
    stmt = select(Ticket).where(Ticket.id == data["t"])
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    ticket = session.scalar(stmt)
    if (ticket is None or ticket.merged_into_id is not None
            or (ticket.contact_id or "") != (data.get("c") or "")):
        raise NotFound(INVALID_LINK, code="portal_link_invalid")
    return ticket


# -- what the customer sees -------------------------------------------------------------------

def _is_public(ev: TicketEvent) -> bool:
    if ev.kind == "customer_viewed":
        return False
    return bool(ev.public) or ev.actor_type == "customer" or ev.kind == "created"


def public_timeline(session: Session, ticket: Ticket) -> list[dict[str, Any]]:
    """The lines a customer may see: creation, public replies, their own messages and the
    state changes marked public. No internal notes, no e-mail addresses of staff."""
    events = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                  .order_by(TicketEvent.seq)))
    shown = [e for e in events if _is_public(e)]
    user_ids = {e.actor_id for e in shown if e.actor_type == "user" and e.actor_id}
    names: dict[str, str] = {}
    if user_ids:
        names = {r[0]: r[1] for r in session.execute(
            select(User.id, User.name).where(User.id.in_(user_ids)))}
    file_ids = [f for e in shown for f in (e.data or {}).get("file_ids", []) or []
                if isinstance(f, str)]
    files = {r.id: {"id": r.id, "name": r.name, "size": r.size} for r in session.execute(
        select(TicketFile.id, TicketFile.name, TicketFile.size)
        .where(TicketFile.id.in_(file_ids), TicketFile.workspace_id == ticket.workspace_id))
    } if file_ids else {}
    out: list[dict[str, Any]] = []
    for e in shown:
        changes = (e.data or {}).get("changes") or {}
        status = changes.get("status") if isinstance(changes, dict) else None
        if (not e.body and not status and e.kind != "created"
                and not (e.data or {}).get("file_ids")):
            continue
        who = {"user": "agent", "customer": "customer"}.get(e.actor_type, "system")
        out.append({
            "id": e.id, "seq": e.seq, "at": e.at, "kind": e.kind, "who": who,
            "name": names.get(e.actor_id or "", "") if who == "agent" else "",
            "body": e.body or "",
            "status": status if isinstance(status, list) and len(status) == 2 else None,
            "files": [files[f] for f in (e.data or {}).get("file_ids", []) or []
                      if f in files],
        })
    return out


def portal_files(session: Session, ticket: Ticket) -> set[str]:
    """Ids of the files the customer may download: those of public lines and their own."""
    allowed = {f for line in public_timeline(session, ticket) for f in
               (x["id"] for x in line["files"])}
    own = session.scalars(select(TicketFile.id).where(
        TicketFile.ticket_id == ticket.id,
        TicketFile.uploaded_by == (ticket.contact_id or "-")))
    return allowed | set(own)


def record_view(uow: UnitOfWork, ticket: Ticket) -> bool:
    """Note the customer's visit on the timeline (not public), at most once per 10 minutes
    per ticket. True when a line was written."""
    last = uow.session.scalar(
        select(TicketEvent.at).where(TicketEvent.ticket_id == ticket.id,
                                     TicketEvent.kind == "customer_viewed")
        .order_by(TicketEvent.seq.desc()).limit(1))
    now = uow.clock.now()
    if last is not None and now - last < VIEW_THROTTLE:
        return False
    record(uow, ticket, "customer_viewed", By.customer(ticket.contact_id), public=False,
           data={"via": "portal"})
    return True


@dataclass
class PortalView:
    ticket: Ticket
    timeline: list[dict[str, Any]]
    workspace_name: str
    timezone: str


def open_portal(uow: UnitOfWork, settings: Settings, token: str, *,
                record_visit: bool = True) -> PortalView:
    """Load what the portal page shows, recording the visit (throttled)."""
    ticket = ticket_for_token(uow.session, settings, token)
    if record_visit:
        record_view(uow, ticket)
    ws = uow.session.get(Workspace, ticket.workspace_id)
    return PortalView(ticket=ticket, timeline=public_timeline(uow.session, ticket),
                      workspace_name=ws.name if ws else "",
                      timezone=ws.timezone if ws else "Asia/Shanghai")


@dataclass(frozen=True)
class Upload:
    name: str
    content_type: str
    data: bytes


def _store_uploads(uow: UnitOfWork, workspace_id: str, uploads: list[Upload],
                   uploaded_by: str | None, ticket_id: str | None = None) -> list[str]:
    ids = []
    for up in uploads:
        if not up.data and not up.name:
            continue
        f = ticket_files.do_store_file(uow, workspace_id=workspace_id, name=up.name,
                                       content_type=up.content_type, data=up.data,
                                       uploaded_by=uploaded_by, ticket_id=ticket_id)
        ids.append(f.id)
    return ids


def do_portal_reply(uow: UnitOfWork, settings: Settings, token: str, *, body: str,
                    uploads: list[Upload] | None = None) -> TicketEvent:
    """The customer replies from the portal (with optional files)."""
    from kefu.tickets.actions import do_customer_reply

    ticket = ticket_for_token(uow.session, settings, token, for_update=True)
    text = (body or "").strip()
    uploads = [u for u in (uploads or []) if u.data or u.name]
    if not text and not uploads:
        raise Invalid("请输入回复内容 / Please write a reply", code="empty_reply", field="body")
    if len(text) > MAX_REPLY:
        raise Invalid(f"回复不能超过 {MAX_REPLY} 个字符 / At most {MAX_REPLY} characters",
                      code="too_long", field="body")
    if len(uploads) > 5:
        raise Invalid("最多 5 个附件 / At most 5 files", code="too_many_files", field="files")
    file_ids = _store_uploads(uow, ticket.workspace_id, uploads, ticket.contact_id,
                              ticket_id=ticket.id)
    return do_customer_reply(uow, ticket.id, contact_id=ticket.contact_id,
                             body=text or "(附件 / attachment)", via="portal",
                             file_ids=file_ids)


# -- self-service form ------------------------------------------------------------------------

@dataclass
class SubmissionForm:
    """What the customer filled in on ``/support/<slug>`` (plain strings from the form)."""

    template_id: str
    subject: str
    description: str
    email: str
    phone: str = ""
    name: str = ""
    fields: dict[str, Any] | None = None
    #: uploads for attachment fields, by field key
    field_files: dict[str, list[Upload]] | None = None
    attachments: list[Upload] | None = None
    locale: str = "zh-CN"


def workspace_by_slug(session: Session, slug: str) -> Workspace:
    ws = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        raise NotFound("页面不存在 / Page not found", code="workspace_not_found")
    return ws


def _form_template(session: Session, workspace_id: str, template_id: str) -> TicketTemplate:
    t = session.get(TicketTemplate, template_id) if template_id else None
    if t is None or t.workspace_id != workspace_id or not t.public or not t.is_active:
        raise Invalid("请选择问题类型 / Please choose a request type", code="invalid_fields",
                      fields={"template_id": "请选择问题类型 / Please choose a request type"})
    return t


def _check_form(form: SubmissionForm) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form.subject.strip():
        errors["subject"] = "必填 / Required"
    elif len(form.subject.strip()) > 200:
        errors["subject"] = "不能超过 200 个字符 / At most 200 characters"
    if len(form.description.strip()) > 20_000:
        errors["description"] = "不能超过 20000 个字符 / At most 20000 characters"
    if not form.email.strip():
        errors["email"] = ("必填（用于接收验证链接） / "
                           "Required (the verification link is sent there)")
    elif not valid_email(form.email):
        errors["email"] = "邮箱格式不正确 / Not a valid e-mail address"
    if form.phone.strip() and not PHONE_RE.match(form.phone.strip()):
        errors["phone"] = "电话格式不正确 / Not a valid phone number"
    if len(form.name.strip()) > 120:
        errors["name"] = "不能超过 120 个字符 / At most 120 characters"
    n_files = len(form.attachments or []) + sum(len(v) for v in (form.field_files or {}).values())
    if n_files > 10:
        errors["attachments"] = "最多 10 个附件 / At most 10 files"
    return errors


def do_submit(uow: UnitOfWork, settings: Settings, *, workspace_id: str, slug: str,
              form: SubmissionForm) -> tuple[TicketSubmission, str]:
    """Check the form (every bad field named: ``Invalid(code="invalid_fields",
    fields={...})``), store the submission and e-mail the verification link.
    Returns the submission and the token (only its hash is stored)."""
    template = None
    errors: dict[str, str] = {}
    try:
        template = _form_template(uow.session, workspace_id, form.template_id)
    except Invalid as exc:
        errors.update(exc.details.get("fields", {}))
    errors.update(_check_form(form))
    values: dict[str, Any] = dict(form.fields or {})
    if template is not None:
        att_keys = [f["key"] for f in template.fields if f.get("type") == "attachment"]
        for key in att_keys:
            values.pop(key, None)
            if (form.field_files or {}).get(key):
                values[key] = ["pending"]  # checked for presence only; stored below
        try:
            validate_values(template.fields, values)
        except Invalid as exc:
            errors.update(exc.details.get("fields", {}))
    if errors:
        raise Invalid("表单有误 / Please correct the form", code="invalid_fields", fields=errors)
    assert template is not None
    file_ids: list[str] = []
    try:
        for key, ups in (form.field_files or {}).items():
            if key in values:
                values[key] = _store_uploads(uow, workspace_id, ups, None)
                file_ids += values[key]
        file_ids += _store_uploads(uow, workspace_id, form.attachments or [], None)
    except Invalid as exc:
        raise Invalid(exc.message, code="invalid_fields",
                      fields={"attachments": exc.message}) from exc
    values = validate_values(template.fields, values, session=uow.session,
                             workspace_id=workspace_id)
    token = new_secret(24)
    now = uow.clock.now()
    email = normalize_email(form.email)
    subject = " ".join(form.subject.split())  # one line: it goes into a mail header
    sub = TicketSubmission(
        id=new_id(), workspace_id=workspace_id, email=email, phone=form.phone.strip(),
        payload={"template_id": template.id, "subject": subject,
                 "description": form.description.strip(), "fields": values,
                 "file_ids": file_ids, "name": form.name.strip(), "locale": form.locale},
        token_hash=token_hash(token), created_at=now, expires_at=now + SUBMISSION_TTL,
        confirmed_at=None, ticket_id=None)
    uow.session.add(sub)
    uow.session.flush()
    link = f"{settings.base_url}/support/{slug}/verify/{token}"
    ws = uow.session.get(Workspace, workspace_id)
    brand = ws.name if ws else ""
    uow.enqueue("send_email", {
        "to": [email],
        "subject": f"请确认您的工单 / Please confirm your request: {subject[:120]}",
        "text": (f"您好，\n\n您在{brand}提交了工单「{subject}」。"
                 f"请在 24 小时内打开下面的链接确认，确认后我们会创建工单并开始处理：\n\n{link}\n\n"
                 "如果不是您本人操作，请忽略此邮件。\n\n"
                 f"Hello,\n\nYou sent a request to {brand}: \"{subject}\". Open "
                 f"this link within 24 hours to confirm it and we will start working on it:"
                 f"\n\n{link}\n\nIf this was not you, ignore this e-mail.\n"),
        "message_key": f"ticket-submission:{sub.id}",
    }, key=f"send_email:ticket-submission:{sub.id}")
    return sub, token


def do_verify(uow: UnitOfWork, *, workspace_id: str, token: str) -> Ticket:
    """Confirm a submission: create its ticket the first time, return it every time.
    ``NotFound(code="submission_invalid")`` for an unknown token,
    ``Invalid(code="submission_expired")`` after 24 hours."""
    from kefu.tickets.actions import do_create_ticket
    from kefu.tickets.schemas import TicketCreate

    stmt = select(TicketSubmission).where(TicketSubmission.token_hash == token_hash(token),
                                          TicketSubmission.workspace_id == workspace_id)
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    sub = uow.session.scalar(stmt)
    if sub is None:
        raise NotFound(INVALID_LINK, code="submission_invalid")
    if sub.confirmed_at is not None:
        ticket = uow.session.get(Ticket, sub.ticket_id) if sub.ticket_id else None
        while ticket is not None and ticket.merged_into_id:
            ticket = uow.session.get(Ticket, ticket.merged_into_id)
        if ticket is None:
            raise NotFound(INVALID_LINK, code="submission_invalid")
        return ticket
    if uow.clock.now() >= sub.expires_at:
        raise Invalid("验证链接已过期，请重新提交 / This link has expired: please send the form "
                      "again", code="submission_expired")
    p = sub.payload
    contact = contact_for_email(uow, workspace_id=workspace_id, email=sub.email,
                                name=p.get("name") or "", phone=sub.phone, verified=True)
    data = TicketCreate(subject=p["subject"], description=p.get("description") or "",
                        template_id=p.get("template_id"), fields=p.get("fields") or {},
                        contact_id=contact.id)
    ticket = do_create_ticket(uow, None, workspace_id=workspace_id, data=data,
                              source="portal", by=By.customer(contact.id))
    file_ids = [str(f) for f in p.get("file_ids") or []]
    ticket_files.attach(uow, workspace_id=workspace_id, ticket_id=ticket.id, file_ids=file_ids)
    uow.session.execute(
        update(TicketFile)
        .where(TicketFile.id.in_(file_ids), TicketFile.uploaded_by.is_(None))
        .values(uploaded_by=contact.id))
    if file_ids:
        record(uow, ticket, "attachments_added", By.customer(contact.id), public=True,
               data={"file_ids": file_ids, "via": "portal"})
    sub.confirmed_at = uow.clock.now()
    sub.ticket_id = ticket.id
    return ticket
