"""Ticket templates API (``ticket.manage``; reading one needs ``ticket.read``) and the inbound
e-mail entry point.

- ``GET /api/v1/ticket-templates`` · ``POST /api/v1/ticket-templates``
- ``GET|PATCH|DELETE /api/v1/ticket-templates/{template_id}``
- ``POST /api/v1/tickets/inbound-email``: the raw RFC 822 message as the body
  (``Content-Type: message/rfc822``, at most 25 MB), filed into the caller's workspace by
  ``tickets.email_in`` → ``{"action": "created" | "replied" | "duplicate", "ticket_id", …}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid
from kefu.tickets import email_in
from kefu.tickets import templates as tpl
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["tickets"])
INBOUND_PATH = "/api/v1/tickets/inbound-email"
UPLOAD_LIMITS: dict[str, int] = {INBOUND_PATH: email_in.MAX_EMAIL_BYTES}


@router.get("/ticket-templates")
def get_templates(request: Request, actor: Actor = Depends(current_actor),
                  active: bool | None = None) -> dict[str, Any]:
    """The workspace's templates by position (``active=true``: only active ones)."""
    with services(request).uows(readonly=True) as uow:
        items = tpl.list_templates(uow.session, actor, active_only=bool(active))
        return {"items": [tpl.template_read(t) for t in items]}


@router.post("/ticket-templates", status_code=201)
def post_template(data: tpl.TemplateCreate, request: Request,
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Create a template; ``fields`` is validated (``invalid_template`` names each problem);
    a taken name is 409 ``template_name_taken``."""
    with services(request).uows() as uow:
        return tpl.template_read(tpl.do_create_template(uow, actor, data))


@router.get("/ticket-templates/{template_id}")
def get_template(template_id: str, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return tpl.template_read(tpl.access_template(actor, template_id, session=uow.session))


@router.patch("/ticket-templates/{template_id}")
def patch_template(template_id: str, data: tpl.TemplateUpdate, request: Request,
                   actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        return tpl.template_read(tpl.do_update_template(uow, actor, template_id, data))


@router.delete("/ticket-templates/{template_id}", status_code=204)
def delete_template(template_id: str, request: Request,
                    actor: Actor = Depends(current_actor)) -> Response:
    """Delete an unused template (one in use: 409 ``template_in_use``, deactivate it)."""
    with services(request).uows() as uow:
        tpl.do_delete_template(uow, actor, template_id)
    return Response(status_code=204)


@router.post("/tickets/inbound-email")
async def post_inbound_email(request: Request,
                             actor: Actor = Depends(current_actor)) -> JSONResponse:
    """File one e-mail (the body is the raw message) into the caller's workspace."""
    actor.require("ticket.manage")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("message/rfc822", "text/plain", "application/octet-stream"):
        raise Invalid("请求体应为原始邮件 (message/rfc822) / The body must be the raw "
                      "message (message/rfc822)", code="unsupported_media_type")
    raw = await request.body()
    from starlette.concurrency import run_in_threadpool

    def write() -> dict[str, Any]:
        with services(request).uows() as uow:
            return email_in.receive_email(uow, workspace_id=actor.workspace_id,
                                          raw=raw).as_dict()

    out = await run_in_threadpool(write)
    return JSONResponse(out, status_code=201 if out["action"] == "created" else 200)
