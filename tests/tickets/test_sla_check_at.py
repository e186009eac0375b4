"""The reminder tick finds tickets by ``sla_check_at``: the next moment a reminder may fall
due. Escalations are not starved by many old breaches, and a long target's 75 % warning comes
on time (no look-ahead window)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from kefu.core.clock import FixedClock
from kefu.core.uow import UowFactory
from kefu.tickets import actions, policies, reminders
from kefu.tickets.models import Ticket, TicketReminder
from kefu.tickets.schemas import TicketCreate
from tests.conftest import World


def _ticket(uows: UowFactory, world: World) -> str:
    with uows() as uow:
        return actions.do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                                        data=TicketCreate(subject="冰箱不制冷"),
                                        source="agent").id


def _sent(uows: UowFactory) -> Counter[str]:
    with uows(readonly=True) as uow:
        return Counter(uow.session.scalars(select(TicketReminder.kind)))


def _tick(uows: UowFactory) -> None:
    with uows() as uow:
        reminders.run_tick(uow)


def test_escalations_reach_every_breached_ticket_past_a_batch(
        uows: UowFactory, world: World, clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reminders, "BATCH", 2)
    with uows() as uow:
        policies.do_create_policy(uow, world.admin_wang, {
            "name": "默认", "escalate_after_minutes": 30,
            "targets": {"P3": {"first_response": 60}}})
    ids = [_ticket(uows, world) for _ in range(5)]
    for _ in range(4):  # creation: each is looked at once, then waits for its 75 % mark
        _tick(uows)
    with uows(readonly=True) as uow:
        checks = {t.sla_check_at for t in uow.session.scalars(select(Ticket).where(
            Ticket.id.in_(ids)))}
    assert checks == {clock.now() + timedelta(minutes=45)}  # the 75 % mark of 60 minutes
    clock.advance(minutes=61)
    for _ in range(3):
        _tick(uows)
    assert _sent(uows)["breach"] == 5
    clock.advance(minutes=30)
    for _ in range(3):
        _tick(uows)
    assert _sent(uows)["escalation"] == 5
    for _ in range(3):  # nothing left to remind of: nothing more is sent
        _tick(uows)
    # (no tick ran at the 75 % mark: a breach supersedes the warning)
    assert _sent(uows) == Counter({"breach": 5, "escalation": 5})
    with uows(readonly=True) as uow:
        assert not any(t.sla_check_at for t in uow.session.scalars(select(Ticket)))


def test_a_long_target_warns_at_75_percent(uows: UowFactory, world: World,
                                           clock: FixedClock) -> None:
    with uows() as uow:
        policies.do_create_policy(uow, world.admin_wang, {
            "name": "慢", "targets": {"P3": {"resolution": 60 * 24 * 40}}})  # 40 days, 24/7
    tid = _ticket(uows, world)
    _tick(uows)
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, tid)
        assert t is not None and t.sla_check_at is not None
        assert (t.sla_check_at - t.created_at).days == 30  # 75 % of 40 days
    clock.advance(days=29)
    _tick(uows)
    assert _sent(uows)["warning"] == 0
    clock.advance(days=1, minutes=1)
    _tick(uows)
    assert _sent(uows)["warning"] == 1


def test_resolving_clears_the_check(uows: UowFactory, world: World) -> None:
    from kefu.tickets.schemas import TicketUpdate

    with uows() as uow:
        policies.do_create_policy(uow, world.admin_wang, {
            "name": "默认", "targets": {"P3": {"first_response": 60, "resolution": 600}}})
    tid = _ticket(uows, world)
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, tid, TicketUpdate(status="resolved"))
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, tid)
        assert t is not None and t.sla_check_at is None


def test_damaged_workspace_settings_fall_back_to_defaults(uows: UowFactory,
                                                          world: World) -> None:
    from kefu.tickets.models import TicketWorkspace
    from kefu.tickets.policies import DEFAULT_SETTINGS, ticket_settings

    with uows() as uow:
        uow.session.add(TicketWorkspace(workspace_id=world.ws_a, last_number=0, settings={
            "reopen_days": "abc", "autoclose_days": 2.5, "digest_hour": True}))
    with uows(readonly=True) as uow:
        assert ticket_settings(uow.session, world.ws_a) == DEFAULT_SETTINGS
