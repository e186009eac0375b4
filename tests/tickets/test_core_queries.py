"""The ticket list: filters, sorts (time to breach with keyset pagination over both phases),
counts; the detail read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid, NotFound
from kefu.core.uow import UowFactory
from kefu.tickets import actions
from kefu.tickets import queries as tq
from kefu.tickets.models import Ticket
from kefu.tickets.schemas import ContactRef
from tests.conftest import T0, World
from tests.tickets.test_core_actions import make_team, make_ticket
from tests.tickets.test_core_actions import update as upd


def page_all(uows: UowFactory, actor: Actor, flt: tq.TicketFilter, sort: str,
             limit: int) -> list[int]:
    out: list[int] = []
    cursor = None
    for _ in range(100):
        with uows(readonly=True) as uow:
            page = tq.list_tickets(uow, actor, flt, sort=sort, limit=limit, cursor=cursor)
        out.extend(r.number for r in page.items)
        assert len(page.items) <= limit
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("no end")


def set_breach(uows: UowFactory, ticket_id: str, minutes: int | None) -> None:
    with uows() as uow:
        uow.session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
            next_breach_at=None if minutes is None else T0 + timedelta(minutes=minutes),
            sla_status="ok" if minutes is not None else "none"))


@pytest.fixture
def many(uows: UowFactory, world: World, clock: Any) -> dict[str, Any]:
    team = make_team(uows, world.admin_wang, "售后", [world.agent_li.user_id], "round_robin")
    breaches = [30, None, 10, 10, None, 50, None, 20, 40, None, 5]
    ids: list[Ticket] = []
    for i, minutes in enumerate(breaches):
        clock.advance(minutes=1)
        t = make_ticket(uows, world.agent_li, subject=f"问题 {i}",
                        team_id=team if i % 2 == 0 else None,
                        priority=("P1", "P2", "P3", "P4")[i % 4],
                        tags=["vip"] if i % 3 == 0 else [])
        ids.append(t)
        set_breach(uows, t.id, minutes)
    return {"team": team, "tickets": ids, "breaches": breaches}


def expected_breach_order(tickets: list[Ticket], breaches: list[int | None]) -> list[int]:
    running = sorted(((m, t.id, t.number) for t, m in zip(tickets, breaches, strict=True)
                      if m is not None))
    # the tickets without a clock: latest updated first (created one a minute apart)
    idle = [t.number for t, m in zip(tickets, breaches, strict=True) if m is None]
    return [n for _m, _id, n in running] + sorted(idle, reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 50])
def test_breach_sort_pages_through_both_phases(uows: UowFactory, world: World,
                                               many: dict[str, Any], limit: int) -> None:
    got = page_all(uows, world.agent_li, tq.TicketFilter(), "breach", limit)
    assert got == expected_breach_order(many["tickets"], many["breaches"])


def test_breach_sort_filtered_by_team(uows: UowFactory, world: World,
                                      many: dict[str, Any]) -> None:
    pairs = [(t, m) for i, (t, m) in enumerate(zip(many["tickets"], many["breaches"],
                                                   strict=True)) if i % 2 == 0]
    got = page_all(uows, world.agent_li, tq.TicketFilter(team_id=many["team"]), "breach", 2)
    assert got == expected_breach_order([p[0] for p in pairs], [p[1] for p in pairs])
    none = page_all(uows, world.agent_li, tq.TicketFilter(team_id="none"), "breach", 3)
    assert sorted(none) == [t.number for i, t in enumerate(many["tickets"]) if i % 2]


@pytest.mark.parametrize("sort", ["updated", "created", "priority", "number"])
def test_other_sorts_paginate_without_gaps(uows: UowFactory, world: World,
                                           many: dict[str, Any], sort: str) -> None:
    got = page_all(uows, world.agent_li, tq.TicketFilter(), sort, 3)
    tickets = many["tickets"]
    assert sorted(got) == sorted(t.number for t in tickets) and len(set(got)) == len(got)
    if sort in ("updated", "created", "number"):
        assert got == sorted(got, reverse=True)
    else:
        prio = {t.number: t.priority for t in tickets}
        keys = [(prio[n], -n) for n in got]
        assert keys == sorted(keys)


def test_filters(uows: UowFactory, world: World, many: dict[str, Any]) -> None:
    a = world.agent_li
    tickets = many["tickets"]
    assert set(page_all(uows, a, tq.TicketFilter(priority=["P1"]), "number", 50)) == {
        t.number for i, t in enumerate(tickets) if i % 4 == 0}
    assert set(page_all(uows, a, tq.TicketFilter(tag="vip"), "number", 50)) == {
        t.number for i, t in enumerate(tickets) if i % 3 == 0}
    assert page_all(uows, a, tq.TicketFilter(q=f"#{tickets[4].number}"), "number", 50) == [
        tickets[4].number]
    assert page_all(uows, a, tq.TicketFilter(q="问题 1"), "number", 50) == [
        tickets[10].number, tickets[1].number]
    assert page_all(uows, a, tq.TicketFilter(sla_status="ok"), "number", 50) == sorted(
        (t.number for t, m in zip(tickets, many["breaches"], strict=True) if m is not None),
        reverse=True)
    t0 = tickets[0]
    upd(uows, a, t0.id, status="open")
    assert page_all(uows, a, tq.TicketFilter(status=["open"]), "number", 50) == [t0.number]
    assert set(page_all(uows, a, tq.TicketFilter(
        assignee_id=world.agent_li.user_id), "number", 50)) == {
        t.number for i, t in enumerate(tickets) if i % 2 == 0}
    assert len(page_all(uows, a, tq.TicketFilter(assignee_id="none"), "number", 50)) == 5
    assert page_all(uows, a, tq.TicketFilter(source="email"), "number", 50) == []
    assert page_all(uows, world.agent_b, tq.TicketFilter(), "number", 50) == []
    with uows(readonly=True) as uow:
        assert tq.count_tickets(uow, a, tq.TicketFilter()) == (11, False)
        assert tq.count_tickets(uow, a, tq.TicketFilter(), cap=5) == (5, True)


def test_search_by_contact(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li, contact=ContactRef(name="周女士",
                                                             email="zhou@example.com"))
    make_ticket(uows, world.agent_li)
    for q in ("周女", "ZHOU@example", "50%_"):
        got = page_all(uows, world.agent_li, tq.TicketFilter(q=q), "number", 50)
        assert got == ([t.number] if q != "50%_" else []), q


def test_bad_filters_and_cursors(uows: UowFactory, world: World) -> None:
    a = world.agent_li
    for flt, sort, cursor in ((tq.TicketFilter(status=["done"]), "breach", None),
                              (tq.TicketFilter(priority=["P9"]), "breach", None),
                              (tq.TicketFilter(), "nope", None),
                              (tq.TicketFilter(), "breach", "!!!"),
                              (tq.TicketFilter(), "updated", "eyJpZCI6IngifQ")):
        with uows(readonly=True) as uow, pytest.raises(Invalid) as exc:
            tq.list_tickets(uow, a, flt, sort=sort, cursor=cursor)
        assert exc.value.code in ("invalid_filter", "invalid_cursor")


def test_detail(uows: UowFactory, world: World) -> None:
    parent = make_ticket(uows, world.agent_li)
    t = make_ticket(uows, world.agent_li, parent_id=parent.id,
                    watcher_ids=[world.agent_chen.user_id])
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, t.id, body="内部备注", public=False)
    with uows(readonly=True) as uow:
        d = tq.get_detail(uow, world.agent_chen, t.id)
        pd = tq.get_detail(uow, world.agent_chen, parent.id)
    assert d.ticket.number == t.number and d.parent is not None
    assert d.parent.id == parent.id and [c.id for c in pd.children] == [t.id]
    assert [i.kind for i in d.timeline] == ["created", "note"]
    assert d.timeline[1].actor_name == "李晓月"
    assert {w.name for w in d.watchers} == {"李晓月", "陈子豪"}
    assert d.next_statuses == ["open", "pending", "resolved", "closed"]
    assert "王店长" in {u.name for u in d.users} and "Admin B" not in {u.name for u in d.users}
    with uows(readonly=True) as uow, pytest.raises(NotFound):
        tq.get_detail(uow, world.agent_b, t.id)


def test_breach_query_uses_the_index(uows: UowFactory, world: World,
                                     many: dict[str, Any]) -> None:
    """The team + breach list reads the ``ix_tickets_ws_team_breach`` index."""
    with uows(readonly=True) as uow:
        stmt = tq._filtered(tq.select(Ticket), world.ws_a,
                            tq.TicketFilter(team_id=many["team"]))
        stmt = stmt.where(Ticket.next_breach_at.is_not(None)).order_by(
            Ticket.next_breach_at, Ticket.id).limit(51)
        compiled = stmt.compile(uow.session.get_bind(),
                                compile_kwargs={"literal_binds": True})
        dialect = uow.session.get_bind().dialect.name
        if dialect == "postgresql":
            uow.session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in uow.session.execute(
                text(f"EXPLAIN {compiled}")))
        else:
            plan = "\n".join(str(r[-1]) for r in uow.session.execute(
                text(f"EXPLAIN QUERY PLAN {compiled}")))
    # on a tiny table PostgreSQL may prefer the (workspace, breach) index: also ordered
    wanted = ("ix_tickets_ws_team_breach",) if dialect == "sqlite" else (
        "ix_tickets_ws_team_breach", "ix_tickets_ws_breach")
    assert any(name in plan for name in wanted), plan
    assert "Seq Scan" not in plan, plan
