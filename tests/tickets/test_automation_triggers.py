"""Automation triggers: validation with paths, each action, create / update / time triggers,
no loops, exactly once, isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from kefu.accounts import actions as account_actions
from kefu.accounts.actor import Actor
from kefu.accounts.models import Notification
from kefu.accounts.schemas import TeamCreate
from kefu.app import Services
from kefu.contacts.models import Contact
from kefu.core.audit import AuditEntry
from kefu.core.clock import FixedClock
from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.core.uow import UowFactory
from kefu.tickets import actions, automation
from kefu.tickets.automation import TriggerIn, TriggerPatch
from kefu.tickets.models import (
    Ticket,
    TicketEvent,
    TicketTeamSettings,
    TicketTrigger,
    TicketTriggerFiring,
    TicketWatcher,
)
from kefu.tickets.schemas import ContactRef, TicketCreate, TicketUpdate
from tests.conftest import SmtpSink, World


def make_ticket(uows: UowFactory, actor: Actor, **kw: Any) -> Ticket:
    kw.setdefault("subject", "冰箱不制冷")
    with uows() as uow:
        return actions.do_create_ticket(uow, actor, workspace_id=actor.workspace_id,
                                        data=TicketCreate(**kw), source="agent")


def update(uows: UowFactory, actor: Actor, ticket_id: str, **kw: Any) -> None:
    with uows() as uow:
        actions.do_update_ticket(uow, actor, ticket_id, TicketUpdate(**kw))


def trigger(uows: UowFactory, actor: Actor, name: str, event: str,
            conditions: list[Any], acts: list[Any], **kw: Any) -> str:
    with uows() as uow:
        return automation.do_create_trigger(uow, actor, TriggerIn(
            name=name, event=event, conditions=conditions, actions=acts, **kw)).id


def load(uows: UowFactory, ticket_id: str) -> Ticket:
    with uows() as uow:
        t = uow.session.get(Ticket, ticket_id)
        assert t is not None
        return t


def auto_events(uows: UowFactory, ticket_id: str) -> list[TicketEvent]:
    with uows() as uow:
        return list(uow.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.actor_type == "automation")
            .order_by(TicketEvent.seq)))


def firings(uows: UowFactory, trigger_id: str) -> int:
    with uows() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(TicketTriggerFiring)
                                      .where(TicketTriggerFiring.trigger_id == trigger_id))
                   or 0)


def make_team(uows: UowFactory, actor: Actor, name: str, members: list[str]) -> str:
    with uows() as uow:
        return account_actions.do_create_team(uow, actor, TeamCreate(
            name=name, member_ids=members)).id


# -- validation ---------------------------------------------------------------------------------

def test_every_problem_is_named_by_its_path_and_nothing_is_saved(uows: UowFactory,
                                                                 world: World) -> None:
    with pytest.raises(Invalid) as err, uows() as uow:
        automation.do_create_trigger(uow, world.admin_wang, TriggerIn(
            name=" ", event="create",
            conditions=[{"field": "colour", "op": "is", "value": "red"},
                        {"field": "status", "op": "gt", "value": "new"},
                        {"field": "priority", "op": "is", "value": "P9"},
                        {"field": "hours_since_created", "op": "gt", "value": 4},
                        {"field": "status", "op": "changed_to", "value": "open"},
                        {"field": "team_id", "op": "in", "value": ["nope"]},
                        {"field": "tags", "op": "is_empty", "value": "x"},
                        "not an object"],
            actions=[{"type": "explode"},
                     {"type": "notify", "to": ["someone"], "title": "#{number} {colour}"},
                     {"type": "send_reply", "body": ""},
                     {"type": "set_status", "value": "new"},
                     {"type": "add_tag", "tag": "x", "extra": 1}]))
    assert err.value.code == "invalid_trigger"
    errors = err.value.details["errors"]
    assert set(errors) == {
        "name", "conditions[0].field", "conditions[1].op", "conditions[2].value",
        "conditions[3].field", "conditions[4].op", "conditions[5].value[0]",
        "conditions[6].value", "conditions[7]", "actions[0].type", "actions[1].to[0]",
        "actions[1].title", "actions[2].body", "actions[3].value", "actions[4].extra"}
    assert "P1" in errors["conditions[2].value"]
    assert "only for time triggers" in errors["conditions[3].field"]
    assert "only for update triggers" in errors["conditions[4].op"]
    assert "{colour}" in errors["actions[1].title"]
    assert " / " in errors["conditions[0].field"]  # bilingual
    with uows() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TicketTrigger)) == 0


def test_time_triggers_need_a_time_condition_and_names_are_unique(uows: UowFactory,
                                                                  world: World) -> None:
    with pytest.raises(Invalid) as err, uows() as uow:
        automation.do_create_trigger(uow, world.admin_wang, TriggerIn(
            name="t", event="time", conditions=[{"field": "status", "op": "is", "value": "new"}],
            actions=[{"type": "add_tag", "tag": "x"}]))
    assert set(err.value.details["errors"]) == {"conditions"}
    trigger(uows, world.admin_wang, "同名", "create", [], [{"type": "add_tag", "tag": "x"}])
    with pytest.raises(Invalid) as err, uows() as uow:
        automation.do_create_trigger(uow, world.admin_wang, TriggerIn(
            name="同名", event="create", conditions=[], actions=[]))
    assert set(err.value.details["errors"]) == {"name", "actions"}


def test_managing_triggers_needs_ticket_manage_and_is_audited(uows: UowFactory,
                                                              world: World) -> None:
    with pytest.raises(PermissionDenied), uows() as uow:
        automation.do_create_trigger(uow, world.agent_li, TriggerIn(
            name="x", event="create", actions=[{"type": "add_tag", "tag": "x"}]))
    tid = trigger(uows, world.supervisor_zhao, "加标签", "create", [],
                  [{"type": "add_tag", "tag": "x"}])
    with uows() as uow:
        automation.do_update_trigger(uow, world.admin_wang, tid, TriggerPatch(is_active=False))
        automation.do_delete_trigger(uow, world.admin_wang, tid)
    with uows() as uow:
        acts = list(uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == tid).order_by(AuditEntry.at, AuditEntry.action)))
    assert sorted(acts) == ["ticket_trigger.create", "ticket_trigger.delete",
                            "ticket_trigger.update"]


# -- create triggers and every action ----------------------------------------------------------

def test_create_trigger_runs_every_action_as_the_automation(
        uows: UowFactory, world: World, smtp_sink: SmtpSink) -> None:
    team = make_team(uows, world.admin_wang, "售后组", [world.agent_chen.user_id])
    with uows() as uow:
        uow.session.add(TicketTeamSettings(team_id=team, workspace_id=world.ws_a,
                                           assignment="manual",
                                           lead_id=world.supervisor_zhao.user_id))
    trigger(uows, world.admin_wang, "VIP 加急", "create",
            [{"field": "subject", "op": "contains", "value": "冰箱"},
             {"field": "contact_tier", "op": "is", "value": "vip"}],
            [{"type": "set_priority", "value": "P1"},
             {"type": "set_team", "team_id": team},
             {"type": "set_assignee", "user_id": world.agent_chen.user_id},
             {"type": "add_tag", "tag": "vip"},
             {"type": "remove_tag", "tag": "普通"},
             {"type": "notify", "to": ["assignee", "team_lead", world.admin_wang.user_id],
              "title": "VIP 工单 #{number}：{subject}", "body": "客户 {customer} {link}"},
             {"type": "send_reply", "body": "{customer} 您好，工单 #{number} 已加急处理。"},
             {"type": "set_status", "value": "pending"}])
    with uows() as uow:
        contact = Contact(workspace_id=world.ws_a, name="张女士", email="zhang@example.com",
                          attributes={"tier": "VIP"}, created_at=uow.clock.now())
        uow.session.add(contact)
        uow.session.flush()
        contact_id = contact.id
    t = make_ticket(uows, world.agent_li, priority="P3", tags=["普通"], contact_id=contact_id)
    plain = make_ticket(uows, world.agent_li, subject="冰箱", priority="P3")  # no VIP contact
    got = load(uows, t.id)
    assert (got.priority, got.team_id, got.assignee_id, got.status) == (
        "P1", team, world.agent_chen.user_id, "pending")
    assert got.tags == ["vip"]
    assert load(uows, plain.id).priority == "P3"
    evs = auto_events(uows, t.id)
    assert evs and all(e.actor_type == "automation" and e.data.get("by_label") == "VIP 加急"
                       for e in evs)
    reply = [e for e in evs if e.kind == "reply"]
    assert len(reply) == 1 and reply[0].public
    assert reply[0].body == f"张女士 您好，工单 #{got.number} 已加急处理。"
    with uows() as uow:
        notes = list(uow.session.scalars(select(Notification).where(
            Notification.kind == "ticket_automation")))
    assert {n.user_id for n in notes} == {world.agent_chen.user_id,
                                          world.supervisor_zhao.user_id,
                                          world.admin_wang.user_id}
    assert all(n.title == f"VIP 工单 #{got.number}：冰箱不制冷" for n in notes)
    assert all(n.body == f"客户 张女士 /app/tickets/{t.id}" for n in notes)
    assert {m["To"] for m in smtp_sink.messages if "VIP" in str(m["Subject"])} == {
        "chen@a.example.com", "zhao@a.example.com", "wang@a.example.com"}


def test_notify_watchers_and_supervisors(uows: UowFactory, world: World) -> None:
    trigger(uows, world.admin_wang, "P1 通知", "create",
            [{"field": "priority", "op": "in", "value": ["P1", "P2"]}],
            [{"type": "notify", "to": ["watchers", "supervisors"], "title": "#{number}"}])
    t = make_ticket(uows, world.agent_li, priority="P1", watcher_ids=[world.agent_chen.user_id])
    make_ticket(uows, world.agent_li, priority="P4")
    with uows() as uow:
        notes = list(uow.session.scalars(select(Notification).where(
            Notification.kind == "ticket_automation")))
        watchers = set(uow.session.scalars(select(TicketWatcher.user_id).where(
            TicketWatcher.ticket_id == t.id)))
    assert world.agent_chen.user_id in watchers
    assert sorted(n.user_id for n in notes) == sorted(watchers | {world.supervisor_zhao.user_id})
    assert {n.title for n in notes} == {f"#{load(uows, t.id).number}"}


def test_a_refused_action_undoes_the_trigger_and_leaves_a_line(uows: UowFactory,
                                                               world: World) -> None:
    trigger(uows, world.admin_wang, "先改优先级再关闭", "update",
            [{"field": "status", "op": "changed_to", "value": "closed"}],
            [{"type": "set_priority", "value": "P1"}, {"type": "set_status", "value": "pending"}])
    t = make_ticket(uows, world.agent_li, priority="P3")
    update(uows, world.agent_li, t.id, status="closed")
    got = load(uows, t.id)
    assert (got.status, got.priority) == ("closed", "P3")  # nothing half done
    evs = auto_events(uows, t.id)
    assert [e.kind for e in evs] == ["automation_failed"]
    assert evs[0].data["error"] == "invalid_transition"


# -- update triggers and loops ------------------------------------------------------------------

def test_update_trigger_sees_what_changed(uows: UowFactory, world: World) -> None:
    tid = trigger(uows, world.admin_wang, "等待客户", "update",
                  [{"field": "status", "op": "changed_to", "value": "pending"}],
                  [{"type": "add_tag", "tag": "等待客户"}])
    t = make_ticket(uows, world.agent_li)
    update(uows, world.agent_li, t.id, priority="P2")
    assert load(uows, t.id).tags == []
    update(uows, world.agent_li, t.id, status="pending")
    assert load(uows, t.id).tags == ["等待客户"]
    update(uows, world.agent_li, t.id, status="open")
    update(uows, world.agent_li, t.id, tags=[])
    update(uows, world.agent_li, t.id, status="pending")
    assert load(uows, t.id).tags == ["等待客户"]
    assert firings(uows, tid) == 2  # once per change event


def test_triggers_changing_watched_fields_do_not_loop(uows: UowFactory, world: World) -> None:
    team = make_team(uows, world.admin_wang, "二线", [])
    a = trigger(uows, world.admin_wang, "A 改优先级就转二线", "update",
                [{"field": "priority", "op": "changed"}],
                [{"type": "set_team", "team_id": team}, {"type": "set_priority", "value": "P4"}])
    b = trigger(uows, world.admin_wang, "B 转组就升级", "update",
                [{"field": "team_id", "op": "changed"}],
                [{"type": "set_priority", "value": "P1"}])
    c = trigger(uows, world.admin_wang, "C 新建就改优先级", "create", [],
                [{"type": "set_priority", "value": "P2"}])
    t = make_ticket(uows, world.agent_li, priority="P3")
    assert load(uows, t.id).priority == "P2"  # C ran; A did not react to C's change
    assert (firings(uows, a), firings(uows, b), firings(uows, c)) == (0, 0, 1)
    update(uows, world.agent_li, t.id, priority="P3")
    got = load(uows, t.id)
    assert (got.team_id, got.priority) == (team, "P4")  # A ran; B did not react to A
    assert (firings(uows, a), firings(uows, b)) == (1, 0)


def test_triggers_run_in_position_order_and_see_earlier_changes(uows: UowFactory,
                                                                world: World) -> None:
    trigger(uows, world.admin_wang, "second", "create",
            [{"field": "tags", "op": "contains", "value": "first"}],
            [{"type": "add_tag", "tag": "second"}], position=2)
    trigger(uows, world.admin_wang, "first", "create", [],
            [{"type": "add_tag", "tag": "first"}], position=1)
    trigger(uows, world.admin_wang, "off", "create", [],
            [{"type": "add_tag", "tag": "off"}], position=0, is_active=False)
    t = make_ticket(uows, world.agent_li)
    assert load(uows, t.id).tags == ["first", "second"]


# -- time triggers -------------------------------------------------------------------------------

def tick(svc: Services) -> None:
    assert svc.runner.schedule_periodic() >= 1
    svc.runner.drain()


def test_time_trigger_fires_once_per_ticket_across_ticks(svc: Services, uows: UowFactory,
                                                         world: World,
                                                         clock: FixedClock) -> None:
    tid = trigger(uows, world.admin_wang, "4 小时未处理", "time",
                  [{"field": "hours_since_created", "op": "gt", "value": 4},
                   {"field": "status", "op": "is", "value": "new"}],
                  [{"type": "add_tag", "tag": "超时未处理"},
                   {"type": "notify", "to": ["supervisors"], "title": "#{number} 4 小时未处理"}])
    old = make_ticket(uows, world.agent_li)
    clock.advance(hours=2)
    young = make_ticket(uows, world.agent_li)
    handled = make_ticket(uows, world.agent_li)
    update(uows, world.agent_li, handled.id, status="open")
    tick(svc)
    assert firings(uows, tid) == 0
    clock.advance(hours=2, minutes=1)  # old: 4 h 1 min; young: 2 h 1 min
    tick(svc)
    assert load(uows, old.id).tags == ["超时未处理"]
    assert load(uows, young.id).tags == []
    clock.advance(minutes=1)
    tick(svc)  # a second tick: old is not fired again
    assert firings(uows, tid) == 1
    clock.advance(hours=2)
    tick(svc)
    assert load(uows, young.id).tags == ["超时未处理"]
    assert load(uows, handled.id).tags == []  # status open
    assert firings(uows, tid) == 2
    assert len([e for e in auto_events(uows, old.id) if e.kind == "changed"]) == 1
    with uows() as uow:
        n = uow.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "ticket_automation"))
    assert n == 2  # one per ticket to the one supervisor


def test_time_candidates_use_breach_bounds(uows: UowFactory, world: World,
                                           clock: FixedClock) -> None:
    tid = trigger(uows, world.admin_wang, "快超时", "time",
                  [{"field": "minutes_to_breach", "op": "lt", "value": 30}],
                  [{"type": "set_priority", "value": "P1"}])
    soon = make_ticket(uows, world.agent_li, priority="P3")
    later = make_ticket(uows, world.agent_li, priority="P3")
    none = make_ticket(uows, world.agent_li, priority="P3")
    with uows() as uow:
        for tk, at in ((soon, clock.now() + timedelta(minutes=10)),
                       (later, clock.now() + timedelta(hours=3)), (none, None)):
            row = uow.session.get(Ticket, tk.id)
            assert row is not None
            row.next_breach_at = at
    with uows() as uow:
        trg = uow.session.get(TicketTrigger, tid)
        assert trg is not None
        found = {t.id for t in uow.session.scalars(automation.time_candidates(trg,
                                                                              clock.now()))}
        assert found == {soon.id}
        automation.run_time_triggers(uow, {})
    assert load(uows, soon.id).priority == "P1"
    assert load(uows, later.id).priority == "P3"


# -- isolation -----------------------------------------------------------------------------------

def test_another_workspace_cannot_see_use_or_be_touched(uows: UowFactory, world: World) -> None:
    tid = trigger(uows, world.admin_wang, "A 的规则", "create", [],
                  [{"type": "add_tag", "tag": "a"}])
    b_team = make_team(uows, world.admin_b, "B team", [])
    with uows() as uow:
        with pytest.raises(NotFound):
            automation.access_trigger(uow.session, world.admin_b, tid)
        with pytest.raises(NotFound):
            automation.do_update_trigger(uow, world.admin_b, tid, TriggerPatch(name="x"))
        with pytest.raises(NotFound):
            automation.do_delete_trigger(uow, world.admin_b, tid)
        assert automation.list_triggers(uow.session, world.admin_b) == []
    with pytest.raises(Invalid) as err, uows() as uow:  # B's team is not A's
        automation.do_create_trigger(uow, world.admin_wang, TriggerIn(
            name="x", event="create", actions=[{"type": "set_team", "team_id": b_team}]))
    assert set(err.value.details["errors"]) == {"actions[0].team_id"}
    b_ticket = make_ticket(uows, world.agent_b)
    assert load(uows, b_ticket.id).tags == []
    assert load(uows, make_ticket(uows, world.agent_li).id).tags == ["a"]


def test_dry_run_lists_matching_open_tickets_and_changes_nothing(uows: UowFactory,
                                                                 world: World) -> None:
    p1 = make_ticket(uows, world.agent_li, priority="P1")
    make_ticket(uows, world.agent_li, priority="P3")
    closed = make_ticket(uows, world.agent_li, priority="P1")
    update(uows, world.agent_li, closed.id, status="closed")
    with uows() as uow:
        res = automation.preview(uow.session, world.admin_wang, event="update",
                                 conditions=[{"field": "priority", "op": "is", "value": "P1"},
                                             {"field": "status", "op": "changed"}],
                                 now=uow.clock.now())
    assert res.matched == 1 and [x["id"] for x in res.items] == [p1.id]
    assert res.ignored_conditions == [1]
    with uows() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TicketTriggerFiring)) == 0
        with pytest.raises(Invalid):
            automation.preview(uow.session, world.admin_wang, event="create",
                               conditions=[{"field": "priority", "op": "is", "value": "P7"}],
                               now=uow.clock.now())


def test_contact_refs_in_ticket_create_do_not_break_tiers(uows: UowFactory,
                                                          world: World) -> None:
    trigger(uows, world.admin_wang, "无等级", "create",
            [{"field": "contact_tier", "op": "is_empty"}], [{"type": "add_tag", "tag": "普通客户"}])
    t = make_ticket(uows, world.agent_li, contact=ContactRef(name="李先生",
                                                             email="li@example.com"))
    assert load(uows, t.id).tags == ["普通客户"]
