"""Mount every router plus the fixed addresses other tools rely on."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from kefu.web import portal, ws
from kefu.web.api import (
    admin,
    auth,
    bot,
    contacts,
    conversations,
    kb,
    kb_files,
    qa_live,
    qa_reports,
    qa_review,
    qa_rules,
    sla,
    ticket_automation,
    ticket_reports,
    ticket_templates,
    tickets,
    webchat,
)
from kefu.web.api import notifications as notifications_api
from kefu.web.deps import services
from kefu.web.ui import bot as bot_pages
from kefu.web.ui import demo, pages
from kefu.web.ui import help as help_pages
from kefu.web.ui import kb as kb_pages
from kefu.web.ui import kb_files as kb_files_pages
from kefu.web.ui import notifications as notifications_pages
from kefu.web.ui import qa_live as qa_live_pages
from kefu.web.ui import qa_reports as qa_reports_pages
from kefu.web.ui import qa_review as qa_review_pages
from kefu.web.ui import qa_rules as qa_rules_pages
from kefu.web.ui import sla as sla_pages
from kefu.web.ui import ticket_automation as ticket_automation_pages
from kefu.web.ui import ticket_reports as ticket_reports_pages
from kefu.web.ui import ticket_templates as ticket_templates_pages
from kefu.web.ui import tickets as tickets_pages

STATIC = Path(__file__).parent / "static"
#: upload routes (POST path -> largest file) that may exceed the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {**kb_files.UPLOAD_LIMITS, **kb_files_pages.UPLOAD_LIMITS,
                                 **qa_rules.UPLOAD_LIMITS, **qa_rules_pages.UPLOAD_LIMITS,
                                 **tickets.UPLOAD_LIMITS, **tickets_pages.UPLOAD_LIMITS,
                                 **ticket_templates.UPLOAD_LIMITS, **portal.UPLOAD_LIMITS}
UPLOAD_SLACK = kb_files.UPLOAD_SLACK


def include_routes(app: FastAPI) -> None:
    for module in (auth, admin, bot, conversations, contacts, kb, kb_files, webchat, qa_rules,
                   qa_live, qa_review, qa_reports, tickets, ticket_templates, sla,
                   notifications_api, ticket_automation, ticket_reports):
        app.include_router(module.router)
    app.include_router(ws.router)
    app.include_router(pages.router)
    app.include_router(kb_pages.router)
    app.include_router(kb_files_pages.router)
    app.include_router(bot_pages.router)
    app.include_router(help_pages.router)
    for pages_module in (qa_rules_pages, qa_live_pages, qa_review_pages, qa_reports_pages,
                         tickets_pages, ticket_templates_pages, sla_pages, notifications_pages,
                         ticket_automation_pages, ticket_reports_pages, portal):
        app.include_router(pages_module.router)
    app.include_router(demo.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz(request: Request) -> JSONResponse:
        """The database is reachable."""
        try:
            engine = services(request).engine
            with engine.connect().execution_options(kefu_readonly=True) as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__},
                                status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=300",
                                     "Access-Control-Allow-Origin": "*"})

