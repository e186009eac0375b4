"""Ticket automation triggers API (``ticket.manage``): list, create, read, change, delete and
a dry run ("which open tickets match now"). A bad spec is refused with 422
``invalid_trigger`` and ``details.errors = {path: message}`` (e.g.
``conditions[2].value``). See ``kefu.tickets.automation``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.actor import Actor
from kefu.tickets import automation as auto
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["tickets"])
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str = Field(max_length=32)
    conditions: list[Any] = Field(default_factory=list)
    #: accepted (and ignored) so the editor can send the whole trigger
    actions: list[Any] | None = None
    name: str | None = Field(default=None, max_length=1000)
    is_active: bool | None = None
    position: int | None = None


def catalogue() -> dict[str, Any]:
    """What the editor offers: fields (kind, operators, enum values), actions, recipients."""
    fields = []
    for name, kind in auto.FIELD_KINDS.items():
        fields.append({"field": name, "kind": kind, "ops": sorted(auto.OPS_BY_KIND[kind]),
                       "values": list(auto.ENUMS.get(name, ())),
                       "time_only": kind == "time"})
    fields.append({"field": "fields.<key>", "kind": "custom",
                   "ops": sorted(auto.OPS_BY_KIND["custom"]), "values": [],
                   "time_only": False})
    return {"events": list(auto.EVENTS), "ops": list(auto.OPS), "fields": fields,
            "actions": list(auto.ACTION_TYPES), "recipients": list(auto.RECIPIENTS),
            "placeholders": [f"{{{p}}}" for p in auto.PLACEHOLDERS],
            "update_only_ops": ["changed", "changed_to"]}


@router.get("/ticket-triggers")
def get_triggers(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """The workspace's triggers in the order they run (``position``)."""
    with services(request).uows(readonly=True) as uow:
        return {"items": [auto.trigger_dict(t) for t in auto.list_triggers(uow.session, actor)]}


@router.get("/ticket-triggers/spec")
def get_spec(actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """The fields, operators and actions a trigger may use."""
    actor.require("ticket.manage")
    return catalogue()


@router.post("/ticket-triggers", status_code=201)
def post_trigger(body: auto.TriggerIn, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        return auto.trigger_dict(auto.do_create_trigger(uow, actor, body))


@router.post("/ticket-triggers/preview")
def post_preview(body: PreviewIn, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Dry run of an (unsaved) trigger's conditions over the open tickets; changes nothing.
    ``changed`` conditions cannot be known without an event and count as met
    (``ignored_conditions``)."""
    with services(request).uows(readonly=True) as uow:
        return auto.preview(uow.session, actor, event=body.event, conditions=body.conditions,
                            now=uow.clock.now()).as_dict()


@router.get("/ticket-triggers/{trigger_id}")
def get_trigger(trigger_id: str, request: Request,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return auto.trigger_dict(auto.access_trigger(uow.session, actor, trigger_id))


@router.get("/ticket-triggers/{trigger_id}/preview")
def get_trigger_preview(trigger_id: str, request: Request,
                        actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Dry run of a saved trigger."""
    with services(request).uows(readonly=True) as uow:
        t = auto.access_trigger(uow.session, actor, trigger_id)
        return auto.preview(uow.session, actor, event=t.event, conditions=t.conditions,
                            now=uow.clock.now()).as_dict()


@router.patch("/ticket-triggers/{trigger_id}")
def patch_trigger(trigger_id: str, body: auto.TriggerPatch, request: Request,
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Change what was sent (``is_active`` to enable / disable); the whole resulting spec is
    checked again."""
    with services(request).uows() as uow:
        return auto.trigger_dict(auto.do_update_trigger(uow, actor, trigger_id, body))


@router.delete("/ticket-triggers/{trigger_id}", status_code=204)
def delete_trigger(trigger_id: str, request: Request,
                   actor: Actor = Depends(current_actor)) -> Response:
    with services(request).uows() as uow:
        auto.do_delete_trigger(uow, actor, trigger_id)
    return Response(status_code=204)
