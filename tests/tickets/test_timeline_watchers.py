"""Watchers are part of the audit trail: the first ones are on the created line, those added
by an @mention or a merge get their own timeline line."""

from __future__ import annotations

from sqlalchemy import select

from kefu.core.uow import UowFactory
from kefu.tickets import actions, relations
from kefu.tickets.models import TicketEvent
from kefu.tickets.schemas import TicketCreate
from tests.conftest import World


def _events(uows: UowFactory, ticket_id: str) -> list[TicketEvent]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.seq)))


def test_watchers_leave_timeline_lines(uows: UowFactory, world: World) -> None:
    with uows() as uow:
        a = actions.do_create_ticket(uow, world.agent_li, workspace_id=world.ws_a,
                                     data=TicketCreate(subject="冰箱不制冷",
                                                       watcher_ids=[world.agent_chen.user_id]),
                                     source="agent").id
        b = actions.do_create_ticket(uow, world.agent_chen, workspace_id=world.ws_a,
                                     data=TicketCreate(subject="冰箱还是不制冷"),
                                     source="agent").id
    created = _events(uows, a)[0]
    assert created.kind == "created"
    assert set(created.data["watchers"]) == {world.agent_li.user_id, world.agent_chen.user_id}
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, a, body="@赵主管 请看一下", public=False)
    added = [e for e in _events(uows, a) if e.kind == "watcher_added"]
    assert [(e.data["user_id"], e.data["via"], e.actor_id) for e in added] == [
        (world.supervisor_zhao.user_id, "mention", world.agent_li.user_id)]
    with uows() as uow:
        relations.do_merge(uow, world.agent_li, a, b)
    moved = [e.data["user_id"] for e in _events(uows, b)
             if e.kind == "watcher_added" and e.data.get("via") == "merge"]
    assert set(moved) == {world.agent_li.user_id, world.supervisor_zhao.user_id}
