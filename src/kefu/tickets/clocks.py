"""Applying SLA policies to tickets: choose the policy, run the clocks of ``tickets.sla`` as
the ticket moves (pause while pending, next response after a customer reply, stop on
resolve), keep ``next_breach_at`` / ``sla_status`` up to date. Owned by the SLA work.

``Ticket.sla`` (JSON), read by the ticket pages and reports::

    {"policy_id": "…", "policy": "VIP 工单", "calendar": "工作日 9-18" | None,
     "clocks": {
        "first_response" | "next_response" | "resolution": {
            "target_s": 14400,            # business seconds allowed
            "elapsed_s": 3600,            # business seconds used before running_since
            "running_since": iso | None,  # running now (None: paused or stopped)
            "paused_at": iso | None,      # paused (ticket pending)
            "due_at": iso | None,         # when it breaches, if running
            "stopped_at": iso | None,     # met (first response sent, resolved)
            "breached_at": iso | None,    # when it breached (kept after stopping)
            "started_at": iso | None}}}   # when this cycle began (reminder keys use it)

``Ticket.next_breach_at`` = the earliest ``due_at`` of a running clock (None otherwise);
``Ticket.sla_status``: none | ok | warning (≥ 75 % used) | breached | paused.

These three columns are *derived* values: :func:`sync` recomputes them from the clocks and
writes them directly (they are not user changes, so no ``changed`` line); what happened to
the clocks is on the timeline instead: ``sla_paused`` / ``sla_resumed`` (data: metrics),
``sla_breached`` (data: metric, due_at) — all internal (not public).

The clocks follow the ticket's state (so :func:`sync` may be called any number of times):

- **first_response** runs from creation until ``first_response_at`` (the first public agent
  reply); a ticket resolved without one stops it.
- **resolution** runs from creation until resolved or closed; a reopen resumes it with the
  time used kept.
- **next_response** starts when the customer writes after an agent's public reply
  (``last_customer_reply_at > last_agent_reply_at``) and stops at the next public reply;
  each such cycle is a fresh clock.
- every clock pauses while the ticket is ``pending`` and resumes when it leaves it.
- the policy is chosen on ``created`` and re-chosen on ``reprioritized`` (priority, team or
  template changed): running clocks keep the time used and get the new target; a metric the
  new target lacks loses its clock; a metric it adds starts as if it had run since creation.
- a policy that was deleted leaves its tickets' clocks counting on a 24/7 calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kefu.contacts.models import Contact
from kefu.tickets import policies, timeline
from kefu.tickets.models import SLA_METRICS, SlaPolicy
from kefu.tickets.sla import Clock

if TYPE_CHECKING:
    from kefu.core.calendar import BusinessCalendar
    from kefu.core.uow import UnitOfWork
    from kefu.tickets.models import Ticket
    from kefu.tickets.timeline import By

#: what happened to the ticket, for :func:`sync`
REASONS = ("created", "status", "agent_reply", "customer_reply", "reprioritized", "merged")
DONE = ("resolved", "closed")
#: who the timeline names for clock lines
SLA_BY = timeline.By("system", label="sla")


def contact_tier(uow: UnitOfWork, ticket: Ticket) -> str | None:
    """The customer's tier: ``Contact.attributes["tier"]`` (e.g. "vip", "gold")."""
    if not ticket.contact_id:
        return None
    contact = uow.session.get(Contact, ticket.contact_id)
    tier = (contact.attributes or {}).get("tier") if contact is not None else None
    return str(tier).strip().lower() if tier else None


def load_clocks(ticket: Ticket) -> dict[str, Clock]:
    raw = (ticket.sla or {}).get("clocks") or {}
    return {m: Clock.from_dict(d) for m, d in raw.items() if m in SLA_METRICS}


def ticket_calendar(uow: UnitOfWork, ticket: Ticket) -> tuple[BusinessCalendar, str | None,
                                                               SlaPolicy | None]:
    policy = uow.session.get(SlaPolicy, ticket.sla_policy_id) if ticket.sla_policy_id else None
    cal, name = policies.policy_calendar(uow.session, policy)
    return cal, name, policy


