"""Knowledge-center files over HTTP: documents (文档: Markdown, HTML, PDF, DOCX split into
passages), FAQ import / export as CSV or XLSX (导入导出), and the health check (知识体检).

Reads need ``kb.read``; uploads, imports and deletes need ``kb.write``. The checks and the
error codes are the domain's (``kefu.kb.documents``, ``kefu.kb.transfer``; see
docs/subsystems/documents.md and kb-transfer.md). Uploads are multipart (field ``file``) and
may be larger than the JSON body cap: ``UPLOAD_LIMITS`` names the routes and their file
limits, and ``kefu.web.routes`` lets their bodies through up to that size (a larger body is a
413 ``file_too_large`` before it is read).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from kefu.accounts import queries as account_queries
from kefu.accounts.actor import Actor
from kefu.bot.usage import entry_usage
from kefu.core.errors import Invalid
from kefu.kb import documents as kb_documents
from kefu.kb import transfer as kb_transfer
from kefu.kb.documents import DocumentDetail, DocumentRead
from kefu.kb.health import HealthReport, health_report
from kefu.kb.transfer import ImportReport
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1/kb", tags=["kb"])

#: bytes of multipart framing (boundaries, part headers, the title field) allowed on top of a
#: file's own limit
UPLOAD_SLACK = 1024 * 1024
#: POST path -> the largest file it takes (the domain's limit)
UPLOAD_LIMITS: dict[str, int] = {
    "/api/v1/kb/documents": kb_documents.MAX_BYTES,
    "/api/v1/kb/import": kb_transfer.MAX_FILE_BYTES,
}
MAX_HEALTH_DAYS = 365
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class RowErrorRead(BaseModel):
    """One bad row: the file line (1 = the header), the column key, a code, a message."""

    line: int
    field: str | None
    code: str
    message: str


class ImportReportRead(BaseModel):
    """What an import did. ``applied`` says whether the changes were kept (false after a dry
    run, or when a row failed without ``partial``)."""

    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[RowErrorRead]
    applied: bool
    dry_run: bool
    partial: bool
    encoding: str
    ignored_columns: list[str]


class HealthIssueRead(BaseModel):
    kind: Literal["collision", "duplicate", "expired_published", "never_hit",
                  "negative_feedback"]
    entry_ids: list[str]
    questions: list[str]
    detail_zh: str
    detail_en: str
    score: float | None


class HealthReportRead(BaseModel):
    workspace_id: str
    generated_at: datetime
    checked: int
    days: int
    counts: dict[str, int]
    issues: list[HealthIssueRead]


def report_read(report: ImportReport) -> ImportReportRead:
    return ImportReportRead(
        rows=report.rows, created=report.created, updated=report.updated,
        unchanged=report.unchanged, applied=report.applied, dry_run=report.dry_run,
        partial=report.partial, encoding=report.encoding,
        ignored_columns=list(report.ignored_columns),
        errors=[RowErrorRead(line=e.line, field=e.field, code=e.code, message=e.message)
                for e in report.errors])


def rejected(report: ImportReport) -> Invalid:
    """The error for an import whose bad rows meant nothing was kept (every row error is in
    ``details.errors``)."""
    n = len(report.errors)
    return Invalid(f"文件中有 {n} 处错误，未导入任何内容 / {n} error(s) in the file; nothing "
                   "was imported", code="import_rejected",
                   **report_read(report).model_dump())


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of an uploaded file (one more than the domain accepts, so
    the domain's own check names the problem)."""
    upload.file.seek(0)
    return upload.file.read(limit + 1)


def export_filename(session: Session, actor: Actor, fmt: str, now: datetime) -> str:
    ws = account_queries.get_workspace(session, actor.workspace_id)
    try:
        day = now.astimezone(ZoneInfo(ws.timezone if ws else "UTC")).strftime("%Y%m%d")
    except (KeyError, ValueError):
        day = now.strftime("%Y%m%d")
    return f"知识库-{day}.{fmt}"


def attachment(filename: str, fallback: str) -> str:
    """A Content-Disposition value: an ASCII name for old clients, the real one (RFC 5987)."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def run_health(session: Session, actor: Actor, *, now: datetime, days: int) -> HealthReport:
    """The health check of the actor's workspace, with the bot's use of each entry over the
    last ``days`` days."""
    actor.require("kb.read")
    usage = entry_usage(session, actor.workspace_id, now - timedelta(days=days))
    return health_report(session, actor.workspace_id, now=now, usage=usage,
                         never_hit_days=days)


# -- documents ----------------------------------------------------------------------------

@router.get("/documents", response_model=list[DocumentRead])
def list_documents(request: Request,
                   actor: Actor = Depends(current_actor)) -> list[DocumentRead]:
    """The workspace's documents with their passage counts, newest first."""
    with services(request).uows(readonly=True) as uow:
        return kb_documents.list_documents(uow.session, actor)


