"""SLA settings API: business calendars, SLA policies (ordered), team assignment settings and
the workspace's ticket settings. Reads need ``ticket.read``; writes ``ticket.manage`` (and are
audited). Bad input is a 422 naming each field (``details.errors``: ``{"field", "reason"}``).

Routes with an id: ``/api/v1/sla/calendars/{calendar_id}``,
``/api/v1/sla/policies/{policy_id}``, ``/api/v1/sla/teams/{team_id}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.actor import Actor
from kefu.tickets import policies
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1/sla", tags=["sla"])
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}


class CalendarIn(BaseModel):
    """``weekly``: per weekday (mon…sun) ``"09:00-12:00, 13:30-18:00"`` or a list of spans;
    ``holidays`` / ``workdays`` (调休): dates one per line, or a list, ranges
    ``2026-10-01..2026-10-08`` allowed."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    weekly: dict[str, str | list[str]] = Field(default_factory=dict)
    holidays: str | list[str] = Field(default="", max_length=20_000)
    workdays: str | list[str] = Field(default="", max_length=20_000)


class PolicyIn(BaseModel):
    """``conditions``: ``{"priorities": [...], "tiers": [...], "template_ids": [...]}`` (empty:
    any); ``targets``: ``{"P1": {"first_response": 30, "next_response": 60,
    "resolution": 480}}`` in business minutes (a metric left out has no clock)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    conditions: dict[str, Any] = Field(default_factory=dict)
    targets: dict[str, Any] = Field(default_factory=dict)
    calendar_id: str | None = Field(default=None, max_length=24)
    escalate_after_minutes: Any = 60
    is_active: Any = True


class PolicyOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy_ids: list[str] = Field(max_length=500)


class TeamSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignment: str = Field(max_length=16)
    lead_id: str | None = Field(default=None, max_length=24)


class TicketSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reopen_days: Any = None
    autoclose_days: Any = None
    digest_hour: Any = None


# -- calendars ----------------------------------------------------------------------------

@router.get("/calendars")
def get_calendars(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return {"items": [policies.calendar_read(c)
                          for c in policies.list_calendars(uow.session, actor)]}


@router.post("/calendars", status_code=201)
def post_calendar(data: CalendarIn, request: Request,
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        row = policies.do_create_calendar(uow, actor, **data.model_dump())
        return policies.calendar_read(row)


@router.get("/calendars/{calendar_id}")
def get_calendar(calendar_id: str, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return policies.calendar_read(
            policies.access_calendar(actor, calendar_id, session=uow.session))


@router.put("/calendars/{calendar_id}")
def put_calendar(calendar_id: str, data: CalendarIn, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        row = policies.do_update_calendar(uow, actor, calendar_id, **data.model_dump())
        return policies.calendar_read(row)


@router.delete("/calendars/{calendar_id}", status_code=204)
def delete_calendar(calendar_id: str, request: Request,
                    actor: Actor = Depends(current_actor)) -> Response:
    with services(request).uows() as uow:
        policies.do_delete_calendar(uow, actor, calendar_id)
    return Response(status_code=204)


# -- policies -----------------------------------------------------------------------------

@router.get("/policies")
def get_policies(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Every policy in order of precedence (the first active match applies)."""
    with services(request).uows(readonly=True) as uow:
        return {"items": [policies.policy_read(p)
                          for p in policies.list_policies(uow.session, actor)]}


@router.post("/policies", status_code=201)
def post_policy(data: PolicyIn, request: Request,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        return policies.policy_read(policies.do_create_policy(uow, actor, data.model_dump()))


@router.put("/policies/order")
def put_policy_order(data: PolicyOrder, request: Request,
                     actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        policies.do_reorder_policies(uow, actor, data.policy_ids)
        return {"items": [policies.policy_read(p)
                          for p in policies.list_policies(uow.session, actor)]}


@router.get("/policies/{policy_id}")
def get_policy(policy_id: str, request: Request,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return policies.policy_read(policies.access_policy(actor, policy_id,
                                                           session=uow.session))


@router.put("/policies/{policy_id}")
def put_policy(policy_id: str, data: PolicyIn, request: Request,
               actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        return policies.policy_read(policies.do_update_policy(uow, actor, policy_id,
                                                              data.model_dump()))


@router.delete("/policies/{policy_id}", status_code=204)
def delete_policy(policy_id: str, request: Request,
                  actor: Actor = Depends(current_actor)) -> Response:
    with services(request).uows() as uow:
        policies.do_delete_policy(uow, actor, policy_id)
    return Response(status_code=204)


# -- teams and workspace settings ---------------------------------------------------------

@router.get("/teams")
def get_teams(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        return {"items": policies.list_team_settings(uow.session, actor)}


@router.put("/teams/{team_id}")
def put_team(team_id: str, data: TeamSettingsIn, request: Request,
             actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    with services(request).uows() as uow:
        row = policies.do_set_team_settings(uow, actor, team_id, assignment=data.assignment,
                                            lead_id=data.lead_id)
        return {"team_id": row.team_id, "assignment": row.assignment, "lead_id": row.lead_id}


@router.get("/settings")
def get_settings(request: Request, actor: Actor = Depends(current_actor)) -> dict[str, int]:
    actor.require("ticket.read")
    with services(request).uows(readonly=True) as uow:
        return policies.ticket_settings(uow.session, actor.workspace_id)


@router.put("/settings")
def put_settings(data: TicketSettingsIn, request: Request,
                 actor: Actor = Depends(current_actor)) -> dict[str, int]:
    """Change any of ``reopen_days``, ``autoclose_days`` (0: never), ``digest_hour`` (0–23,
    the workspace's time zone)."""
    with services(request).uows() as uow:
        return policies.do_set_ticket_settings(uow, actor, data.model_dump(exclude_unset=True))