def status_of(ticket: Ticket, clocks: dict[str, Clock], cal: BusinessCalendar,
              now: datetime) -> str:
    """none | ok | warning | breached | paused (see the module docstring)."""
    if not clocks:
        return "none"
    if any(c.breached(now) for c in clocks.values()):
        return "breached"
    live = [c for c in clocks.values() if not c.stopped]
    if live and all(c.paused for c in live):
        return "paused"
    if any(c.running and c.ratio(cal, now) >= 0.75 for c in live):
        return "warning"
    return "ok"


def outcome(clock: dict[str, Any] | None) -> str | None:
    """A clock's outcome so far (the ``sla_<metric>`` report columns): None (no clock),
    ``breached`` (it ran out, even if it stopped later), ``met`` (stopped in time) or
    ``running`` (running or paused)."""
    if not clock:
        return None
    if clock.get("breached_at"):
        return "breached"
    return "met" if clock.get("stopped_at") else "running"


def outcomes(sla: dict[str, Any] | None) -> dict[str, str | None]:
    """``{"sla_first_response": …, "sla_next_response": …, "sla_resolution": …}``."""
    raw = (sla or {}).get("clocks") or {}
    return {f"sla_{m}": outcome(raw.get(m)) for m in SLA_METRICS}


def store(ticket: Ticket, clocks: dict[str, Clock], cal: BusinessCalendar, now: datetime, *,
          policy: SlaPolicy | None, calendar_name: str | None) -> None:
    """Write ``sla``, ``next_breach_at`` and ``sla_status`` from the clocks."""
    old = ticket.sla or {}
    ticket.sla = {"policy_id": policy.id if policy is not None else old.get("policy_id"),
                  "policy": policy.name if policy is not None else old.get("policy"),
                  "calendar": calendar_name if policy is not None else old.get("calendar"),
                  "clocks": {m: clocks[m].to_dict() for m in SLA_METRICS if m in clocks}}
    dues = [d for c in clocks.values() if (d := c.due()) is not None]
    ticket.next_breach_at = min(dues) if dues else None
    ticket.sla_status = status_of(ticket, clocks, cal, now)
    # the reminder tick looks at it next time round and works out when after that
    ticket.sla_check_at = now if any(not c.stopped for c in clocks.values()) else None
    _set_outcomes(ticket)


def reminder_times(clocks: dict[str, Clock], cal: BusinessCalendar, *, open_: bool,
                   escalate_after: timedelta) -> list[datetime]:
    """The moments a reminder may fall due: each running clock's 75 % mark and due time,
    and for a breached clock of an open ticket the escalation time."""
    out: list[datetime] = []
    for c in clocks.values():
        if c.stopped:
            continue
        if c.breached_at is not None:
            if open_:
                out.append(c.breached_at + escalate_after)
            continue
        if c.running:
            if (warn := c.warn_at(cal)) is not None:
                out.append(warn)
            if c.due_at is not None:
                out.append(c.due_at)
                if open_:
                    out.append(c.due_at + escalate_after)
    return out


def _set_outcomes(ticket: Ticket) -> None:
    for name, value in outcomes(ticket.sla).items():
        setattr(ticket, name, value)