@router.post("/documents", response_model=DocumentRead, status_code=201)
def upload_document(request: Request, actor: Actor = Depends(current_actor),
                    file: UploadFile = File(description="A .md, .html, .pdf or .docx file"),
                    title: str | None = Form(None, max_length=1000)) -> DocumentRead:
    """Import a document (multipart, field ``file``; optional ``title``). It is split into
    passages and published at once. Bad files are 422 with the domain's code
    (``unsupported_type``, ``empty_file``, ``file_too_large``, ``type_mismatch``,
    ``bad_encoding``, ``pdf_corrupt``, ``pdf_encrypted``, ``docx_not_zip``,
    ``docx_corrupt``, ``no_text``, ``too_many_passages``, ``too_long``)."""
    actor.require("kb.write")
    data = read_upload(file, kb_documents.MAX_BYTES)
    with services(request).uows() as uow:
        doc = kb_documents.do_import_document(uow, actor, data=data,
                                              filename=file.filename or "",
                                              title=title if title and title.strip() else None)
        detail = kb_documents.get_document(uow.session, actor, doc.id)
    return DocumentRead.model_validate(detail.model_dump(exclude={"passages"}))


@router.get("/documents/{document_id}", response_model=DocumentDetail)
def get_document(document_id: str, request: Request,
                 actor: Actor = Depends(current_actor)) -> DocumentDetail:
    """One document with its passages in order."""
    with services(request).uows(readonly=True) as uow:
        return kb_documents.get_document(uow.session, actor, document_id)


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: str, request: Request,
                    actor: Actor = Depends(current_actor)) -> None:
    with services(request).uows() as uow:
        kb_documents.do_delete_document(uow, actor, document_id)


# -- import / export ----------------------------------------------------------------------

@router.post("/import", response_model=ImportReportRead)
def import_entries(request: Request, actor: Actor = Depends(current_actor),
                   file: UploadFile = File(description="A .csv (UTF-8 or GBK) or .xlsx file"),
                   partial: bool = Query(False, description="keep the valid rows even if "
                                                            "some rows are bad"),
                   dry_run: bool = Query(False, description="check the file, change nothing"),
                   ) -> ImportReportRead:
    """Import FAQ entries (multipart, field ``file``). A row whose ``id`` is an entry of this
    workspace updates it; other rows create entries. A file with bad rows changes nothing and
    is a 422 ``import_rejected`` listing every row error in ``details.errors``, unless
    ``partial`` (the valid rows are kept and the report lists the bad ones). ``dry_run``
    always answers the report and keeps nothing. File-level problems are 422 with their own
    code (``unsupported_format``, ``bad_encoding``, ``missing_column``, …)."""
    actor.require("kb.write")
    data = read_upload(file, kb_transfer.MAX_FILE_BYTES)
    with services(request).uows() as uow:
        report = kb_transfer.import_entries(uow, actor, data, filename=file.filename or "",
                                            partial=partial, dry_run=dry_run)
        if report.errors and not report.applied and not dry_run:
            raise rejected(report)
    return report_read(report)


@router.get("/export", response_class=Response,
            responses={200: {"content": {t: {} for t in EXPORT_TYPES.values()},
                             "description": "The file, as an attachment"}})
def export_entries(request: Request, actor: Actor = Depends(current_actor),
                   fmt: Literal["csv", "xlsx"] = Query("csv", alias="format")) -> Response:
    """Every FAQ entry of the workspace as CSV (UTF-8 with BOM, opens in Excel) or XLSX; the
    file imports back unchanged."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        data = kb_transfer.export_entries(uow.session, actor, fmt)
        name = export_filename(uow.session, actor, fmt, svc.clock.now())
    fallback = "kb-" + name.split("-", 1)[1]
    return Response(data, media_type=EXPORT_TYPES[fmt],
                    headers={"Content-Disposition": attachment(name, fallback),
                             "Cache-Control": "no-store"})


# -- health check -------------------------------------------------------------------------

@router.get("/health", response_model=HealthReportRead)
def health(request: Request, actor: Actor = Depends(current_actor),
           days: int = Query(30, ge=1, le=MAX_HEALTH_DAYS,
                             description="the 'never hit' window in days")) -> HealthReportRead:
    """The knowledge health check (知识体检): collisions, duplicates, expired published
    entries, entries the bot never used in ``days`` days, and disliked entries."""
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        report = run_health(uow.session, actor, now=svc.clock.now(), days=days)
    body: dict[str, Any] = report.as_dict()
    return HealthReportRead.model_validate({**body, "days": days})
