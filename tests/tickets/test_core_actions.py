"""Ticket actions: creation (numbering, template defaults, assignment), updates and the
transition table, replies / notes / mentions, customer replies, watchers, the timeline."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kefu.accounts import actions as account_actions
from kefu.accounts.actor import Actor
from kefu.accounts.models import Notification
from kefu.accounts.schemas import TeamCreate
from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.tickets import actions, assignment
from kefu.tickets.models import (
    STATUSES,
    TRANSITIONS,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketTemplate,
    TicketWatcher,
    TicketWorkspace,
)
from kefu.tickets.schemas import ContactRef, TicketCreate, TicketUpdate
from kefu.tickets.timeline import By
from tests.conftest import World


def make_ticket(uows: UowFactory, actor: Actor, **kw: Any) -> Ticket:
    kw.setdefault("subject", "冰箱不制冷")
    with uows() as uow:
        return actions.do_create_ticket(uow, actor, workspace_id=actor.workspace_id,
                                        data=TicketCreate(**kw), source="agent")


def make_team(uows: UowFactory, actor: Actor, name: str, members: list[str],
              mode: str = "manual") -> str:
    with uows() as uow:
        team = account_actions.do_create_team(uow, actor, TeamCreate(name=name,
                                                                     member_ids=members))
        assignment.do_set_team_assignment(uow, actor, team.id, mode=mode)
        return team.id


def make_template(uows: UowFactory, ws: str, **kw: Any) -> str:
    with uows() as uow:
        now = uow.clock.now()
        tpl = TicketTemplate(id=new_id(), workspace_id=ws, name=kw.pop("name", "售后维修"),
                             created_at=now, updated_at=now, **kw)
        uow.session.add(tpl)
        return tpl.id


def load(uows: UowFactory, ticket_id: str) -> Ticket:
    with uows() as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None
        return t


def events(uows: UowFactory, ticket_id: str) -> list[TicketEvent]:
    with uows() as uow:
        return list(uow.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.seq)))


def update(uows: UowFactory, actor: Actor | None, ticket_id: str, **kw: Any) -> Ticket:
    with uows() as uow:
        return actions.do_update_ticket(uow, actor, ticket_id, TicketUpdate(**kw))


# --- creation --------------------------------------------------------------------------


def test_numbers_count_per_workspace(uows: UowFactory, world: World) -> None:
    a1 = make_ticket(uows, world.agent_li)
    a2 = make_ticket(uows, world.agent_chen)
    b1 = make_ticket(uows, world.agent_b)
    assert (a1.number, a2.number, b1.number) == (1, 2, 1)
    with uows() as uow:
        row = uow.session.get(TicketWorkspace, world.ws_a)
        assert row is not None and row.last_number == 2


def test_create_records_the_creator_and_watches(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li, description="门店买的冰箱，两天不制冷",
                    tags=["售后", " 售后 ", "冰箱"], watcher_ids=[world.agent_chen.user_id])
    assert (t.status, t.priority, t.source, t.tags) == ("new", "P3", "agent", ["售后", "冰箱"])
    assert t.created_by == world.agent_li.user_id
    [ev] = events(uows, t.id)
    assert (ev.kind, ev.seq, ev.actor_type, ev.actor_id, ev.public) == (
        "created", 1, "user", world.agent_li.user_id, True)
    assert ev.body == "门店买的冰箱，两天不制冷" and ev.at is not None
    with uows() as uow:
        watchers = set(uow.session.scalars(select(TicketWatcher.user_id).where(
            TicketWatcher.ticket_id == t.id)))
    assert watchers == {world.agent_li.user_id, world.agent_chen.user_id}


def test_template_defaults_apply_when_not_given(uows: UowFactory, world: World) -> None:
    team = make_team(uows, world.admin_wang, "售后组", [])
    tpl = make_template(uows, world.ws_a, default_priority="P1", default_team_id=team)
    t = make_ticket(uows, world.agent_li, template_id=tpl)
    assert (t.priority, t.team_id, t.template_id) == ("P1", team, tpl)
    t2 = make_ticket(uows, world.agent_li, template_id=tpl, priority="P4")
    assert t2.priority == "P4"


def test_fields_without_template_and_bad_references_refused(uows: UowFactory,
                                                            world: World) -> None:
    with pytest.raises(Invalid) as exc:
        make_ticket(uows, world.agent_li, fields={"order_no": "1"})
    assert exc.value.code == "invalid_fields" and "order_no" in exc.value.details["fields"]
    for kw, code in (({"team_id": "nope"}, "team_not_found"),
                     ({"assignee_id": world.agent_b.user_id}, "user_not_found"),
                     ({"template_id": "x"}, "template_not_found"),
                     ({"parent_id": "x"}, "parent_not_found"),
                     ({"contact_id": "x"}, "contact_not_found"),
                     ({"contact": ContactRef(email="bad")}, "invalid_contact")):
        with pytest.raises(Invalid) as exc:
            make_ticket(uows, world.agent_li, **kw)
        assert exc.value.code == code, kw
    with uows() as uow:
        assert uow.session.scalar(select(Ticket.id).where(
            Ticket.workspace_id == world.ws_a)) is None


def test_contact_by_address_is_found_or_created(uows: UowFactory, world: World) -> None:
    t1 = make_ticket(uows, world.agent_li, contact=ContactRef(name="周女士",
                                                              email="Zhou@Example.com"))
    t2 = make_ticket(uows, world.agent_li, contact=ContactRef(email="zhou@example.com"))
    assert t1.contact_id is not None and t1.contact_id == t2.contact_id


def test_permissions(uows: UowFactory, world: World) -> None:
    with pytest.raises(PermissionDenied):
        make_ticket(uows, world.inspector_sun)
    t = make_ticket(uows, world.agent_li)
    with pytest.raises(NotFound) as exc:
        update(uows, world.agent_b, t.id, priority="P1")
    assert exc.value.code == "ticket_not_found"
    assert load(uows, t.id).priority == "P3"


# --- assignment ------------------------------------------------------------------------


def test_round_robin_rotates(uows: UowFactory, world: World) -> None:
    members = [world.agent_li.user_id, world.agent_chen.user_id,
               world.supervisor_zhao.user_id]
    team = make_team(uows, world.admin_wang, "安装组", members, "round_robin")
    got = [make_ticket(uows, world.admin_wang, team_id=team).assignee_id for _ in range(4)]
    order = sorted(members)
    assert got == [*order, order[0]]


def test_least_loaded_picks_the_idle_member(uows: UowFactory, world: World) -> None:
    team = make_team(uows, world.admin_wang, "技术组",
                     [world.agent_li.user_id, world.agent_chen.user_id], "least_loaded")
    for _ in range(2):
        make_ticket(uows, world.admin_wang, assignee_id=world.agent_li.user_id)
    done = make_ticket(uows, world.admin_wang, assignee_id=world.agent_chen.user_id)
    update(uows, world.admin_wang, done.id, status="resolved")  # resolved: not a load
    make_ticket(uows, world.admin_wang, assignee_id=world.agent_chen.user_id)
    t = make_ticket(uows, world.admin_wang, team_id=team)
    assert t.assignee_id == world.agent_chen.user_id
    t2 = make_ticket(uows, world.admin_wang, team_id=team)  # now 2 : 2 → rotation order
    assert t2.assignee_id == world.agent_li.user_id


def test_manual_team_assigns_nobody_and_explicit_assignee_wins(uows: UowFactory,
                                                               world: World) -> None:
    team = make_team(uows, world.admin_wang, "手动组", [world.agent_li.user_id])
    assert make_ticket(uows, world.admin_wang, team_id=team).assignee_id is None
    rr = make_team(uows, world.admin_wang, "轮流组", [world.agent_li.user_id], "round_robin")
    t = make_ticket(uows, world.admin_wang, team_id=rr, assignee_id=world.agent_chen.user_id)
    assert t.assignee_id == world.agent_chen.user_id


def test_team_change_reassigns_when_assignee_not_member(uows: UowFactory,
                                                       world: World) -> None:
    rr = make_team(uows, world.admin_wang, "轮流组", [world.agent_chen.user_id], "round_robin")
    t = make_ticket(uows, world.admin_wang, assignee_id=world.agent_li.user_id)
    t = update(uows, world.admin_wang, t.id, team_id=rr)
    assert t.assignee_id == world.agent_chen.user_id
    t = update(uows, world.admin_wang, t.id, team_id=None)
    assert t.assignee_id == world.agent_chen.user_id


# --- transitions -----------------------------------------------------------------------


def _ticket_in(uows: UowFactory, world: World, status: str) -> Ticket:
    t = make_ticket(uows, world.agent_li)
    path = {"new": [], "open": ["open"], "pending": ["pending"], "resolved": ["resolved"],
            "closed": ["closed"]}[status]
    for s in path:
        t = update(uows, world.agent_li, t.id, status=s)
    assert t.status == status
    return t


@pytest.mark.parametrize("start", STATUSES)
def test_transition_table(uows: UowFactory, world: World, start: str) -> None:
    for target in STATUSES:
        if target == start:
            continue
        t = _ticket_in(uows, world, start)
        before = len(events(uows, t.id))
        if target in TRANSITIONS[start]:
            t = update(uows, world.agent_li, t.id, status=target)
            assert t.status == target
            assert (t.resolved_at is not None) == (target in ("resolved", "closed"))
            assert (t.closed_at is not None) == (target == "closed")
            last = events(uows, t.id)[-1]
            assert last.data["changes"]["status"] == [start, target] and last.public
        else:
            with pytest.raises(Invalid) as exc:
                update(uows, world.agent_li, t.id, status=target, priority="P1")
            assert exc.value.code == "invalid_transition"
            assert exc.value.details["from_status"] == start
            assert exc.value.details["to_status"] == target
            after = load(uows, t.id)
            assert (after.status, after.priority) == (start, "P3")
            assert len(events(uows, t.id)) == before


def test_reopen_clears_resolved_at(uows: UowFactory, world: World) -> None:
    t = _ticket_in(uows, world, "resolved")
    t = update(uows, world.agent_li, t.id, status="open")
    assert t.resolved_at is None and t.status == "open"


def test_null_for_required_columns_is_refused(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li)
    with pytest.raises(Invalid) as exc:
        update(uows, world.agent_li, t.id, priority=None)
    assert exc.value.code == "field_required"


# --- replies ---------------------------------------------------------------------------


def test_first_public_reply_opens_and_sets_first_response(uows: UowFactory, world: World,
                                                          clock: Any) -> None:
    t = make_ticket(uows, world.agent_li)
    clock.advance(minutes=5)
    with uows() as uow:
        note = actions.do_reply(uow, world.agent_li, t.id, body="先查一下库存", public=False)
    t = load(uows, t.id)
    assert (note.kind, note.public, t.status, t.first_response_at) == ("note", False, "new",
                                                                      None)
    with uows() as uow:
        ev = actions.do_reply(uow, world.agent_li, t.id, body="您好，已安排师傅", public=True)
    t = load(uows, t.id)
    assert (ev.kind, ev.public, t.status) == ("reply", True, "open")
    assert t.first_response_at == clock.now() == t.last_agent_reply_at
    for body, code in (("  ", "empty_body"), ("x" * 20_001, "body_too_long")):
        with uows() as uow, pytest.raises(Invalid) as exc:
            actions.do_reply(uow, world.agent_li, t.id, body=body, public=True)
        assert exc.value.code == code


def test_mentions_notify_and_watch(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li)
    with uows() as uow:
        ev = actions.do_reply(uow, world.agent_li, t.id, public=False,
                              body="@陈子豪 请看一下，抄送 @zhao@a.example.com 以及 @Agent B")
    assert set(ev.data["mentions"]) == {world.agent_chen.user_id,
                                        world.supervisor_zhao.user_id}
    with uows() as uow:
        notes = uow.session.scalars(select(Notification).where(
            Notification.kind == "ticket_mention")).all()
        watchers = set(uow.session.scalars(select(TicketWatcher.user_id).where(
            TicketWatcher.ticket_id == t.id)))
    assert {n.user_id for n in notes} == {world.agent_chen.user_id,
                                          world.supervisor_zhao.user_id}
    assert all(n.link == f"/app/tickets/{t.id}" for n in notes)
    assert {world.agent_chen.user_id, world.supervisor_zhao.user_id} <= watchers


def test_public_reply_on_closed_ticket_refused(uows: UowFactory, world: World) -> None:
    t = _ticket_in(uows, world, "closed")
    with uows() as uow, pytest.raises(Invalid) as exc:
        actions.do_reply(uow, world.agent_li, t.id, body="hi", public=True)
    assert exc.value.code == "ticket_closed"


# --- customer replies ------------------------------------------------------------------


def customer(uows: UowFactory, ticket_id: str, body: str = "还是不行") -> TicketEvent:
    with uows() as uow:
        return actions.do_customer_reply(uow, ticket_id, contact_id=None, body=body,
                                         via="portal")


def test_customer_reply_reopens_recently_resolved(uows: UowFactory, world: World,
                                                  clock: Any) -> None:
    t = _ticket_in(uows, world, "resolved")
    clock.advance(days=6)
    ev = customer(uows, t.id)
    t = load(uows, t.id)
    assert ev.ticket_id == t.id and (ev.kind, ev.actor_type, ev.public) == (
        "customer", "customer", True)
    assert t.status == "open" and t.resolved_at is None
    assert t.last_customer_reply_at == clock.now()
    with uows() as uow:
        n = uow.session.scalars(select(Notification).where(
            Notification.kind == "ticket_customer_reply")).all()
    assert {x.user_id for x in n} == {world.agent_li.user_id}


def test_customer_reply_pending_goes_open(uows: UowFactory, world: World) -> None:
    t = _ticket_in(uows, world, "pending")
    customer(uows, t.id)
    assert load(uows, t.id).status == "open"


@pytest.mark.parametrize("state", ["closed", "old_resolved"])
def test_customer_reply_after_window_makes_follow_up(uows: UowFactory, world: World,
                                                     clock: Any, state: str) -> None:
    t = _ticket_in(uows, world, "closed" if state == "closed" else "resolved")
    clock.advance(days=8)
    ev = customer(uows, t.id, "又坏了")
    assert ev.ticket_id != t.id
    new = load(uows, ev.ticket_id)
    assert new.status == "new" and new.number == t.number + 1 and new.subject == t.subject
    assert load(uows, t.id).status == ("closed" if state == "closed" else "resolved")
    with uows() as uow:
        kinds = dict(uow.session.execute(select(TicketLink.ticket_id, TicketLink.kind).where(
            TicketLink.ticket_id.in_([t.id, new.id]))).all())
    assert kinds == {t.id: "follow_up", new.id: "follow_up_of"}
    assert events(uows, t.id)[-1].kind == "follow_up"


def test_reopen_window_from_workspace_settings(uows: UowFactory, world: World,
                                               clock: Any) -> None:
    t = _ticket_in(uows, world, "resolved")
    with uows() as uow:
        row = uow.session.get(TicketWorkspace, world.ws_a)
        assert row is not None
        row.settings = {"reopen_days": 1}
    clock.advance(days=2)
    ev = customer(uows, t.id)
    assert ev.ticket_id != t.id


# --- watchers --------------------------------------------------------------------------


def test_watchers_add_remove(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li)
    with uows() as uow:
        assert actions.do_add_watcher(uow, world.inspector_sun, t.id,
                                      world.inspector_sun.user_id)
        assert not actions.do_add_watcher(uow, world.agent_li, t.id, world.agent_li.user_id)
    with uows() as uow, pytest.raises(PermissionDenied):
        actions.do_add_watcher(uow, world.inspector_sun, t.id, world.agent_chen.user_id)
    with uows() as uow, pytest.raises(Invalid):
        actions.do_add_watcher(uow, world.agent_li, t.id, world.agent_b.user_id)
    with uows() as uow:
        assert actions.do_remove_watcher(uow, world.agent_li, t.id, world.inspector_sun.user_id)
    kinds = [e.kind for e in events(uows, t.id)]
    assert kinds == ["created", "watcher_added", "watcher_removed"]


# --- the timeline ----------------------------------------------------------------------


def test_timeline_replays_to_the_ticket(uows: UowFactory, world: World, clock: Any) -> None:
    team = make_team(uows, world.admin_wang, "轮流组",
                     [world.agent_li.user_id, world.agent_chen.user_id], "round_robin")
    other = make_team(uows, world.admin_wang, "二线", [world.supervisor_zhao.user_id],
                      "least_loaded")
    t = make_ticket(uows, world.agent_li, team_id=team, priority="P2")
    steps: list[dict[str, Any]] = [
        {"status": "open"}, {"priority": "P1"}, {"team_id": other},
        {"assignee_id": world.agent_chen.user_id, "status": "pending"},
        {"status": "resolved"}, {"priority": "P4", "tags": ["x"]}]
    for step in steps:
        clock.advance(minutes=3)
        update(uows, world.admin_wang, t.id, **step)
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, t.id, body="好的", public=False)
    customer(uows, t.id)
    evs = events(uows, t.id)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert all(e.at is not None and e.actor_type in ("user", "customer", "system")
               for e in evs)
    assert {e.actor_type for e in evs} >= {"user", "customer"}
    state = {k: evs[0].data[k] for k in ("status", "priority", "team_id", "assignee_id")}
    for e in evs[1:]:
        for name, (old, new) in e.data.get("changes", {}).items():
            if name in state:
                assert state[name] == old
                state[name] = new
    final = load(uows, t.id)
    assert state == {"status": final.status, "priority": final.priority,
                     "team_id": final.team_id, "assignee_id": final.assignee_id}
    assert final.status == "open"  # the customer reply reopened it


def test_system_actor_when_no_user(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li)
    with uows() as uow:
        actions.do_update_ticket(uow, None, t.id, TicketUpdate(priority="P1"),
                                 by=By("automation", "trig1", label="VIP 规则"))
    last = events(uows, t.id)[-1]
    assert (last.actor_type, last.actor_id, last.data["by_label"]) == (
        "automation", "trig1", "VIP 规则")


def test_children_block_resolving_parent(uows: UowFactory, world: World) -> None:
    parent = make_ticket(uows, world.agent_li)
    child = make_ticket(uows, world.agent_li, parent_id=parent.id)
    with pytest.raises(Invalid) as exc:
        update(uows, world.agent_li, parent.id, status="resolved")
    assert exc.value.code == "children_open" and exc.value.details["children"] == [child.number]
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, parent.id,
                                 TicketUpdate(status="resolved"), force=True)
    assert load(uows, parent.id).status == "resolved"
    with pytest.raises(Invalid) as exc:
        update(uows, world.agent_li, parent.id, parent_id=child.id)
    assert exc.value.code == "parent_cycle"

