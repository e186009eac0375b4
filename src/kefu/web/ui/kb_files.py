"""Knowledge-center pages for files: documents (文档: upload, list, passages, delete), FAQ
import / export (导入导出: CSV / XLSX download, import with dry run or partial, the report with
every row error) and the health check (知识体检: issues grouped by kind).

Everyone with ``kb.read`` sees the pages; only ``kb.write`` sees the forms, and a POST from
anyone else is a 403 page (checked before the upload is read). Forms carry the session's CSRF
token in a hidden field (multipart forms too). Uploads go through the same domain functions
as the API (``kefu.kb.documents``, ``kefu.kb.transfer``), whose refusals are shown on the page.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kefu.accounts import queries as account_queries
from kefu.core.errors import DomainError
from kefu.kb import documents as kb_documents
from kefu.kb import transfer as kb_transfer
from kefu.kb.health import KINDS
from kefu.kb.transfer import ImportReport
from kefu.web.api.kb_files import run_health
from kefu.web.deps import Auth, check_csrf, services
from kefu.web.i18n import Translator
from kefu.web.ui.kb import DEFAULT_TZ, fmt_dt
from kefu.web.ui.render import (
    error_page,
    field,
    locale_of,
    page_gate,
    read_form,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

#: POST path -> the largest file it takes (see ``kefu.web.api.kb_files.UPLOAD_LIMITS``)
UPLOAD_LIMITS: dict[str, int] = {
    "/app/kb/documents": kb_documents.MAX_BYTES,
    "/app/kb/transfer": kb_transfer.MAX_FILE_BYTES,
}
NOTICES = frozenset({"created", "deleted"})
DAYS_CHOICES = (7, 30, 90, 180, 365)
DEFAULT_DAYS = 30
DOCUMENT_TYPES = ".md,.markdown,.html,.htm,.pdf,.docx"
IMPORT_TYPES = ".csv,.tsv,.txt,.xlsx"


@dataclasses.dataclass
class Upload:
    """A multipart form: its text fields, and the file (``filename`` empty when none)."""

    fields: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    filename: str = ""
    data: bytes = b""

    def get(self, name: str, default: str = "") -> str:
        return field(self.fields, name, default)

    def checked(self, name: str) -> bool:
        return self.get(name) in ("1", "on", "true")


async def read_upload(request: Request, limit: int) -> Upload:
    """The form of an upload page: text fields, and at most ``limit + 1`` bytes of ``file``
    (one more than the domain accepts, so its own check names the problem)."""
    form = await request.form()
    out = Upload()
    try:
        for key, value in form.multi_items():
            if isinstance(value, str):
                out.fields.setdefault(key, []).append(value)
            elif key == "file" and isinstance(value, UploadFile) and not out.filename:
                out.filename = value.filename or ""
                out.data = await value.read(limit + 1)
    finally:
        await form.close()
    return out


# -- access and page frame ----------------------------------------------------------------

def _gate(request: Request, *, write: bool) -> tuple[Auth, str] | Response:
    return page_gate(request, *(("kb.write",) if write else ("kb.write", "kb.read")))


def _csrf_failed(request: Request, auth: Auth, locale: str, token: str) -> Response | None:
    try:
        check_csrf(request, auth, token)
    except DomainError:
        t = Translator(locale)
        return error_page(request, locale=locale, auth=auth, status=403,
                          title_key="error.csrf.title", message=t("error.csrf.body"))
    return None


def _page(request: Request, auth: Auth, locale: str, template: str, *, tab: str,
          status: int = 200, error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    with services(request).uows(readonly=True) as uow:
        ws = account_queries.get_workspace(uow.session, auth.actor.workspace_id)
    name, tz = (ws.name, ws.timezone) if ws is not None else ("", DEFAULT_TZ)
    key = request.query_params.get("notice")
    notice = t(f"kb.notice.{key}") if key in NOTICES and error is None else None
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section="kb", tab=tab, workspace_name=name,
                  error=error, error_field="", notice=notice,
                  can_write=auth.actor.can("kb.write"), tz=tz,
                  fmt_dt=lambda v: fmt_dt(v, tz), **context)


def _not_found(request: Request, auth: Auth, locale: str, exc: DomainError) -> Response:
    t = Translator(locale)
    return error_page(request, locale=locale, auth=auth, status=404,
                      title_key="kb.error.not_found", message=t.message(exc.message))


# -- documents ----------------------------------------------------------------------------

def _documents_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                    error: str | None = None, title: str = "") -> Response:
    with services(request).uows(readonly=True) as uow:
        docs = kb_documents.list_documents(uow.session, auth.actor)
    return _page(request, auth, locale, "kb/documents.html", tab="documents", status=status,
                 error=error, documents=docs, title_value=title, accept=DOCUMENT_TYPES,
                 max_mb=kb_documents.MAX_BYTES // (1024 * 1024))


@router.get("/app/kb/documents")
def documents_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _documents_page(request, *gate)


def _upload_document(request: Request, auth: Auth, locale: str, upload: Upload) -> Response:
    refused = _csrf_failed(request, auth, locale, upload.get("csrf_token"))
    if refused is not None:
        return refused
    t = Translator(locale)
    title = upload.get("title").strip()
    if not upload.filename:
        return _documents_page(request, auth, locale, status=422, title=title,
                               error=t("kb.files.no_file"))
    try:
        with services(request).uows() as uow:
            doc_id = kb_documents.do_import_document(
                uow, auth.actor, data=upload.data, filename=upload.filename,
                title=title or None).id
    except DomainError as exc:
        return _documents_page(request, auth, locale, status=exc.status, title=title,
                               error=t.message(exc.message))
    return redirect(f"/app/kb/documents/{doc_id}?notice=created")


@router.post("/app/kb/documents")
async def document_upload(request: Request) -> Response:
    gate = await run_in_threadpool(_gate, request, write=True)
    if isinstance(gate, Response):
        return gate
    upload = await read_upload(request, kb_documents.MAX_BYTES)
    return await run_in_threadpool(_upload_document, request, *gate, upload)


def _sections(passages: list[kb_documents.PassageRead]) -> list[dict[str, Any]]:
    """Consecutive passages under the same heading, grouped."""
    out: list[dict[str, Any]] = []
    for p in passages:
        if not out or out[-1]["heading"] != p.heading:
            out.append({"heading": p.heading, "passages": []})
        out[-1]["passages"].append(p)
    return out


@router.get("/app/kb/documents/{document_id}")
def document_page(document_id: str, request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    try:
        with services(request).uows(readonly=True) as uow:
            doc = kb_documents.get_document(uow.session, auth.actor, document_id)
    except DomainError as exc:
        if exc.status != 404:
            raise
        return _not_found(request, auth, locale, exc)
    return _page(request, auth, locale, "kb/document.html", tab="documents", document=doc,
                 sections=_sections(doc.passages))


def _delete_document(request: Request, document_id: str, token: str) -> Response:
    gate = _gate(request, write=True)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    refused = _csrf_failed(request, auth, locale, token)
    if refused is not None:
        return refused
    try:
        with services(request).uows() as uow:
            kb_documents.do_delete_document(uow, auth.actor, document_id)
    except DomainError as exc:
        if exc.status == 404:
            return _not_found(request, auth, locale, exc)
        return _documents_page(request, auth, locale, status=exc.status,
                               error=Translator(locale).message(exc.message))
    return redirect("/app/kb/documents?notice=deleted")


@router.post("/app/kb/documents/{document_id}/delete")
async def document_delete(document_id: str, request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_delete_document, request, document_id,
                                   field(form, "csrf_token"))


# -- import / export ----------------------------------------------------------------------

def _field_label(key: str | None, locale: str) -> str:
    if not key:
        return "—"
    return key if locale == "en" else kb_transfer.LABELS.get(key, key)


def _report_view(report: ImportReport, locale: str, t: Translator) -> dict[str, Any]:
    if report.dry_run:
        outcome = "dry_run"
    elif report.applied:
        outcome = "partial" if report.errors else "applied"
    else:
        outcome = "rejected"
    return {
        "outcome": outcome, "rows": report.rows, "created": report.created,
        "updated": report.updated, "unchanged": report.unchanged,
        "error_count": len(report.errors), "encoding": report.encoding,
        "ignored": report.ignored_columns,
        "errors": [{"line": e.line, "field": _field_label(e.field, locale), "code": e.code,
                    "message": t.message(e.message)} for e in report.errors],
    }


def _transfer_page(request: Request, auth: Auth, locale: str, *, status: int = 200,
                   error: str | None = None, report: dict[str, Any] | None = None,
                   options: dict[str, bool] | None = None) -> Response:
    return _page(request, auth, locale, "kb/transfer.html", tab="transfer", status=status,
                 error=error, report=report, accept=IMPORT_TYPES,
                 options=options or {"dry_run": False, "partial": False},
                 max_mb=kb_transfer.MAX_FILE_BYTES // (1024 * 1024))


@router.get("/app/kb/transfer")
def transfer_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    return _transfer_page(request, *gate)


def _import(request: Request, auth: Auth, locale: str, upload: Upload) -> Response:
    refused = _csrf_failed(request, auth, locale, upload.get("csrf_token"))
    if refused is not None:
        return refused
    t = Translator(locale)
    options = {"dry_run": upload.checked("dry_run"), "partial": upload.checked("partial")}
    if not upload.filename:
        return _transfer_page(request, auth, locale, status=422, options=options,
                              error=t("kb.files.no_file"))
    try:
        with services(request).uows() as uow:
            report = kb_transfer.import_entries(uow, auth.actor, upload.data,
                                                filename=upload.filename, **options)
    except DomainError as exc:
        line = exc.details.get("line")
        message = t.message(exc.message)
        if line and str(line) not in message:
            message = t("kb.transfer.at_line", line=line, message=message)
        return _transfer_page(request, auth, locale, status=exc.status, options=options,
                              error=message)
    view = _report_view(report, locale, t)
    return _transfer_page(request, auth, locale, report=view, options=options,
                          status=422 if view["outcome"] == "rejected" else 200)


@router.post("/app/kb/transfer")
async def transfer_import(request: Request) -> Response:
    gate = await run_in_threadpool(_gate, request, write=True)
    if isinstance(gate, Response):
        return gate
    upload = await read_upload(request, kb_transfer.MAX_FILE_BYTES)
    return await run_in_threadpool(_import, request, *gate, upload)


# -- health check -------------------------------------------------------------------------

def _days(request: Request) -> int:
    try:
        days = int(request.query_params.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return days if 1 <= days <= max(DAYS_CHOICES) else DEFAULT_DAYS


@router.get("/app/kb/health")
def health_page(request: Request) -> Response:
    gate = _gate(request, write=False)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    days = _days(request)
    svc = services(request)
    with svc.uows(readonly=True) as uow:
        report = run_health(uow.session, auth.actor, now=svc.clock.now(), days=days)
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict((k, []) for k in KINDS)
    for issue in report.issues:
        groups[issue.kind].append({
            "entries": list(zip(issue.entry_ids, issue.questions, strict=False)),
            "detail": issue.detail_en if locale == "en" else issue.detail_zh,
            "score": issue.score})
    choices = sorted({*DAYS_CHOICES, days})
    return _page(request, auth, locale, "kb/health.html", tab="health", days=days,
                 day_choices=choices, report=report, counts=report.counts(), groups=groups)
