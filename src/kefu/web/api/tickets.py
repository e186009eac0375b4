"""Tickets API: list / create (``Idempotency-Key``) / read / update, replies and notes,
watchers, links, merge, split, child tickets, a ticket from a conversation, files.

Every error is the usual JSON ``{"error": {"code", "message", "details"}}``: 401 without a
login, 403 without the permission (``ticket.read`` to read, ``ticket.write`` to change), 404
for another workspace's ticket, 422 for bad input (nothing is changed)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid, NotFound
from kefu.tickets import actions, intake, relations
from kefu.tickets import files as ticket_files
from kefu.tickets import queries as tq
from kefu.tickets.access import access_ticket
from kefu.tickets.schemas import Priority, TicketCreate, TicketUpdate
from kefu.web.api.kb_files import attachment, read_upload
from kefu.web.deps import current_actor, services


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def refuse_nul(request: Request) -> None:
    """PostgreSQL cannot store NUL characters in text: a NUL in the path, the query or a JSON
    body is a 422 ``invalid_text`` instead of a database error (uploads are bytes: allowed)."""
    where = None
    if "\x00" in request.url.path or "%00" in request.url.query:
        where = "url"
    elif request.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        raw = await request.body()
        if b"\\u0000" in raw:
            try:
                if _has_nul(json.loads(raw)):
                    where = "body"
            except ValueError:
                return  # not JSON: the body's own validation answers
    if where is not None:
        raise Invalid("内容不能包含 NUL 字符 / Text cannot contain NUL characters",
                      code="invalid_text", field=where)


router = APIRouter(prefix="/api/v1", tags=["tickets"], dependencies=[Depends(refuse_nul)])

FILES_PATH = "/api/v1/ticket-files"
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {FILES_PATH: ticket_files.MAX_FILE_BYTES}
#: an ``Idempotency-Key`` is stored as ``api:<key>`` in ``Ticket.external_ref`` (200 chars)
MAX_IDEMPOTENCY_KEY = 190

Sort = Literal["breach", "updated", "created", "priority", "number"]


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=actions.MAX_BODY)
    #: True: a public reply to the customer; False: an internal note
    public: bool = False
    file_ids: list[str] = Field(default_factory=list, max_length=20)


class WatcherAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: None: yourself
    user_id: str | None = Field(default=None, max_length=24)


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_id: str = Field(min_length=1, max_length=24)
    kind: Literal["related"] = "related"


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: this ticket is merged into ``target_id``
    target_id: str = Field(min_length=1, max_length=24)


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: customer lines (timeline seqs) moved to the new ticket
    seqs: list[int] = Field(default_factory=list, max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=actions.MAX_BODY)


class FromConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=actions.MAX_BODY)
    template_id: str | None = Field(default=None, max_length=24)
    priority: Priority | None = None
    team_id: str | None = Field(default=None, max_length=24)
    assignee_id: str | None = Field(default=None, max_length=24)
    fields: dict[str, Any] = Field(default_factory=dict)


def _ticket(uow: Any, ticket: Any) -> dict[str, Any]:
    out = tq.ticket_read(ticket).model_dump(mode="json")
    out["url"] = f"/app/tickets/{ticket.id}"
    return out


def _me(value: str | None, actor: Actor) -> str | None:
    return actor.user_id if value == "me" else value


@router.get("/tickets")
def list_tickets(request: Request, actor: Actor = Depends(current_actor),
                 status: list[str] | None = Query(None),
                 team_id: str | None = Query(None, max_length=24),
                 assignee_id: str | None = Query(None, max_length=24),
                 priority: list[str] | None = Query(None),
                 template_id: str | None = Query(None, max_length=24),
                 tag: str | None = Query(None, max_length=40),
                 sla_status: str | None = Query(None, max_length=16),
                 q: str | None = Query(None, max_length=200),
                 source: str | None = Query(None, max_length=16),
                 contact_id: str | None = Query(None, max_length=24),
                 watcher_id: str | None = Query(None, max_length=24),
                 sort: Sort = "breach",
                 limit: int = Query(50, ge=1, le=tq.MAX_LIMIT),
                 cursor: str | None = Query(None, max_length=500),
                 count: bool = False) -> dict[str, Any]:
    """One page of tickets. ``assignee_id`` / ``watcher_id``: a user id, ``me``, or ``none``
    (unassigned); ``team_id``: a team id or ``none``. ``next_cursor`` fetches the next page.
    ``count=true`` adds ``{"count": n, "count_more": bool}`` (counted up to 1000)."""
    flt = tq.TicketFilter(status=status, team_id=team_id,
                          assignee_id=_me(assignee_id, actor), priority=priority,
                          template_id=template_id, tag=tag, sla_status=sla_status, q=q,
                          source=source, contact_id=contact_id,
                          watcher_id=_me(watcher_id, actor))
    with services(request).uows(readonly=True) as uow:
        page = tq.list_tickets(uow, actor, flt, sort=sort, limit=limit, cursor=cursor)
        out: dict[str, Any] = page.model_dump(mode="json")
        if count:
            out["count"], out["count_more"] = tq.count_tickets(uow, actor, flt)
    return out


@router.post("/tickets", status_code=201)
def create_ticket(data: TicketCreate, request: Request, response: Response,
                  actor: Actor = Depends(current_actor),
                  idempotency_key: str | None = Header(None)) -> dict[str, Any]:
    """Create a ticket (source ``api``). With an ``Idempotency-Key`` header a retry returns
    the ticket made the first time (200 instead of 201), never a second one."""
    actor.require("ticket.write")
    ref = None
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY:
            raise Invalid("Idempotency-Key 无效 / Invalid Idempotency-Key",
                          code="invalid_idempotency_key", field="Idempotency-Key",
                          limit=MAX_IDEMPOTENCY_KEY)
        ref = f"api:{key}"
    with services(request).uows() as uow:
        ticket, created = actions.do_create_ticket_once(
            uow, actor, workspace_id=actor.workspace_id, data=data, source="api",
            external_ref=ref)
        out = _ticket(uow, ticket)
    if not created:
        response.status_code = 200
    return out


@router.get("/tickets/{ticket_id}")
def get_ticket(ticket_id: str, request: Request,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """The ticket with its template, timeline, watchers, links, parent and children, the
    conversation transcript, the allowed next statuses, users and teams."""
    with services(request).uows(readonly=True) as uow:
        return tq.get_detail(uow, actor, ticket_id).model_dump(mode="json")


@router.patch("/tickets/{ticket_id}")
def update_ticket(ticket_id: str, data: TicketUpdate, request: Request,
                  actor: Actor = Depends(current_actor),
                  force: bool = False) -> dict[str, Any]:
    """Change the fields sent. A refused status change is 422 ``invalid_transition``;
    resolving a parent with open children is 422 ``children_open`` unless ``force=true``."""
    with services(request).uows() as uow:
        ticket = actions.do_update_ticket(uow, actor, ticket_id, data, force=force)
        return _ticket(uow, ticket)


@router.post("/tickets/{ticket_id}/replies", status_code=201)
def reply(ticket_id: str, data: ReplyCreate, request: Request,
          actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """A public reply (``public: true``) or an internal note; ``@name`` / ``@email`` of a
    colleague notifies them."""
    with services(request).uows() as uow:
        event = actions.do_reply(uow, actor, ticket_id, body=data.body, public=data.public,
                                 file_ids=data.file_ids)
        ticket = access_ticket(uow, actor, ticket_id)
        item = next(i for i in tq.timeline(uow, ticket, after_seq=event.seq - 1)
                    if i.id == event.id)
        return item.model_dump(mode="json")


@router.post("/tickets/{ticket_id}/watchers")
def add_watcher(ticket_id: str, data: WatcherAdd, request: Request,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        added = actions.do_add_watcher(uow, actor, ticket_id, data.user_id or actor.user_id)
        return {"added": added, "watchers": tq.watcher_ids(uow, ticket_id)}


@router.delete("/tickets/{ticket_id}/watchers")
def remove_watcher(ticket_id: str, request: Request, actor: Actor = Depends(current_actor),
                   user_id: str | None = Query(None, max_length=24)) -> dict[str, Any]:
    """Stop watching (``user_id``: someone else; default yourself)."""
    with services(request).uows() as uow:
        removed = actions.do_remove_watcher(uow, actor, ticket_id, user_id or actor.user_id)
        return {"removed": removed, "watchers": tq.watcher_ids(uow, ticket_id)}


@router.post("/tickets/{ticket_id}/links")
def add_link(ticket_id: str, data: LinkCreate, request: Request,
             actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        added = relations.do_link(uow, actor, ticket_id, data.other_id, kind=data.kind)
        ticket = access_ticket(uow, actor, ticket_id)
        links = [r.model_dump(mode="json") for r in tq.ticket_links(uow, ticket)]
    return {"added": added, "links": links}


@router.delete("/tickets/{ticket_id}/links/{other_id}", status_code=204)
def remove_link(ticket_id: str, other_id: str, request: Request,
                actor: Actor = Depends(current_actor)) -> Response:
    with services(request).uows() as uow:
        relations.do_unlink(uow, actor, ticket_id, other_id)
    return Response(status_code=204)


@router.post("/tickets/{ticket_id}/merge")
def merge(ticket_id: str, data: MergeRequest, request: Request,
          actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Merge this ticket into ``target_id``; returns the target."""
    with services(request).uows() as uow:
        target = relations.do_merge(uow, actor, ticket_id, data.target_id)
        return _ticket(uow, target)


