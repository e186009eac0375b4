"""Ticket templates (工单模板): custom fields plus defaults (team, priority), and whether the
customer self-service form offers them (``public``).

Writes need ``ticket.manage`` and are audited; reading one template needs ``ticket.read`` (the
new-ticket form loads it). A field removed from a template is simply gone from the spec: old
tickets keep its value in ``Ticket.fields`` (shown with the key as label, see
``fields.spec_for_display``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select

from kefu.accounts.models import Team
from kefu.core import audit
from kefu.core.errors import Conflict, Invalid, NotFound
from kefu.core.ids import new_id
from kefu.tickets.fields import validate_spec
from kefu.tickets.models import PRIORITIES, Ticket, TicketTemplate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork

def _strip(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    fields: list[dict[str, Any]] = Field(default_factory=list)
    default_team_id: str | None = Field(default=None, max_length=24)
    default_priority: str = "P3"
    public: bool = False
    is_active: bool = True
    position: int = Field(default=0, ge=0, le=100_000)

    _s = field_validator("name", "description", mode="before")(_strip)


class TemplateUpdate(BaseModel):
    """Partial: only the fields sent change (``model_fields_set``)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=500)
    fields: list[dict[str, Any]] | None = None
    default_team_id: str | None = Field(default=None, max_length=24)
    default_priority: str | None = None
    public: bool | None = None
    is_active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=100_000)

    _s = field_validator("name", "description", mode="before")(_strip)


def template_read(t: TicketTemplate) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "description": t.description, "fields": t.fields,
            "default_team_id": t.default_team_id, "default_priority": t.default_priority,
            "public": t.public, "is_active": t.is_active, "position": t.position,
            "created_at": t.created_at, "updated_at": t.updated_at}


# -- reads ------------------------------------------------------------------------------------

def access_template(actor: Actor, template_id: str, *, session: Session,
                    permission: str = "ticket.read") -> TicketTemplate:
    """One template of the actor's workspace (another workspace's is NotFound)."""
    actor.require(permission)
    t = session.get(TicketTemplate, template_id)
    if t is None or t.workspace_id != actor.workspace_id:
        raise NotFound("工单模板不存在 / Ticket template not found", code="template_not_found",
                       template_id=template_id)
    return t


def list_templates(session: Session, actor: Actor, *,
                   active_only: bool = False) -> list[TicketTemplate]:
    actor.require("ticket.read")
    stmt = select(TicketTemplate).where(TicketTemplate.workspace_id == actor.workspace_id)
    if active_only:
        stmt = stmt.where(TicketTemplate.is_active.is_(True))
    return list(session.scalars(stmt.order_by(TicketTemplate.position, TicketTemplate.name)))


def public_templates(session: Session, workspace_id: str) -> list[TicketTemplate]:
    """The templates the self-service form offers (public and active)."""
    return list(session.scalars(
        select(TicketTemplate)
        .where(TicketTemplate.workspace_id == workspace_id, TicketTemplate.public.is_(True),
               TicketTemplate.is_active.is_(True))
        .order_by(TicketTemplate.position, TicketTemplate.name)))


def usage_counts(session: Session, workspace_id: str) -> dict[str, int]:
    """Tickets per template (for the list page)."""
    rows = session.execute(
        select(Ticket.template_id, func.count())
        .where(Ticket.workspace_id == workspace_id, Ticket.template_id.is_not(None))
        .group_by(Ticket.template_id)).all()
    return {str(r[0]): int(r[1]) for r in rows}


# -- writes -----------------------------------------------------------------------------------

def _check_priority(value: str) -> str:
    if value not in PRIORITIES:
        raise Invalid("优先级应为 P1–P4 / Priority must be P1–P4", code="invalid_priority",
                      field="default_priority")
    return value


def _check_team(session: Session, workspace_id: str, team_id: str | None) -> str | None:
    if not team_id:
        return None
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != workspace_id:
        raise Invalid("团队不存在 / No such team", code="invalid_team", field="default_team_id")
    return team_id


def _check_name(session: Session, workspace_id: str, name: str,
                exclude_id: str | None = None) -> str:
    name = name.strip()
    if not name:
        raise Invalid("请填写模板名称 / A name is required", code="invalid", field="name")
    stmt = select(TicketTemplate.id).where(TicketTemplate.workspace_id == workspace_id,
                                           TicketTemplate.name == name)
    if exclude_id:
        stmt = stmt.where(TicketTemplate.id != exclude_id)
    if session.scalar(stmt) is not None:
        raise Conflict("已有同名模板 / A template with this name exists",
                       code="template_name_taken", field="name")
    return name


