"""E-mail in: one RFC 822 message → a new ticket, or the customer's reply on a ticket.

``receive_email(uow, workspace_id=, raw=)``:

1. Parse with ``email.policy.default``. Bodies in GBK / GB2312 (read as GB18030, its
   superset), quoted-printable or base64 and RFC 2047 subjects come out as text. The text
   part is preferred; an HTML-only message is turned into text with BeautifulSoup. Quoted
   history ("> …", "在 … 写道：", "On … wrote:", "-----Original Message-----", QQ/Foxmail's
   "------------------ 原始邮件 ------------------") is trimmed.
2. A Message-ID seen before (a ticket's ``external_ref`` or a timeline line's
   ``data.message_id``) → nothing new (``Result.action == "duplicate"``). A message without
   a Message-ID gets one derived from its bytes, so a re-delivery is still recognised.
3. ``In-Reply-To`` / ``References`` naming a message of a ticket's thread (the message that
   opened it, a customer reply, or one of our replies), else ``[#123]`` in the subject →
   ``do_customer_reply(via="email")`` on that ticket, when the sender is the ticket's contact
   (a machine answer — Auto-Submitted, Precedence: auto_reply — is only an internal
   ``auto_reply`` line: it does not reopen the ticket or restart its clocks).
   Anyone else, or a merged-away ticket that cannot be followed → a new ticket.
4. Otherwise a new ticket (source ``email``), contact found or made by the From address,
   ``email_thread = {"message_ids": [...], "address": from, "subject": subject}``.

Attachments are stored with ``tickets.files`` (a file over 10 MB or empty is skipped and named
in the event's data)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kefu.core.errors import Invalid, NotFound
from kefu.tickets import files as ticket_files
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.portal import contact_for_email, valid_email
from kefu.tickets.timeline import By, record

if TYPE_CHECKING:
    from kefu.core.uow import UnitOfWork

MAX_EMAIL_BYTES = 25 * 1024 * 1024
MAX_BODY = 20_000
_ID_RE = re.compile(r"<[^<>\s]+>")
_NUMBER_RE = re.compile(r"\[#(\d{1,9})\]")
_PREFIX_RE = re.compile(r"^\s*((re|fw|fwd|aw|sv|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)
_QUOTE_HEADS = (
    re.compile(r"^\s*在.{1,200}写道\s*[:：]\s*$"),
    re.compile(r"^\s*On .{1,300}wrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*原始邮件\s*-{2,}\s*$"),
    re.compile(r"^\s*-{5,}\s*回复的原邮件\s*-{5,}\s*$"),
    re.compile(r"^\s*(发件人|From)\s*[:：].+$"),
)
_BLOCKS = ["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
           "pre", "section", "article", "header", "footer"]
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
                    "cp936": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030"}


@dataclass
class Result:
    #: "created" | "replied" | "auto_reply" | "duplicate"
    action: str
    ticket_id: str | None
    number: int | None = None
    event_id: str | None = None
    message_id: str = ""
    skipped_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "ticket_id": self.ticket_id, "number": self.number,
                "event_id": self.event_id, "message_id": self.message_id,
                "skipped_files": self.skipped_files}


@dataclass
class Parsed:
    message_id: str
    sender: str
    sender_name: str
    subject: str
    text: str
    refs: list[str]
    attachments: list[tuple[str, str, bytes]]
    #: sent by a machine (Auto-Submitted, Precedence: bulk/auto_reply): no acknowledgement
    auto: bool = False


# -- parsing ----------------------------------------------------------------------------------

def _decode_part(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def html_to_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    for quote in soup.find_all("blockquote"):
        quote.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    text = soup.get_text("")
    lines = [" ".join(ln.split()) for ln in text.splitlines()]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip()


def trim_quoted(text: str) -> str:
    """Drop the quoted history under a reply (when it is easy to tell)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, ln in enumerate(lines):
        if i > 0 and any(p.match(ln) for p in _QUOTE_HEADS):
            lines = lines[:i]
            break
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    kept = "\n".join(lines).strip()
    return kept or text.strip()


