"""SLA clocks on real tickets (``tickets.clocks.sync`` through the core actions): the policy
chosen, pause while pending, first/next response, resolution with reopen, re-prioritising."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kefu.contacts import actions as contact_actions
from kefu.core.clock import FixedClock
from kefu.core.uow import UowFactory
from kefu.tickets import actions, policies
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.schemas import TicketCreate, TicketUpdate
from kefu.tickets.sla import Clock
from tests.conftest import World

WEEKLY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-12:00, 13:00-18:00")


def setup_policies(uows: UowFactory, world: World) -> dict[str, str]:
    with uows() as uow:
        cal = policies.do_create_calendar(uow, world.admin_wang, name="工作日",
                                          timezone="Asia/Shanghai", weekly=WEEKLY,
                                          holidays="2026-10-01..2026-10-08",
                                          workdays="2026-10-10")
        vip = policies.do_create_policy(uow, world.admin_wang, {
            "name": "VIP", "conditions": {"tiers": ["vip"]}, "calendar_id": cal.id,
            "targets": {"P3": {"first_response": 30, "resolution": 240}}})
        default = policies.do_create_policy(uow, world.admin_wang, {
            "name": "默认", "targets": {
                "P1": {"first_response": 15, "next_response": 30, "resolution": 120},
                "P3": {"first_response": 60, "next_response": 120, "resolution": 1440}}})
        return {"calendar": cal.id, "vip": vip.id, "default": default.id}


def new_ticket(uows: UowFactory, world: World, *, priority: str = "P3",
               contact_id: str | None = None) -> str:
    with uows() as uow:
        t = actions.do_create_ticket(
            uow, world.agent_li, workspace_id=world.ws_a,
            data=TicketCreate(subject="退款没到账", priority=priority,  # type: ignore[arg-type]
                              contact_id=contact_id),
            source="agent")
        return t.id


def load(uows: UowFactory, ticket_id: str) -> Ticket:
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None
        return t


def clocks(t: Ticket) -> dict[str, Clock]:
    return {m: Clock.from_dict(d) for m, d in t.sla["clocks"].items()}


def kinds(uows: UowFactory, ticket_id: str) -> list[str]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(TicketEvent.kind).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.seq)))


def update(uows: UowFactory, world: World, ticket_id: str, **values: Any) -> None:
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, ticket_id, TicketUpdate(**values))


def test_the_first_matching_policy_starts_first_response_and_resolution(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    ids = setup_policies(uows, world)
    t = load(uows, new_ticket(uows, world))
    assert t.sla_policy_id == ids["default"]
    assert t.sla["policy"] == "默认" and t.sla["calendar"] is None
    c = clocks(t)
    assert set(c) == {"first_response", "resolution"}  # no customer reply yet
    assert c["first_response"].due() == clock.now() + timedelta(minutes=60)
    assert c["resolution"].due() == clock.now() + timedelta(minutes=1440)
    assert t.next_breach_at == clock.now() + timedelta(minutes=60)
    assert t.sla_status == "ok"


def test_a_vip_customer_gets_the_vip_policy_on_its_calendar(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    ids = setup_policies(uows, world)
    with uows() as uow:
        contact = contact_actions.do_resolve_contact(
            uow, workspace_id=world.ws_a, kind="webchat_visitor", external_id="v-vip",
            name="大客户")
        contact.attributes = {"tier": "VIP"}
        contact_id = contact.id
    # Wednesday 17:50 Shanghai: 10 business minutes left today
    clock.advance(hours=7, minutes=50)
    t = load(uows, new_ticket(uows, world, contact_id=contact_id))
    assert t.sla_policy_id == ids["vip"]
    assert t.sla["calendar"] == "工作日"
    assert clocks(t)["first_response"].due() == datetime(2026, 11, 12, 1, 20, tzinfo=UTC)


def test_pending_pauses_every_clock_and_open_resumes_them(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    setup_policies(uows, world)
    tid = new_ticket(uows, world)
    clock.advance(minutes=20)
    update(uows, world, tid, status="pending")
    t = load(uows, tid)
    assert t.sla_status == "paused" and t.next_breach_at is None
    assert all(c.paused and c.elapsed_s == 20 * 60 for c in clocks(t).values())
    clock.advance(days=1)
    update(uows, world, tid, status="open")
    t = load(uows, tid)
    assert t.sla_status == "ok"
    # 40 minutes of the first-response target were left
    assert t.next_breach_at == clock.now() + timedelta(minutes=40)
    assert kinds(uows, tid).count("sla_paused") == 1
    assert kinds(uows, tid).count("sla_resumed") == 1


def test_replies_stop_first_response_and_run_next_response(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    setup_policies(uows, world)
    tid = new_ticket(uows, world)
    clock.advance(minutes=10)
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, tid, body="您好，我们正在处理", public=True)
    t = load(uows, tid)
    c = clocks(t)
    assert c["first_response"].stopped and not c["first_response"].breached(clock.now())
    assert "next_response" not in c
    assert t.next_breach_at == c["resolution"].due()
    clock.advance(minutes=5)
    with uows() as uow:
        actions.do_customer_reply(uow, tid, contact_id=None, body="还没到账", via="portal")
    t = load(uows, tid)
    nr = clocks(t)["next_response"]
    assert nr.running and nr.due() == clock.now() + timedelta(minutes=120)
    assert t.next_breach_at == nr.due()
    clock.advance(minutes=30)
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, tid, body="已加急", public=True)
    t = load(uows, tid)
    assert clocks(t)["next_response"].stopped
    # a second customer message after the reply starts a fresh cycle
    clock.advance(minutes=3)
    with uows() as uow:
        actions.do_customer_reply(uow, tid, contact_id=None, body="谢谢", via="portal")
    nr2 = clocks(load(uows, tid))["next_response"]
    assert nr2.running and nr2.elapsed_s == 0 and nr2.started_at == clock.now()


def test_resolve_stops_resolution_and_reopen_keeps_the_time_used(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    setup_policies(uows, world)
    tid = new_ticket(uows, world)
    clock.advance(minutes=100)
    update(uows, world, tid, status="resolved")
    t = load(uows, tid)
    res = clocks(t)["resolution"]
    assert res.stopped and res.elapsed_s == 100 * 60
    assert t.next_breach_at is None
    # the first response was never sent and its 60 minutes passed: breached, on the timeline
    assert t.sla_status == "breached"
    assert "sla_breached" in kinds(uows, tid)
    clock.advance(days=2)
    update(uows, world, tid, status="open")
    res = clocks(load(uows, tid))["resolution"]
    assert res.running and res.due() == clock.now() + timedelta(minutes=1440 - 100)


def test_a_priority_change_keeps_elapsed_time_with_the_new_target(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    setup_policies(uows, world)
    tid = new_ticket(uows, world)
    clock.advance(minutes=10)
    update(uows, world, tid, priority="P1")
    t = load(uows, tid)
    c = clocks(t)
    assert c["first_response"].target_s == 15 * 60
    assert c["first_response"].due() == clock.now() + timedelta(minutes=5)
    assert c["resolution"].due() == clock.now() + timedelta(minutes=110)
    # P2 has no targets in any policy: the clocks go
    update(uows, world, tid, priority="P2")
    t = load(uows, tid)
    assert t.sla["clocks"] == {} and t.sla_status == "none" and t.next_breach_at is None


def test_without_a_matching_policy_there_is_no_sla(uows: UowFactory, world: World) -> None:
    t = load(uows, new_ticket(uows, world))
    assert t.sla_policy_id is None and t.sla_status == "none" and t.next_breach_at is None


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_done_tickets_have_no_running_clock(uows: UowFactory, world: World, clock: FixedClock,
                                            status: str) -> None:
    setup_policies(uows, world)
    tid = new_ticket(uows, world)
    update(uows, world, tid, status=status)
    t = load(uows, tid)
    assert all(c.stopped for c in clocks(t).values())
    assert t.next_breach_at is None and t.sla_status == "ok"


def test_outcome_columns_follow_the_clocks(uows: UowFactory, world: World,
                                           clock: FixedClock) -> None:
    """The per-metric outcome columns the reports group by: running → met, or breached."""
    setup_policies(uows, world)
    late = new_ticket(uows, world, priority="P1")  # first response 15 min, 24/7
    on_time = new_ticket(uows, world, priority="P1")
    t = load(uows, late)
    assert (t.sla_first_response, t.sla_next_response, t.sla_resolution) == \
        ("running", None, "running")
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, on_time, body="您好，正在处理", public=True)
    clock.advance(minutes=20)
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, late, body="抱歉久等", public=True)
    assert load(uows, on_time).sla_first_response == "met"
    assert load(uows, late).sla_first_response == "breached"
    update(uows, world, on_time, status="resolved")
    assert load(uows, on_time).sla_resolution == "met"
