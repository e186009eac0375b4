"""Links, merge (history kept), split and child tickets, with their errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kefu.core.errors import Invalid, NotFound
from kefu.core.uow import UowFactory
from kefu.tickets import actions, relations
from kefu.tickets.models import TicketLink, TicketWatcher
from kefu.tickets.schemas import ContactRef, TicketCreate, TicketUpdate
from tests.conftest import World
from tests.tickets.test_core_actions import customer, events, load, make_team, make_ticket


def links(uows: UowFactory, ticket_id: str) -> dict[str, str]:
    with uows() as uow:
        return {r.other_id: r.kind for r in uow.session.scalars(
            select(TicketLink).where(TicketLink.ticket_id == ticket_id))}


def test_link_both_ways_and_unlink(uows: UowFactory, world: World) -> None:
    a, b = make_ticket(uows, world.agent_li), make_ticket(uows, world.agent_li)
    with uows() as uow:
        assert relations.do_link(uow, world.agent_li, a.id, b.id)
        assert not relations.do_link(uow, world.agent_li, b.id, a.id)
    assert links(uows, a.id) == {b.id: "related"} and links(uows, b.id) == {a.id: "related"}
    assert events(uows, b.id)[-1].kind == "linked"
    with uows() as uow:
        relations.do_unlink(uow, world.agent_li, b.id, a.id)
    assert links(uows, a.id) == {} == links(uows, b.id)
    with uows() as uow, pytest.raises(Invalid) as exc:
        relations.do_unlink(uow, world.agent_li, b.id, a.id)
    assert exc.value.code == "link_not_found"


def test_link_errors(uows: UowFactory, world: World) -> None:
    a = make_ticket(uows, world.agent_li)
    other = make_ticket(uows, world.agent_b)
    with uows() as uow, pytest.raises(Invalid) as exc:
        relations.do_link(uow, world.agent_li, a.id, a.id)
    assert exc.value.code == "link_self"
    with uows() as uow, pytest.raises(NotFound) as nf:
        relations.do_link(uow, world.agent_li, a.id, other.id)
    assert nf.value.code == "ticket_not_found"
    assert links(uows, a.id) == {}


def test_merge_keeps_history(uows: UowFactory, world: World) -> None:
    source = make_ticket(uows, world.agent_li, subject="订单没到",
                         watcher_ids=[world.agent_chen.user_id])
    customer(uows, source.id, "快递三天没动了")
    target = make_ticket(uows, world.agent_chen, subject="物流问题")
    related = make_ticket(uows, world.agent_li)
    child = make_ticket(uows, world.agent_li, parent_id=source.id)
    with uows() as uow:
        relations.do_link(uow, world.agent_li, source.id, related.id)
        relations.do_merge(uow, world.supervisor_zhao, source.id, target.id)
    s, t = load(uows, source.id), load(uows, target.id)
    assert (s.status, s.merged_into_id) == ("closed", target.id) and s.closed_at is not None
    assert t.status == "new"
    merged_from = events(uows, target.id)[-1]
    assert merged_from.kind == "merged_from" and merged_from.data["number"] == source.number
    assert [ln["body"] for ln in merged_from.data["lines"]] == ["快递三天没动了"]
    assert events(uows, source.id)[-1].kind == "merged_into"
    with uows() as uow:
        watchers = set(uow.session.scalars(select(TicketWatcher.user_id).where(
            TicketWatcher.ticket_id == target.id)))
    assert {world.agent_li.user_id, world.agent_chen.user_id} <= watchers
    assert links(uows, target.id) == {related.id: "related"}
    assert links(uows, source.id) == {} and target.id in links(uows, related.id)
    assert load(uows, child.id).parent_id == target.id
    # the customer writing on the merged ticket lands on the target
    ev = customer(uows, source.id, "还有别的问题")
    assert ev.ticket_id == target.id


def test_merge_errors_change_nothing(uows: UowFactory, world: World) -> None:
    a = make_ticket(uows, world.agent_li)
    b_other = make_ticket(uows, world.agent_b)
    closed = make_ticket(uows, world.agent_li)
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, closed.id,
                                 TicketUpdate(status="closed"))
    with uows() as uow, pytest.raises(Invalid) as exc:
        relations.do_merge(uow, world.agent_li, a.id, a.id)
    assert exc.value.code == "merge_self"
    with uows() as uow, pytest.raises(NotFound) as nf:
        relations.do_merge(uow, world.agent_li, a.id, b_other.id)
    assert nf.value.code == "ticket_not_found"
    with uows() as uow, pytest.raises(Invalid) as exc:
        relations.do_merge(uow, world.agent_li, a.id, closed.id)
    assert exc.value.code == "merge_closed"
    assert load(uows, a.id).status == "new" and len(events(uows, a.id)) == 1
    assert load(uows, b_other.id).last_seq == 1


def test_split_from_customer_lines(uows: UowFactory, world: World) -> None:
    t = make_ticket(uows, world.agent_li, subject="两个问题",
                    contact=ContactRef(email="zhou@example.com"))
    customer(uows, t.id, "冰箱不制冷")
    e2 = customer(uows, t.id, "另外发票开错了")
    with uows() as uow:
        new = relations.do_split(uow, world.agent_li, t.id, seqs=[e2.seq], subject="发票开错")
    n = load(uows, new.id)
    assert (n.source, n.subject, n.description, n.contact_id) == (
        "split", "发票开错", "另外发票开错了", t.contact_id)
    assert links(uows, new.id) == {t.id: "split_from"}
    assert links(uows, t.id) == {new.id: "split_to"}
    with uows() as uow, pytest.raises(Invalid) as exc:
        relations.do_split(uow, world.agent_li, t.id, seqs=[1])  # "created" by a user
    assert exc.value.code == "invalid_split_lines" and exc.value.details["seqs"] == [1]
    with uows() as uow, pytest.raises(Invalid) as exc:
        relations.do_split(uow, world.agent_li, t.id)
    assert exc.value.code == "split_empty"


def test_child_for_another_team(uows: UowFactory, world: World) -> None:
    team = make_team(uows, world.admin_wang, "仓库", [world.agent_chen.user_id], "round_robin")
    parent = make_ticket(uows, world.agent_li, contact=ContactRef(phone="13800138000"))
    with uows() as uow:
        child = relations.do_create_child(uow, world.agent_li, parent.id,
                                          TicketCreate(subject="补发配件", team_id=team))
    c = load(uows, child.id)
    assert (c.parent_id, c.team_id, c.assignee_id, c.contact_id) == (
        parent.id, team, world.agent_chen.user_id, parent.contact_id)
    assert events(uows, parent.id)[-1].kind == "child_added"
    with uows() as uow, pytest.raises(NotFound):
        relations.do_create_child(uow, world.agent_b, parent.id, TicketCreate(subject="x"))
