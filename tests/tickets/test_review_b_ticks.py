"""Review probes (second reviewer): periodic runs do not starve tickets behind a full batch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kefu.core.clock import FixedClock
from kefu.core.uow import UowFactory
from kefu.tickets import actions, automation
from kefu.tickets.automation import TriggerIn
from kefu.tickets.models import Ticket, TicketTriggerFiring
from kefu.tickets.schemas import TicketCreate
from tests.conftest import World


def _ticket(uows: UowFactory, world: World, **kw: object) -> Ticket:
    with uows() as uow:
        return actions.do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                                        data=TicketCreate(subject="冰箱不制冷", **kw),  # type: ignore[arg-type]
                                        source="agent")


def test_time_trigger_reaches_a_match_behind_a_batch_of_non_matches(
        uows: UowFactory, world: World, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automation, "TIME_BATCH", 2)
    monkeypatch.setattr(automation.time_candidates, "__kwdefaults__", {"limit": 2})
    with uows() as uow:
        automation.do_create_trigger(uow, world.admin_wang, TriggerIn(
            name="VIP 超 1 小时", event="time",
            conditions=[{"field": "hours_since_created", "op": "gt", "value": 1},
                        {"field": "tags", "op": "contains", "value": "vip"}],
            actions=[{"type": "set_priority", "value": "P1"}]))
    for _ in range(3):  # older open tickets the SQL bounds cannot rule out
        _ticket(uows, world)
        clock.advance(minutes=1)
    vip = _ticket(uows, world, tags=["vip"], priority="P3")
    clock.advance(hours=2)
    with uows() as uow:
        automation.run_time_triggers(uow, {})
    with uows(readonly=True) as uow:
        row = uow.session.get(Ticket, vip.id)
        assert row is not None and row.priority == "P1"
        assert uow.session.scalar(select(func.count()).select_from(TicketTriggerFiring)) == 1


def test_breach_reminder_reaches_a_new_ticket_behind_a_batch_of_old_breaches(
        uows: UowFactory, world: World, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.tickets import policies, reminders
    from kefu.tickets.models import TicketReminder

    monkeypatch.setattr(reminders, "BATCH", 2)
    with uows() as uow:
        policies.do_create_policy(uow, world.admin_wang, {
            "name": "默认", "escalate_after_minutes": 100_000,
            "targets": {"P3": {"first_response": 60}}})
    old = [_ticket(uows, world).id for _ in range(3)]
    clock.advance(minutes=61)
    for _ in range(2):  # two ticks: every old ticket's breach is sent
        with uows() as uow:
            reminders.run_tick(uow)
    clock.advance(minutes=1)
    new = _ticket(uows, world).id
    clock.advance(minutes=61)
    with uows() as uow:
        reminders.run_tick(uow)
    with uows(readonly=True) as uow:
        breached = set(uow.session.scalars(select(TicketReminder.ticket_id).where(
            TicketReminder.kind == "breach")))
    assert set(old) <= breached
    assert new in breached, "the new ticket's breach was never sent"
