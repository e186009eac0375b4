"""Reminders and escalation: dispatch, daily to-do digest, 75 % warning, breach, escalation;
the periodic tick. Owned by the SLA work.

Every reminder is *sent exactly once*: it first inserts a :class:`TicketReminder` row with a
unique ``key`` (``INSERT … ON CONFLICT DO NOTHING``); only when that insert happened does it,
in the same transaction, notify (``accounts.notifications.do_notify``: stored notice, live
push, an idempotent ``send_email`` job keyed by the reminder) and write a ``reminder_sent``
line on the ticket's timeline. A second worker running the same tick inserts nothing and so
sends nothing; a run that dies half-way rolls back its reminders together with their notices
and e-mail jobs, and the next tick sends them.

Keys (``<clock>`` = ``<ticket id>:<metric>:<cycle start iso>``):

- ``dispatch:<ticket id>:<nonce>`` — the ticket was assigned to someone (派单提醒), at once,
  through the ``ticket_dispatch`` job enqueued with ``ticket.created`` / ``ticket.changed``;
- ``warning:<clock>`` — a running clock used 75 % of its target (到期预警): the assignee, or the
  team lead (组长) when nobody is assigned;
- ``breach:<clock>`` — the clock passed its due time (超期提醒): assignee + watchers + team lead;
  the clock's ``breached_at`` is set, ``sla_status`` becomes ``breached`` and the timeline
  gets ``sla_breached``;
- ``escalation:<clock>`` — still not met ``escalate_after_minutes`` after the breach (policy
  setting): the workspace's supervisors;
- ``digest:<local date>:<user id>`` — the daily to-do digest (待办提醒) at the workspace's
  ``digest_hour`` (its time zone): each user's open tickets by due time.

The tick (``tickets_tick``, every 60 s, one job per minute however many workers run) also
closes tickets resolved more than ``autoclose_days`` ago, through ``do_update_ticket`` as
``By("system", label="autoclose")``. Candidates are found per workspace through the
``(workspace_id, sla_check_at)`` index: ``sla_check_at`` is the next moment a reminder may
fall due for the ticket (75 % mark, due time, escalation; ``clocks.reminder_times``), set to
"now" whenever its clocks change and moved on by each look. On PostgreSQL each ticket
is locked ``FOR UPDATE SKIP LOCKED`` while it is looked at, so two ticks never work on the
same ticket at once."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from kefu.accounts.models import User, Workspace
from kefu.accounts.notifications import do_notify
from kefu.core.errors import DomainError
from kefu.core.events import Event
from kefu.core.ids import new_id
from kefu.tickets import clocks, policies, timeline
from kefu.tickets.events import TicketChanged, TicketCreated
from kefu.tickets.models import Ticket, TicketReminder, TicketTeamSettings, TicketWatcher
from kefu.tickets.sla import WARN_RATIO

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.events import EventBus
    from kefu.core.jobs import JobQueue
    from kefu.core.uow import UnitOfWork

log = logging.getLogger(__name__)

TICK = "tickets_tick"
DISPATCH = "ticket_dispatch"
TICK_SECONDS = 60
#: tickets looked at per workspace and tick (the rest wait for the next tick)
BATCH = 500
OPEN = ("new", "open", "pending")
REMINDER_BY = timeline.By("system", label="reminder")
AUTOCLOSE_BY = timeline.By("system", label="autoclose")
METRIC_NAMES = {"first_response": ("首次响应", "first response"),
                "next_response": ("下次响应", "next response"),
                "resolution": ("解决", "resolution")}


def link(ticket: Ticket) -> str:
    return f"/app/tickets/{ticket.id}"


# -- sending once ---------------------------------------------------------------------------

def claim(uow: UnitOfWork, *, workspace_id: str, ticket_id: str | None, kind: str, key: str,
          recipients: list[str], data: dict[str, Any] | None = None) -> bool:
    """Insert the reminder row; True if this call inserted it (so it must send it)."""
    values = {"id": new_id(), "workspace_id": workspace_id, "ticket_id": ticket_id,
              "kind": kind, "key": key[:200], "recipients": recipients, "data": data or {},
              "created_at": uow.clock.now()}
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(TicketReminder).values(**values).on_conflict_do_nothing(
            index_elements=["key"])
    else:
        stmt = sqlite.insert(TicketReminder).values(**values).on_conflict_do_nothing(
            index_elements=["key"])
    # RETURNING says whether this statement inserted (rowcount is not reliable everywhere)
    return uow.session.execute(stmt.returning(TicketReminder.id)).first() is not None


def send(uow: UnitOfWork, *, workspace_id: str, ticket: Ticket | None, kind: str, key: str,
         recipients: Iterable[str | None], title: str, body: str = "",
         data: dict[str, Any] | None = None) -> bool:
    """Send one reminder exactly once (see the module docstring). Returns whether it was sent
    by this call."""
    people = list(dict.fromkeys(r for r in recipients if r))
    if not claim(uow, workspace_id=workspace_id, ticket_id=ticket.id if ticket else None,
                 kind=kind, key=key, recipients=people, data=data):
        return False
    do_notify(uow, workspace_id=workspace_id, user_ids=people, kind=f"ticket_{kind}",
              title=title, body=body, link=link(ticket) if ticket else "/app/tickets",
              data={"reminder": kind, "key": key, **(data or {})}, email=True, key=key)
    if ticket is not None:
        timeline.record(uow, ticket, "reminder_sent", REMINDER_BY,
                        data={"kind": kind, "recipients": people, "key": key, **(data or {})})
    return True


def _existing(uow: UnitOfWork, keys: Iterable[str]) -> set[str]:
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found.update(uow.session.scalars(select(TicketReminder.key).where(
            TicketReminder.key.in_(wanted[i:i + 500]))))
    return found


# -- who is told ----------------------------------------------------------------------------

def team_lead(uow: UnitOfWork, ticket: Ticket) -> str | None:
    if not ticket.team_id:
        return None
    row = uow.session.get(TicketTeamSettings, ticket.team_id)
    return row.lead_id if row is not None else None


def watchers(uow: UnitOfWork, ticket: Ticket) -> list[str]:
    return list(uow.session.scalars(select(TicketWatcher.user_id).where(
        TicketWatcher.ticket_id == ticket.id).order_by(TicketWatcher.user_id)))


def supervisors(uow: UnitOfWork, workspace_id: str) -> list[str]:
    return list(uow.session.scalars(select(User.id).where(
        User.workspace_id == workspace_id, User.role == "supervisor",
        User.is_active.is_(True)).order_by(User.id)))


# -- the dispatch reminder ------------------------------------------------------------------

def select_dispatch(event: Event) -> tuple[str, dict[str, Any], str | None] | None:
    """A ticket was assigned to someone (created with, or changed to, an assignee)."""
    assignee: Any = None
    if isinstance(event, TicketCreated):
        assignee = event.assignee_id
    elif isinstance(event, TicketChanged) and "assignee_id" in event.changes:
        assignee = event.changes["assignee_id"][1]
    else:
        return None
    if not assignee or (event.actor_type == "user" and event.actor_id == assignee):
        return None  # nobody, or someone taking the ticket themselves
    nonce = new_id()
    return DISPATCH, {"ticket_id": event.ticket_id, "assignee_id": str(assignee),
                      "nonce": nonce}, f"{DISPATCH}:{nonce}"


def run_dispatch(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    ticket = uow.session.get(Ticket, str(payload["ticket_id"]))
    if ticket is None or ticket.assignee_id != payload["assignee_id"]:
        return  # gone, or assigned to someone else meanwhile (they get their own)
    send(uow, workspace_id=ticket.workspace_id, ticket=ticket, kind="dispatch",
         key=f"dispatch:{ticket.id}:{payload['nonce']}", recipients=[ticket.assignee_id],
         title=f"派单提醒：工单 #{ticket.number} 已分配给你 / Ticket #{ticket.number} was "
               "assigned to you",
         body=f"#{ticket.number} {ticket.subject} ({ticket.priority})")


# -- the tick -------------------------------------------------------------------------------

def _fmt(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at is not None else "—"


def _candidates(uow: UnitOfWork, workspace_id: str, now: datetime) -> list[str]:
    """Tickets whose next reminder moment (``sla_check_at``) has come, oldest first. Each
    ticket looked at moves its ``sla_check_at`` on to its next moment (or None), so a batch
    never holds the same tickets twice and nothing waits behind old breaches."""
    due = select(Ticket.id).where(
        Ticket.workspace_id == workspace_id, Ticket.sla_check_at.is_not(None),
        Ticket.sla_check_at <= now).order_by(Ticket.sla_check_at, Ticket.id).limit(BATCH)
    return list(uow.session.scalars(due))


def _lock(uow: UnitOfWork, ticket_id: str) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.id == ticket_id).execution_options(
        populate_existing=True)
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return uow.session.scalars(stmt).first()


def check_ticket(uow: UnitOfWork, ticket: Ticket, now: datetime, tz: ZoneInfo,
                 counts: dict[str, int]) -> None:
    """Warnings, breaches and escalations due on one ticket."""
    cs = clocks.load_clocks(ticket)
    if not cs:
        return
    cal, cal_name, policy = clocks.ticket_calendar(uow, ticket)
    escalate_after = timedelta(minutes=policy.escalate_after_minutes if policy else 60)
    plans: list[tuple[str, str, str]] = []  # (kind, metric, key)
    for metric, c in cs.items():
        if c.stopped:
            continue
        base = f"{ticket.id}:{metric}:{(c.started_at or ticket.created_at).isoformat()}"
        if c.breached(now):
            plans.append(("breach", metric, f"breach:{base}"))
            breached_at = c.breached_at or c.due_at or now
            if ticket.status in OPEN and now >= breached_at + escalate_after:
                plans.append(("escalation", metric, f"escalation:{base}"))
        elif c.running and c.ratio(cal, now) >= WARN_RATIO:
            plans.append(("warning", metric, f"warning:{base}"))
    done = _existing(uow, [p[2] for p in plans])
    changed = False
    for metric, c in list(cs.items()):
        if not c.stopped and c.breached_at is None and c.breached(now):
            cs[metric] = c.mark_breached(c.due_at or now)
            timeline.record(uow, ticket, "sla_breached", clocks.SLA_BY,
                            data={"metric": metric, "due_at": c.due_at,
                                  "target_s": c.target_s})
            changed = True
    for kind, metric, key in plans:
        if key in done:
            continue
        c = cs[metric]
        zh, en = METRIC_NAMES.get(metric, (metric, metric))
        head = f"#{ticket.number} {ticket.subject}"
        due = _fmt(c.due_at or c.breached_at, tz)
        if kind == "warning":
            who: list[str | None] = [ticket.assignee_id or team_lead(uow, ticket)]
            title = (f"到期预警：工单 #{ticket.number} {zh}即将超时 / Ticket #{ticket.number}: "
                     f"{en} due soon")
        elif kind == "breach":
            who = [ticket.assignee_id, *watchers(uow, ticket), team_lead(uow, ticket)]
            title = (f"超期提醒：工单 #{ticket.number} {zh}已超时 / Ticket #{ticket.number}: "
                     f"{en} overdue")
        else:
            who = list(supervisors(uow, ticket.workspace_id))
            title = (f"升级：工单 #{ticket.number} {zh}超时未处理 / Escalated: ticket "
                     f"#{ticket.number} {en} still overdue")
        body = f"{head}\n{zh} / {en}: {due} ({ticket.priority})"
        if send(uow, workspace_id=ticket.workspace_id, ticket=ticket, kind=kind, key=key,
                recipients=who, title=title, body=body,
                data={"metric": metric,
                      "due_at": (c.due_at or c.breached_at or now).isoformat()}):
            counts[kind] = counts.get(kind, 0) + 1
    old_status = ticket.sla_status
    if changed or clocks.status_of(ticket, cs, cal, now) != old_status:
        clocks.store(ticket, cs, cal, now, policy=policy, calendar_name=cal_name)
    # when to look again: the next warning / due / escalation moment (a moment equal to now
    # that did not fire yet, e.g. a due time reached this very second, is looked at again)
    later = [t for t in clocks.reminder_times(cs, cal, open_=ticket.status in OPEN,
                                              escalate_after=escalate_after) if t >= now]
    ticket.sla_check_at = min(later) if later else None


def send_digests(uow: UnitOfWork, ws: Workspace, now: datetime, hour: int,
                 counts: dict[str, int]) -> None:
    """The to-do digest of each user with open tickets, once a local day after ``hour``."""
    tz = _zone(ws.timezone)
    local = now.astimezone(tz)
    if local.hour < hour:
        return
    day = local.date().isoformat()
    rows = uow.session.execute(select(
        Ticket.assignee_id, Ticket.number, Ticket.subject, Ticket.priority,
        Ticket.next_breach_at).where(
        Ticket.workspace_id == ws.id, Ticket.status.in_(OPEN),
        Ticket.assignee_id.is_not(None))).all()
    per_user: dict[str, list[Any]] = {}
    for row in rows:
        per_user.setdefault(str(row[0]), []).append(row)
    keys = {uid: f"digest:{day}:{uid}" for uid in per_user}
    done = _existing(uow, keys.values())
    far = datetime.max.replace(tzinfo=UTC)
    for uid, items in sorted(per_user.items()):
        if keys[uid] in done:
            continue
        items.sort(key=lambda r: (r[4] or far, r[1]))
        lines = [f"#{r[1]} {r[2]} ({r[3]}) — {_fmt(r[4], tz)}" for r in items[:30]]
        if len(items) > 30:
            lines.append(f"… +{len(items) - 30}")
        if send(uow, workspace_id=ws.id, ticket=None, kind="todo_digest", key=keys[uid],
                recipients=[uid],
                title=f"待办提醒：你有 {len(items)} 个未完成工单 / To-do: you have "
                      f"{len(items)} open tickets",
                body="\n".join(lines), data={"count": len(items), "date": day}):
            counts["todo_digest"] = counts.get("todo_digest", 0) + 1


def autoclose(uow: UnitOfWork, ws: Workspace, now: datetime, days: int,
              counts: dict[str, int]) -> None:
    if days <= 0:
        return
    from kefu.tickets.actions import do_update_ticket
    from kefu.tickets.schemas import TicketUpdate

    ids = list(uow.session.scalars(select(Ticket.id).where(
        Ticket.workspace_id == ws.id, Ticket.status == "resolved",
        Ticket.resolved_at <= now - timedelta(days=days)).order_by(Ticket.resolved_at)
        .limit(BATCH)))
    for tid in ids:
        try:
            with uow.session.begin_nested():
                do_update_ticket(uow, None, tid, TicketUpdate(status="closed"),
                                 by=AUTOCLOSE_BY)
        except DomainError as exc:  # e.g. a parent with open children: leave it
            log.info("autoclose skipped ticket %s: %s", tid, exc)
            continue
        counts["autoclosed"] = counts.get("autoclosed", 0) + 1


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo("Asia/Shanghai")


def run_tick(uow: UnitOfWork, payload: dict[str, Any] | None = None) -> dict[str, int]:
    """One tick over every workspace. Returns how many of each reminder it sent."""
    now = uow.clock.now()
    counts: dict[str, int] = {}
    for ws in uow.session.scalars(select(Workspace).order_by(Workspace.id)).all():
        tz = _zone(ws.timezone)
        for tid in _candidates(uow, ws.id, now):
            ticket = _lock(uow, tid)
            if ticket is None or ticket.workspace_id != ws.id:
                continue  # another worker has it now
            check_ticket(uow, ticket, now, tz, counts)
        settings = policies.ticket_settings(uow.session, ws.id)
        send_digests(uow, ws, now, settings["digest_hour"], counts)
        autoclose(uow, ws, now, settings["autoclose_days"], counts)
    return counts


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""

    def tick(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        run_tick(uow, payload)

    jobs.register(TICK, tick, lease=timedelta(minutes=2))
    jobs.every(TICK, TICK_SECONDS)
    jobs.register(DISPATCH, run_dispatch)
    bus.subscribe_job("ticket.created", select_dispatch)
    bus.subscribe_job("ticket.changed", select_dispatch)