def _ids(value: str | None) -> list[str]:
    return _ID_RE.findall(str(value or ""))


def parse(raw: bytes) -> Parsed:
    if not raw or not raw.strip():
        raise Invalid("邮件为空 / The message is empty", code="email_empty")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    try:
        from_header = str(msg.get("From") or "")
    except Exception:  # a malformed header the policy cannot fold
        from_header = ""
    name, address = parseaddr(from_header)
    if not address:
        pairs = getaddresses([from_header])
        name, address = pairs[0] if pairs else ("", "")
    if not address or not valid_email(address):
        raise Invalid("邮件没有有效的发件人 / The message has no valid From address",
                      code="email_no_sender")
    mids = _ids(str(msg.get("Message-ID") or ""))
    message_id = mids[0] if mids else \
        f"<{hashlib.sha256(raw).hexdigest()[:40]}@kefu.generated>"
    try:
        subject = str(msg.get("Subject") or "").strip()
    except Exception:
        subject = ""
    subject = " ".join(subject.split())
    refs = _ids(str(msg.get("In-Reply-To") or "")) + _ids(str(msg.get("References") or ""))
    body_part = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body_part is not None:
        content = _decode_part(body_part)
        text = html_to_text(content) if body_part.get_content_subtype() == "html" else content
    text = trim_quoted(text)[:MAX_BODY]
    attachments: list[tuple[str, str, bytes]] = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        attachments.append((part.get_filename() or "attachment",
                            part.get_content_type(), data))
    auto_submitted = str(msg.get("Auto-Submitted") or "no").strip().lower()
    precedence = str(msg.get("Precedence") or "").strip().lower()
    auto = auto_submitted != "no" or precedence in ("bulk", "junk", "list", "auto_reply")
    def clean(v: str) -> str:  # PostgreSQL cannot store NUL characters
        return v.replace("\x00", "")

    attachments = [(clean(n), c, d) for n, c, d in attachments]
    return Parsed(message_id=clean(message_id), sender=address.strip().lower(),
                  sender_name=clean(name or "").strip(), subject=clean(subject),
                  text=clean(text),
                  refs=list(dict.fromkeys(refs)), attachments=attachments, auto=auto)


# -- matching ---------------------------------------------------------------------------------

def _seen(uow: UnitOfWork, workspace_id: str, message_id: str) -> Ticket | None:
    t = uow.session.scalar(select(Ticket).where(Ticket.workspace_id == workspace_id,
                                                Ticket.external_ref == message_id))
    if t is not None:
        return t
    ticket_id = uow.session.scalar(
        select(TicketEvent.ticket_id).where(
            TicketEvent.workspace_id == workspace_id,
            TicketEvent.data["message_id"].as_string() == message_id).limit(1))
    return uow.session.get(Ticket, ticket_id) if ticket_id else None


def _thread_ticket(uow: UnitOfWork, workspace_id: str, refs: list[str]) -> Ticket | None:
    if not refs:
        return None
    for mid in reversed(refs):  # the nearest message first
        t = _seen(uow, workspace_id, mid)
        if t is not None:
            return t
    return None


def _follow(uow: UnitOfWork, ticket: Ticket | None) -> Ticket | None:
    hops = 0
    while ticket is not None and ticket.merged_into_id and hops < 10:
        ticket = uow.session.get(Ticket, ticket.merged_into_id)
        hops += 1
    return ticket


# -- the action -------------------------------------------------------------------------------

def _store_attachments(uow: UnitOfWork, workspace_id: str, parsed: Parsed,
                       contact_id: str, ticket_id: str | None) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    skipped: list[str] = []
    for name, ctype, data in parsed.attachments:
        try:
            f = ticket_files.do_store_file(uow, workspace_id=workspace_id, name=name,
                                           content_type=ctype, data=data,
                                           uploaded_by=contact_id, ticket_id=ticket_id)
        except Invalid:
            skipped.append(ticket_files.sanitize_name(name))
            continue
        ids.append(f.id)
    return ids, skipped