@router.post("/tickets/{ticket_id}/split", status_code=201)
def split(ticket_id: str, data: SplitRequest, request: Request,
          actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """A new ticket from customer lines (``seqs``) of this one, or a new subject + body."""
    with services(request).uows() as uow:
        new = relations.do_split(uow, actor, ticket_id, seqs=data.seqs or None,
                                 subject=data.subject, body=data.body)
        return _ticket(uow, new)


@router.post("/tickets/{ticket_id}/children", status_code=201)
def create_child(ticket_id: str, data: TicketCreate, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        child = relations.do_create_child(uow, actor, ticket_id, data)
        return _ticket(uow, child)


@router.post("/conversations/{conversation_id}/ticket", status_code=201)
def from_conversation(conversation_id: str, request: Request,
                      actor: Actor = Depends(current_actor),
                      data: FromConversation | None = None) -> dict[str, Any]:
    """One click: a ticket from a conversation (subject: the first customer message unless
    given; the transcript is linked)."""
    body = data or FromConversation()
    with services(request).uows() as uow:
        ticket = intake.do_create_from_conversation(
            uow, actor, conversation_id, subject=body.subject, description=body.description,
            template_id=body.template_id, priority=body.priority, team_id=body.team_id,
            assignee_id=body.assignee_id, fields=body.fields)
        return _ticket(uow, ticket)


@router.post("/ticket-files", status_code=201)
def upload_file(request: Request, actor: Actor = Depends(current_actor),
                file: UploadFile = File(description="Any file up to 10 MB")) -> dict[str, Any]:
    """Store a file for a reply (``file_ids``) or an attachment field; returns its id."""
    actor.require("ticket.write")
    raw = read_upload(file, ticket_files.MAX_FILE_BYTES)
    with services(request).uows() as uow:
        row = ticket_files.do_store_file(uow, workspace_id=actor.workspace_id,
                                         name=file.filename, content_type=file.content_type,
                                         data=raw, uploaded_by=actor.user_id)
        return {"id": row.id, "name": row.name, "content_type": row.content_type,
                "size": row.size}


@router.get("/tickets/{ticket_id}/files/{file_id}")
def download_file(ticket_id: str, file_id: str, request: Request,
                  actor: Actor = Depends(current_actor)) -> Response:
    """A file of the ticket, as an attachment."""
    with services(request).uows(readonly=True) as uow:
        ticket = access_ticket(uow, actor, ticket_id)
        row = ticket_files.get_file(uow, ticket.workspace_id, file_id)
        # a split / follow-up ticket shows the attachment fields copied from its origin
        named = any(isinstance(v, list) and file_id in v for v in (ticket.fields or {}).values())
        if row.ticket_id != ticket.id and not (named and row.ticket_id is not None):
            raise NotFound("附件不存在 / File not found", code="file_not_found",
                           file_id=file_id)
        data, name, ctype = row.data, row.name, row.content_type
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in name) or "file"
    return Response(content=data, media_type=ctype,
                    headers={"Content-Disposition": attachment(name, fallback),
                             "X-Content-Type-Options": "nosniff"})
