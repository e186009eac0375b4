"""Ticket attachments (``TicketFile``): stored in the database, capped at 10 MB each.

Uploaded by agents (reply files, attachment fields), by customers (portal, self-service form)
and by the e-mail intake. A file may be stored before its ticket exists (``ticket_id`` None);
:func:`attach` binds it once the ticket is made."""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from kefu.core.errors import Invalid, NotFound
from kefu.core.ids import new_id
from kefu.tickets.models import TicketFile

if TYPE_CHECKING:
    from kefu.core.uow import UnitOfWork

MAX_FILE_BYTES = 10 * 1024 * 1024
_BAD = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def sanitize_name(name: str | None) -> str:
    """A safe display / download name: no path, no control or reserved characters, ≤ 255."""
    s = unicodedata.normalize("NFC", name or "")
    s = s.replace("\\", "/").rsplit("/", 1)[-1]
    s = _BAD.sub("_", s).strip().strip(".").strip()
    if not s:
        s = "file"
    if len(s) > 255:
        stem, dot, ext = s.rpartition(".")
        s = stem[: 254 - len(ext)] + "." + ext if dot and 0 < len(ext) <= 16 else s[:255]
    return s


def _content_type(name: str, given: str | None) -> str:
    ct = (given or "").split(";")[0].strip().lower()
    if not ct or ct == "application/octet-stream" or not re.fullmatch(r"[\w.+-]+/[\w.+-]+", ct):
        ct = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return ct[:120]


def do_store_file(uow: UnitOfWork, *, workspace_id: str, name: str | None,
                  content_type: str | None, data: bytes, uploaded_by: str | None,
                  ticket_id: str | None = None) -> TicketFile:
    """Store one file. ``Invalid`` ``file_too_large`` (over 10 MB) or ``file_empty``."""
    if not data:
        raise Invalid("文件为空 / The file is empty", code="file_empty",
                      name=sanitize_name(name))
    if len(data) > MAX_FILE_BYTES:
        raise Invalid("文件超过 10 MB / The file is larger than 10 MB", code="file_too_large",
                      name=sanitize_name(name), size=len(data), limit=MAX_FILE_BYTES)
    clean = sanitize_name(name)
    row = TicketFile(id=new_id(), workspace_id=workspace_id, ticket_id=ticket_id, name=clean,
                     content_type=_content_type(clean, content_type), size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), data=data,
                     uploaded_by=uploaded_by, created_at=uow.clock.now())
    uow.session.add(row)
    uow.session.flush()
    return row


def get_file(uow: UnitOfWork, workspace_id: str, file_id: str) -> TicketFile:
    """A file of this workspace (another workspace's file is NotFound)."""
    row = uow.session.get(TicketFile, file_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("附件不存在 / File not found", code="file_not_found", file_id=file_id)
    return row


def attach(uow: UnitOfWork, *, workspace_id: str, ticket_id: str, file_ids: list[str]) -> None:
    """Bind stored files that belong to no ticket yet to ``ticket_id``."""
    if not file_ids:
        return
    uow.session.execute(
        update(TicketFile)
        .where(TicketFile.workspace_id == workspace_id, TicketFile.id.in_(file_ids),
               TicketFile.ticket_id.is_(None))
        .values(ticket_id=ticket_id))


def files_meta(uow: UnitOfWork, workspace_id: str, file_ids: list[str]) -> list[dict[str, object]]:
    """``[{id, name, content_type, size}]`` for the ids given (unknown ids skipped)."""
    if not file_ids:
        return []
    rows = uow.session.execute(
        select(TicketFile.id, TicketFile.name, TicketFile.content_type, TicketFile.size)
        .where(TicketFile.workspace_id == workspace_id, TicketFile.id.in_(file_ids))).all()
    by_id = {r.id: {"id": r.id, "name": r.name, "content_type": r.content_type,
                    "size": r.size} for r in rows}
    return [by_id[i] for i in file_ids if i in by_id]
