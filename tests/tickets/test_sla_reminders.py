"""Reminders (``tickets.reminders``): dispatch, 75 % warning, breach, escalation, the to-do
digest and auto close, with the FixedClock advanced; e-mails reach a real SMTP server exactly
once; a run that fails half-way sends nothing, and the next run sends everything once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from kefu.accounts import actions as account_actions
from kefu.accounts.models import Notification
from kefu.accounts.schemas import TeamCreate
from kefu.app import Services
from kefu.core.clock import FixedClock
from kefu.core.uow import UowFactory
from kefu.tickets import actions, policies, reminders
from kefu.tickets.models import Ticket, TicketEvent, TicketReminder
from kefu.tickets.schemas import TicketCreate, TicketUpdate
from tests.conftest import SmtpSink, World

LI, CHEN, ZHAO, SUN, WANG = ("li@a.example.com", "chen@a.example.com", "zhao@a.example.com",
                             "sun@a.example.com", "wang@a.example.com")


def setup(uows: UowFactory, world: World, *, digest_hour: int = 23) -> str:
    """A 24/7 policy (P3: first response 60 min, resolution 1 day, escalation 30 min after a
    breach) and a team 售后组 led by 陈子豪 (agent_chen). Returns the team id."""
    with uows() as uow:
        policies.do_create_policy(uow, world.admin_wang, {
            "name": "默认", "escalate_after_minutes": 30,
            "targets": {"P3": {"first_response": 60, "resolution": 1440}}})
        team = account_actions.do_create_team(uow, world.admin_wang, TeamCreate(
            name="售后组", member_ids=[world.agent_li.user_id, world.agent_chen.user_id]))
        policies.do_set_team_settings(uow, world.admin_wang, team.id, assignment="manual",
                                      lead_id=world.agent_chen.user_id)
        policies.do_set_ticket_settings(uow, world.admin_wang, {"digest_hour": digest_hour})
        return team.id


def new_ticket(uows: UowFactory, world: World, team_id: str, *,
               assignee: str | None = None, watchers: list[str] | None = None) -> str:
    with uows() as uow:
        t = actions.do_create_ticket(
            uow, world.admin_wang, workspace_id=world.ws_a,
            data=TicketCreate(subject="冷链包裹坏了", team_id=team_id, assignee_id=assignee,
                              watcher_ids=watchers or []),
            source="agent")
        return t.id


def tick(uows: UowFactory) -> dict[str, int]:
    with uows() as uow:
        return reminders.run_tick(uow)


def notices(uows: UowFactory, kind: str) -> list[tuple[str, str]]:
    from kefu.accounts.models import User

    with uows(readonly=True) as uow:
        return [(r[0], r[1]) for r in uow.session.execute(
            select(User.email, Notification.title).join(User, User.id == Notification.user_id)
            .where(Notification.kind == kind).order_by(Notification.created_at, User.email))]


def timeline_kinds(uows: UowFactory, ticket_id: str) -> list[str]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(TicketEvent.kind).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.seq)))


def test_dispatch_reminder_goes_to_the_new_assignee_at_once(
        uows: UowFactory, world: World, smtp_sink: SmtpSink) -> None:
    team = setup(uows, world)
    tid = new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    assert [e for e, _ in notices(uows, "ticket_dispatch")] == [LI]
    assert len(smtp_sink.to(LI)) == 1
    assert "派单提醒" in str(smtp_sink.to(LI)[0]["Subject"])
    # re-assigned to 陈子豪: he is told too; 李晓月 is not told again
    with uows() as uow:
        actions.do_update_ticket(uow, world.admin_wang, tid,
                                 TicketUpdate(assignee_id=world.agent_chen.user_id))
    assert sorted(e for e, _ in notices(uows, "ticket_dispatch")) == [CHEN, LI]
    assert len(smtp_sink.to(LI)) == 1 and len(smtp_sink.to(CHEN)) == 1
    assert timeline_kinds(uows, tid).count("reminder_sent") == 2


def test_taking_a_ticket_yourself_sends_no_dispatch_reminder(
        uows: UowFactory, world: World) -> None:
    team = setup(uows, world)
    tid = new_ticket(uows, world, team)
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, tid,
                                 TicketUpdate(assignee_id=world.agent_li.user_id))
    assert notices(uows, "ticket_dispatch") == []


# (minutes after creation, the reminder kinds sent by that tick, who gets e-mail)
CASES: list[tuple[str, list[tuple[float, dict[str, int], list[str]]]]] = [
    ("assigned", [
        (44, {}, []),
        (45, {"warning": 1}, [LI]),
        (50, {}, []),
        (61, {"breach": 1}, [LI, SUN, CHEN, WANG]),  # 王店长 made it: a watcher
        (89, {}, []),
        (90, {"escalation": 1}, [ZHAO]),  # escalate_after_minutes = 30 after the breach
        (200, {}, []),
    ]),
    ("unassigned: the team lead", [
        (46, {"warning": 1}, [CHEN]),
        (62, {"breach": 1}, [SUN, CHEN, WANG]),
        (95, {"escalation": 1}, [ZHAO]),
    ]),
    ("late start: everything due at once", [
        (500, {"breach": 1, "escalation": 1}, [LI, SUN, CHEN, WANG, ZHAO]),
    ]),
]


@pytest.mark.parametrize(("name", "steps"), CASES, ids=[c[0] for c in CASES])
def test_warning_breach_escalation(uows: UowFactory, world: World, clock: FixedClock,
                                   smtp_sink: SmtpSink, name: str,
                                   steps: list[tuple[float, dict[str, int], list[str]]]) -> None:
    team = setup(uows, world)
    start = clock.now()
    assignee = None if name.startswith("unassigned") else world.agent_li.user_id
    tid = new_ticket(uows, world, team, assignee=assignee,
                     watchers=[world.inspector_sun.user_id])
    smtp_sink.messages.clear()
    for minutes, sent, mailed in steps:
        # the fixed clock to the step's time (from the start)
        clock.advance(seconds=(start - clock.now()).total_seconds() + minutes * 60)
        before = len(smtp_sink.messages)
        assert tick(uows) == sent, (name, minutes)
        assert tick(uows) == {}, (name, minutes)  # a second tick sends nothing again
        got = sorted(str(m["To"]) for m in smtp_sink.messages[before:])
        assert got == sorted(mailed), (name, minutes)
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, tid)
        assert t is not None and t.sla_status == "breached"
        kinds = list(uow.session.scalars(select(TicketReminder.kind).where(
            TicketReminder.ticket_id == tid, TicketReminder.kind != "dispatch")))
    assert sorted(kinds) == sorted(k for _m, sent, _ in steps for k in sent)
    tl = timeline_kinds(uows, tid)
    assert tl.count("sla_breached") == 1
    assert tl.count("reminder_sent") == len(kinds) + (1 if assignee else 0)  # + dispatch


def test_no_escalation_once_the_breached_clock_is_met(
        uows: UowFactory, world: World, clock: FixedClock) -> None:
    team = setup(uows, world)
    tid = new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    clock.advance(minutes=70)
    assert tick(uows) == {"breach": 1}
    with uows() as uow:
        actions.do_reply(uow, world.agent_li, tid, body="抱歉久等", public=True)
    clock.advance(minutes=60)
    assert tick(uows) == {}
    assert notices(uows, "ticket_escalation") == []


def test_warning_status_is_set_by_the_tick(uows: UowFactory, world: World,
                                           clock: FixedClock) -> None:
    team = setup(uows, world)
    tid = new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    clock.advance(minutes=50)
    tick(uows)
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, tid)
        assert t is not None and t.sla_status == "warning"


def test_paused_tickets_get_no_reminders(uows: UowFactory, world: World,
                                         clock: FixedClock) -> None:
    team = setup(uows, world)
    tid = new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, tid, TicketUpdate(status="pending"))
    clock.advance(hours=5)
    assert tick(uows) == {}


def test_the_daily_digest_once_a_day_at_the_digest_hour(
        uows: UowFactory, world: World, clock: FixedClock, smtp_sink: SmtpSink) -> None:
    team = setup(uows, world, digest_hour=9)  # T0 is 10:00 in Shanghai: due today already
    new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    new_ticket(uows, world, team, assignee=world.agent_chen.user_id)
    smtp_sink.messages.clear()
    assert tick(uows)["todo_digest"] == 2
    assert tick(uows) == {}
    mails = smtp_sink.to(LI)
    assert len(mails) == 1 and "2" in str(mails[0]["Subject"])
    assert "冷链包裹坏了" in mails[0].get_content()
    clock.advance(hours=22)  # 08:00 the next day: not yet
    assert "todo_digest" not in tick(uows)
    clock.advance(hours=1)  # 09:00
    assert tick(uows)["todo_digest"] == 2
    assert len([m for m in smtp_sink.to(LI) if "待办提醒" in str(m["Subject"])]) == 2


def test_resolved_tickets_close_after_autoclose_days(uows: UowFactory, world: World,
                                                     clock: FixedClock) -> None:
    team = setup(uows, world)
    with uows() as uow:
        policies.do_set_ticket_settings(uow, world.admin_wang, {"autoclose_days": 3})
    tid = new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    with uows() as uow:
        actions.do_update_ticket(uow, world.agent_li, tid, TicketUpdate(status="resolved"))
    clock.advance(days=2, hours=23)
    assert "autoclosed" not in tick(uows)
    clock.advance(hours=2)
    assert tick(uows)["autoclosed"] == 1
    with uows(readonly=True) as uow:
        t = uow.session.get(Ticket, tid)
        assert t is not None and t.status == "closed"
        last = uow.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == tid).order_by(TicketEvent.seq.desc())).first()
        assert last is not None and last.data.get("by_label") == "autoclose"
        assert last.actor_type == "system"


def test_a_run_failing_half_way_sends_nothing_and_the_next_sends_everything_once(
        uows: UowFactory, world: World, clock: FixedClock, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    team = setup(uows, world)
    ids = [new_ticket(uows, world, team, assignee=world.agent_li.user_id) for _ in range(4)]
    smtp_sink.messages.clear()
    clock.advance(minutes=65)  # 4 breaches due
    real = reminders.do_notify
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker crashed")
        return real(*args, **kwargs)

    monkeypatch.setattr(reminders, "do_notify", flaky)
    with pytest.raises(RuntimeError):
        tick(uows)
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(TicketReminder)
                                  .where(TicketReminder.kind == "breach")) == 0
        assert uow.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "ticket_breach")) == 0
    assert smtp_sink.messages == []
    monkeypatch.setattr(reminders, "do_notify", real)
    assert tick(uows) == {"breach": 4}
    assert tick(uows) == {}
    assert len(smtp_sink.to(LI)) == 4 and len(smtp_sink.to(CHEN)) == 4
    for tid in ids:
        assert timeline_kinds(uows, tid).count("sla_breached") == 1


def test_the_periodic_job_runs_the_tick(svc: Services, uows: UowFactory, world: World,
                                        clock: FixedClock) -> None:
    team = setup(uows, world)
    new_ticket(uows, world, team, assignee=world.agent_li.user_id)
    clock.advance(minutes=61)
    assert svc.jobs.periodic["tickets_tick"] == 60
    assert svc.runner.schedule_periodic() >= 1
    svc.runner.drain()
    assert sorted(e for e, _ in notices(uows, "ticket_breach")) == [CHEN, LI, WANG]