def receive_email(uow: UnitOfWork, *, workspace_id: str, raw: bytes) -> Result:
    """File one inbound e-mail (see the module docstring)."""
    from kefu.tickets import actions
    from kefu.tickets.schemas import TicketCreate

    if len(raw) > MAX_EMAIL_BYTES:
        raise Invalid("邮件超过 25 MB / The message is larger than 25 MB",
                      code="email_too_large")
    parsed = parse(raw)
    seen = _seen(uow, workspace_id, parsed.message_id)
    if seen is not None:
        return Result("duplicate", seen.id, seen.number, message_id=parsed.message_id)
    contact = contact_for_email(uow, workspace_id=workspace_id, email=parsed.sender,
                                name=parsed.sender_name)
    target = _follow(uow, _thread_ticket(uow, workspace_id, parsed.refs))
    if target is None:
        m = _NUMBER_RE.search(parsed.subject)
        if m:
            target = _follow(uow, uow.session.scalar(
                select(Ticket).where(Ticket.workspace_id == workspace_id,
                                     Ticket.number == int(m.group(1)))))
    if target is not None and target.contact_id == contact.id and parsed.auto:
        # an out-of-office or other machine answer to our mail: kept on the timeline for the
        # agents, but it does not reopen the ticket, restart its clocks or notify anyone
        ev = record(uow, target, "auto_reply", By.customer(contact.id),
                    body=(parsed.text or "")[:2000] or None,
                    data={"message_id": parsed.message_id, "subject": parsed.subject,
                          "via": "email"})
        return Result("auto_reply", target.id, target.number, event_id=ev.id,
                      message_id=parsed.message_id)
    if target is not None and target.contact_id == contact.id:
        file_ids, skipped = _store_attachments(uow, workspace_id, parsed, contact.id, target.id)
        ev = actions.do_customer_reply(
            uow, target.id, contact_id=contact.id,
            body=parsed.text or "(空白邮件 / empty message)", via="email", file_ids=file_ids,
            data={"message_id": parsed.message_id, "subject": parsed.subject,
                  **({"skipped_files": skipped} if skipped else {})})
        replied = uow.session.get(Ticket, ev.ticket_id) or target
        return Result("replied", replied.id, replied.number, event_id=ev.id,
                      message_id=parsed.message_id, skipped_files=skipped)
    subject = _PREFIX_RE.sub("", _NUMBER_RE.sub("", parsed.subject)).strip() or parsed.subject
    subject = (subject or "(无主题 / no subject)")[:200]
    data = TicketCreate(subject=subject, description=parsed.text, contact_id=contact.id)
    ticket, created = actions.do_create_ticket_once(
        uow, None, workspace_id=workspace_id, data=data, source="email",
        by=By.customer(contact.id), external_ref=parsed.message_id,
        email_thread={"message_ids": [parsed.message_id], "address": parsed.sender,
                      "subject": subject, **({"auto": True} if parsed.auto else {})})
    if not created:
        return Result("duplicate", ticket.id, ticket.number, message_id=parsed.message_id)
    file_ids, skipped = _store_attachments(uow, workspace_id, parsed, contact.id, ticket.id)
    if file_ids or skipped:
        record(uow, ticket, "attachments_added", By.customer(contact.id), public=True,
               data={"file_ids": file_ids, "via": "email",
                     **({"skipped_files": skipped} if skipped else {})})
    return Result("created", ticket.id, ticket.number, message_id=parsed.message_id,
                  skipped_files=skipped)


def receive_for_slug(uow: UnitOfWork, *, slug: str, raw: bytes) -> Result:
    """``receive_email`` for the workspace named by ``slug`` (the CLI)."""
    from kefu.accounts.models import Workspace

    ws_id = uow.session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if ws_id is None:
        raise NotFound(f"没有这个工作区 / No workspace with slug {slug!r}",
                       code="workspace_not_found")
    return receive_email(uow, workspace_id=ws_id, raw=raw)