def sync(uow: UnitOfWork, ticket: Ticket, *, reason: str, by: By) -> None:
    """Bring the ticket's SLA clocks up to date after ``reason`` (see REASONS). Called by
    ``tickets.actions`` after each change (the ticket's new state is already set)."""
    now = uow.clock.now()
    clocks = load_clocks(ticket)
    if reason in ("created", "reprioritized") or (ticket.sla_policy_id is None and not clocks
                                                  and not ticket.sla):
        policy = policies.choose_policy(uow.session, ticket.workspace_id,
                                        priority=ticket.priority,
                                        tier=contact_tier(uow, ticket),
                                        template_id=ticket.template_id)
        ticket.sla_policy_id = policy.id if policy is not None else None
        cal, cal_name = policies.policy_calendar(uow.session, policy)
        targets = (policy.targets or {}).get(ticket.priority, {}) if policy is not None else {}
        clocks = _retarget(clocks, targets, cal, ticket, now)
        if policy is None and not clocks:
            ticket.sla = {}
            ticket.next_breach_at = None
            ticket.sla_status = "none"
            ticket.sla_check_at = None
            _set_outcomes(ticket)
            return
    else:
        cal, cal_name, policy = ticket_calendar(uow, ticket)
    before = dict(clocks)
    clocks = _follow(clocks, cal, ticket, now)
    nr_minutes = ((policy.targets or {}).get(ticket.priority, {}).get("next_response")
                  if policy is not None else None)
    if (nr_minutes and "next_response" not in clocks and ticket.status not in DONE
            and _awaiting_reply(ticket)):
        c = Clock.start(cal, int(nr_minutes) * 60, ticket.last_customer_reply_at or now)
        clocks["next_response"] = c.pause(cal, now) if ticket.status == "pending" else c
    _record_changes(uow, ticket, before, clocks)
    store(ticket, clocks, cal, now, policy=policy, calendar_name=cal_name)


def _retarget(clocks: dict[str, Clock], targets: dict[str, Any], cal: BusinessCalendar,
              ticket: Ticket, now: datetime) -> dict[str, Clock]:
    out: dict[str, Clock] = {}
    for metric in SLA_METRICS:
        minutes = targets.get(metric)
        if not minutes:
            continue
        target_s = int(minutes) * 60
        if metric in clocks:
            out[metric] = clocks[metric].retarget(cal, target_s, now)
        elif ((metric == "first_response" and ticket.first_response_at is None)
              or (metric == "resolution" and ticket.status not in DONE)):
            out[metric] = Clock.start(cal, target_s, ticket.created_at or now)
        elif metric == "next_response" and _awaiting_reply(ticket):
            out[metric] = Clock.start(cal, target_s, ticket.last_customer_reply_at or now)
    return out


def _awaiting_reply(ticket: Ticket) -> bool:
    c, a = ticket.last_customer_reply_at, ticket.last_agent_reply_at
    return c is not None and a is not None and c > a


def _follow(clocks: dict[str, Clock], cal: BusinessCalendar, ticket: Ticket,
            now: datetime) -> dict[str, Clock]:
    """Run, pause or stop each clock as the ticket's state says."""
    pending = ticket.status == "pending"
    done = ticket.status in DONE
    out: dict[str, Clock] = {}
    for metric, old in clocks.items():
        c = old
        if metric == "first_response":
            finished = done or ticket.first_response_at is not None
        elif metric == "resolution":
            finished = done
        else:
            finished = done or not _awaiting_reply(ticket)
        if finished:
            c = c.stop(cal, now)
        elif metric == "next_response" and c.stopped:
            # a new cycle: the customer wrote again after the agent's reply
            c = Clock.start(cal, c.target_s, ticket.last_customer_reply_at or now)
            if pending:
                c = c.pause(cal, now)
        elif pending:
            c = c.pause(cal, now)
        elif c.stopped or c.paused:
            c = c.resume(cal, now)
        out[metric] = c
    return out


def _record_changes(uow: UnitOfWork, ticket: Ticket, before: dict[str, Clock],
                    after: dict[str, Clock]) -> None:
    paused = [m for m, c in after.items() if c.paused and m in before
              and before[m].running]
    resumed = [m for m, c in after.items() if c.running and m in before
               and before[m].paused]
    if paused:
        timeline.record(uow, ticket, "sla_paused", SLA_BY, data={"metrics": paused})
    if resumed:
        timeline.record(uow, ticket, "sla_resumed", SLA_BY, data={"metrics": resumed})
    for metric, c in after.items():
        old = before.get(metric)
        if c.breached_at is not None and (old is None or old.breached_at is None):
            timeline.record(uow, ticket, "sla_breached", SLA_BY,
                            data={"metric": metric, "due_at": c.breached_at,
                                  "target_s": c.target_s})
