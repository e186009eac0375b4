"""Who gets a ticket inside a team (expert group).

A team's mode is stored in ``TicketTeamSettings.assignment`` (no row: ``manual``):

- ``manual``: nobody; a person dispatches it.
- ``round_robin``: the next active member after ``last_assigned_id`` in a stable order
  (member user ids, ascending); the pointer moves in the same transaction.
- ``least_loaded``: the active member with the fewest tickets in new / open / pending; ties
  go by the round-robin order (starting after the pointer), and the pointer moves too.

On PostgreSQL the settings row is locked (``FOR UPDATE``) while choosing, so two concurrent
creations in one team take turns instead of both picking the same person. SQLite has one
writer at a time anyway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from kefu.accounts.models import Team, TeamMember, User
from kefu.core import audit
from kefu.core.errors import Invalid, NotFound
from kefu.tickets.models import ASSIGNMENT_MODES, Ticket, TicketTeamSettings

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.core.uow import UnitOfWork

#: statuses that count as a member's load
LOAD_STATUSES = ("new", "open", "pending")


def team_members(uow: UnitOfWork, team_id: str) -> list[str]:
    """Active members of a team in the stable rotation order (user id ascending)."""
    return list(uow.session.scalars(
        select(TeamMember.user_id).join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id, User.is_active.is_(True))
        .order_by(TeamMember.user_id)).all())


def is_member(uow: UnitOfWork, team_id: str, user_id: str) -> bool:
    return uow.session.scalar(select(TeamMember.user_id).where(
        TeamMember.team_id == team_id, TeamMember.user_id == user_id)) is not None


def team_settings(uow: UnitOfWork, team_id: str, *,
                  for_update: bool = False) -> TicketTeamSettings | None:
    stmt = select(TicketTeamSettings).where(TicketTeamSettings.team_id == team_id)
    if for_update and uow.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return uow.session.scalar(stmt)


def _rotation(members: list[str], last: str | None) -> list[str]:
    """Members in turn order, starting with the one after ``last``."""
    if not members:
        return []
    if last is None:
        return members
    start = next((i for i, m in enumerate(members) if m > last), 0)
    return members[start:] + members[:start]


def pick_assignee(uow: UnitOfWork, team_id: str) -> str | None:
    """Choose the assignee for a new (or re-teamed) ticket of ``team_id``; None: nobody
    (manual mode, or no active member). Moves the round-robin pointer."""
    settings = team_settings(uow, team_id, for_update=True)
    if settings is None or settings.assignment == "manual":
        return None
    order = _rotation(team_members(uow, team_id), settings.last_assigned_id)
    if not order:
        return None
    chosen = order[0]
    if settings.assignment == "least_loaded":
        loads = dict(uow.session.execute(
            select(Ticket.assignee_id, func.count())
            .where(Ticket.workspace_id == settings.workspace_id,
                   Ticket.assignee_id.in_(order), Ticket.status.in_(LOAD_STATUSES))
            .group_by(Ticket.assignee_id)).all())
        rank = {m: i for i, m in enumerate(order)}
        chosen = min(order, key=lambda m: (loads.get(m, 0), rank[m]))
    settings.last_assigned_id = chosen
    return chosen


def do_set_team_assignment(uow: UnitOfWork, actor: Actor, team_id: str, *, mode: str,
                           lead_id: str | None = None) -> TicketTeamSettings:
    """Set a team's assignment mode and lead (``ticket.manage``; audited)."""
    actor.require("ticket.manage")
    team = uow.session.get(Team, team_id)
    if team is None or team.workspace_id != actor.workspace_id:
        raise NotFound("团队不存在 / No such team", code="team_not_found", id=team_id)
    if mode not in ASSIGNMENT_MODES:
        raise Invalid("分配方式无效 / Unknown assignment mode", code="invalid_assignment_mode",
                      field="mode", allowed=list(ASSIGNMENT_MODES))
    if lead_id is not None:
        lead = uow.session.get(User, lead_id)
        if lead is None or lead.workspace_id != actor.workspace_id or not lead.is_active:
            raise Invalid("组长不存在 / No such user", code="user_not_found", field="lead_id")
    settings = team_settings(uow, team_id, for_update=True)
    before: dict[str, str | None] | None = None
    if settings is None:
        settings = TicketTeamSettings(team_id=team_id, workspace_id=actor.workspace_id,
                                      assignment=mode, lead_id=lead_id)
        uow.session.add(settings)
    else:
        before = {"assignment": settings.assignment, "lead_id": settings.lead_id}
    settings.assignment = mode
    settings.lead_id = lead_id
    uow.session.flush()
    audit.record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
                 action="ticket_team.assignment", object_type="team", object_id=team_id,
                 data={"before": before, "after": {"assignment": mode, "lead_id": lead_id}})
    return settings
