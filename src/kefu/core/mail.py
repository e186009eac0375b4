"""Outgoing e-mail over SMTP (standard library), as a durable ``send_email`` job.

Payload: ``{"to": [...], "subject", "text", "html"?, "message_key", "in_reply_to"?,
"references"?, "reply_to"?, "headers"?}``. The Message-ID is derived from ``message_key``,
so a retry after a crash between sending and recording sends the same message id (receivers
and our own e-mail intake can recognise the duplicate)."""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.uow import UnitOfWork

log = logging.getLogger(__name__)


def message_id_for(key: str, settings: Settings) -> str:
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "kefu.local"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def one_line(value: object, limit: int = 900) -> str:
    """A header value: line breaks and other control characters become spaces (a subject
    taken from a customer's text must not fail the message, nor add headers)."""
    text = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in str(value))
    return " ".join(text.split())[:limit]


def build_message(payload: dict[str, Any], settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    sender = one_line(payload.get("from") or settings.mail_from)
    name = one_line(payload.get("from_name") or "") or None
    msg["From"] = formataddr((name, parseaddr(sender)[1])) if name else sender
    msg["To"] = ", ".join(one_line(a) for a in payload["to"])
    msg["Subject"] = one_line(payload["subject"])
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id_for(str(payload.get("message_key") or payload["subject"]),
                                       settings)
    for header, key in (("Reply-To", "reply_to"), ("In-Reply-To", "in_reply_to"),
                        ("References", "references")):
        if payload.get(key):
            msg[header] = one_line(payload[key], 4000)
    for name_, value in (payload.get("headers") or {}).items():
        msg[one_line(name_, 70).replace(" ", "-")] = one_line(value)
    msg.set_content(payload.get("text") or "")
    if payload.get("html"):
        msg.add_alternative(payload["html"], subtype="html")
    return msg


def send(msg: EmailMessage, settings: Settings) -> bool:
    """Send one message; False when no SMTP server is configured."""
    if not settings.smtp_host:
        log.info("e-mail not sent (KEFU_SMTP_HOST is not set): %s", msg["Subject"])
        return False
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)
    return True


def job_handler(settings: Settings) -> Any:
    def handle(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        send(build_message(payload, settings), settings)

    return handle
