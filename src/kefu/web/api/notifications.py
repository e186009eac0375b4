"""The signed-in user's notices (the bell): list, unread count, mark read. A notice is also
pushed live on ``/ws/agent`` as ``{"type": "notification", "id", "kind", "title", "body",
"link"}`` (see ``accounts.notifications``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kefu.accounts import notifications as notes
from kefu.accounts.actor import Actor
from kefu.accounts.models import Notification
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}


class MarkRead(BaseModel):
    """``{"ids": [...]}`` marks those notices read; ``{"all": true}`` every unread one."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = Field(default=None, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> MarkRead:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all=true")
        return self


def notice_read(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "link": n.link,
            "created_at": n.created_at, "read_at": n.read_at}


@router.get("")
def get_notifications(request: Request, actor: Actor = Depends(current_actor),
                      unread: bool = False,
                      limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    """My notices, newest first."""
    with services(request).uows(readonly=True) as uow:
        items = notes.list_notifications(uow, actor, unread_only=unread, limit=limit)
        return {"items": [notice_read(n) for n in items],
                "unread": notes.unread_count(uow, actor)}


@router.get("/unread-count")
def get_unread_count(request: Request,
                     actor: Actor = Depends(current_actor)) -> dict[str, int]:
    with services(request).uows(readonly=True) as uow:
        return {"unread": notes.unread_count(uow, actor)}


@router.post("/read")
def post_read(data: MarkRead, request: Request,
              actor: Actor = Depends(current_actor)) -> dict[str, int]:
    with services(request).uows() as uow:
        marked = notes.do_mark_read(uow, actor, None if data.all else list(data.ids or []))
        return {"marked": marked, "unread": notes.unread_count(uow, actor)}