def _snapshot(t: TicketTemplate) -> dict[str, Any]:
    return {"name": t.name, "description": t.description, "fields": t.fields,
            "default_team_id": t.default_team_id, "default_priority": t.default_priority,
            "public": t.public, "is_active": t.is_active, "position": t.position}


def do_create_template(uow: UnitOfWork, actor: Actor, data: TemplateCreate) -> TicketTemplate:
    actor.require("ticket.manage")
    ws = actor.workspace_id
    name = _check_name(uow.session, ws, data.name)
    spec = validate_spec(data.fields)
    team_id = _check_team(uow.session, ws, data.default_team_id)
    priority = _check_priority(data.default_priority)
    now: datetime = uow.clock.now()
    t = TicketTemplate(id=new_id(), workspace_id=ws, name=name, description=data.description,
                       fields=spec, default_team_id=team_id, default_priority=priority,
                       public=data.public, is_active=data.is_active, position=data.position,
                       created_at=now, updated_at=now)
    uow.session.add(t)
    uow.session.flush()
    audit.record(uow, workspace_id=ws, actor_id=actor.user_id or None,
                 action="ticket_template.created", object_type="ticket_template",
                 object_id=t.id, data=_snapshot(t))
    return t


def do_update_template(uow: UnitOfWork, actor: Actor, template_id: str,
                       data: TemplateUpdate) -> TicketTemplate:
    actor.require("ticket.manage")
    t = access_template(actor, template_id, session=uow.session, permission="ticket.manage")
    sent = data.model_fields_set
    before = _snapshot(t)
    values: dict[str, Any] = {}
    if "name" in sent:
        if data.name is None:
            raise Invalid("请填写模板名称 / A name is required", code="invalid", field="name")
        values["name"] = _check_name(uow.session, t.workspace_id, data.name, exclude_id=t.id)
    if "description" in sent:
        values["description"] = data.description or ""
    if "fields" in sent:
        values["fields"] = validate_spec(data.fields if data.fields is not None else [])
    if "default_team_id" in sent:
        values["default_team_id"] = _check_team(uow.session, t.workspace_id,
                                                data.default_team_id)
    if "default_priority" in sent:
        values["default_priority"] = _check_priority(data.default_priority or "")
    for flag in ("public", "is_active", "position"):
        if flag in sent:
            v = getattr(data, flag)
            if v is None:
                raise Invalid("不能为空 / Must not be null", code="invalid", field=flag)
            values[flag] = v
    for k, v in values.items():
        setattr(t, k, v)
    after = _snapshot(t)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changed:
        t.updated_at = uow.clock.now()
        removed = [f["key"] for f in before["fields"]
                   if f.get("key") not in {g.get("key") for g in after["fields"]}]
        audit.record(uow, workspace_id=t.workspace_id, actor_id=actor.user_id or None,
                     action="ticket_template.updated", object_type="ticket_template",
                     object_id=t.id,
                     data={"changes": changed, **({"removed_fields": removed} if removed
                                                  else {})})
    return t


def do_delete_template(uow: UnitOfWork, actor: Actor, template_id: str) -> None:
    """Delete a template no ticket uses. A template in use cannot be deleted (its tickets'
    history names it): set ``is_active`` false to stop offering it
    (``Conflict(code="template_in_use")``)."""
    actor.require("ticket.manage")
    t = access_template(actor, template_id, session=uow.session, permission="ticket.manage")
    used = uow.session.scalar(select(func.count()).select_from(Ticket)
                              .where(Ticket.template_id == t.id)) or 0
    if used:
        raise Conflict(f"有 {used} 个工单使用此模板，请改为停用 / {used} tickets use this "
                       "template: deactivate it instead", code="template_in_use", tickets=used)
    snap = _snapshot(t)
    ws = t.workspace_id
    uow.session.delete(t)
    uow.session.flush()
    audit.record(uow, workspace_id=ws, actor_id=actor.user_id or None,
                 action="ticket_template.deleted", object_type="ticket_template",
                 object_id=template_id, data=snap)
