"""QA reports over a known set of stored inspections: sums per agent / team / inbox, hits
per rule (overruled hits left out), the local-day / week trend with empty buckets, the
drill-down with highlighted excerpts, workspace isolation and agents held to their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu.accounts import actions as account_actions
from kefu.accounts.schemas import TeamCreate
from kefu.core.errors import Invalid, PermissionDenied
from kefu.core.uow import UowFactory
from kefu.inbox.models import Message
from kefu.qa import queries as q
from kefu.qa.models import QaHit, QaInspection
from tests.conftest import T0, World, customer_says

SH = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=SH)


def add_inspection(uows: UowFactory, workspace_id: str, inbox_id: str, *, visitor: str,
                   text: str, agent_id: str | None, score: float, at: datetime,
                   fatal: bool = False, team_id: str | None = None,
                   hits: tuple[tuple[str, str, tuple[int, int] | None], ...] = ()
                   ) -> tuple[str, str]:
    """One conversation (a real customer message) with an inspection and its hits:
    ``hits`` = (rule_key, review, span into the message). Returns (inspection id,
    conversation id)."""
    conv_id, _ = customer_says(uows, inbox_id, text, visitor=visitor)
    with uows() as uow:
        msg = uow.session.query(Message).filter_by(conversation_id=conv_id).one()
        ins = QaInspection(workspace_id=workspace_id, conversation_id=conv_id,
                           inbox_id=inbox_id, team_id=team_id, agent_id=agent_id,
                           score=score, fatal=fatal, hit_count=len(hits), base=100.0,
                           status="auto", conversation_at=at.astimezone(UTC),
                           inspected_at=T0)
        uow.session.add(ins)
        uow.session.flush()
        for key, review, span in hits:
            uow.session.add(QaHit(
                workspace_id=workspace_id, inspection_id=ins.id, conversation_id=conv_id,
                message_id=msg.id, message_index=0, rule_key=key, rule_name=f"规则 {key}",
                kind="keyword", span_start=span[0] if span else None,
                span_end=span[1] if span else None, deduction=5.0, fatal=key == "pii",
                group="合规", review=review))
        return ins.id, conv_id


@dataclass
class Data:
    team: str
    ids: dict[str, str] = field(default_factory=dict)
    conv: dict[str, str] = field(default_factory=dict)
    since: datetime = datetime(2026, 11, 1, tzinfo=SH)
    until: datetime = datetime(2026, 11, 12, tzinfo=SH)


@pytest.fixture
def data(uows: UowFactory, world: World) -> Data:
    with uows() as uow:
        team = account_actions.do_create_team(
            uow, world.admin_wang, TeamCreate(name="售后组", member_ids=[])).id
    d = Data(team=team)
    a, inbox = world.ws_a, world.inbox_a
    li, chen = world.agent_li.user_id, world.agent_chen.user_id
    d.ids["c1"], d.conv["c1"] = add_inspection(
        uows, a, inbox, visitor="v1", text="我们保证明天到货，绝对是全网最低价", agent_id=li,
        team_id=team, score=90, at=local(2026, 11, 10, 10),
        hits=(("promise", "open", (2, 4)), ("absolute", "overruled", (9, 11))))
    d.ids["c2"], d.conv["c2"] = add_inspection(
        uows, a, inbox, visitor="v2", text="一定给您办好，保证满意", agent_id=li, team_id=team,
        score=70, at=local(2026, 11, 10, 23, 30),  # 15:30 UTC: still the 10th in Shanghai
        hits=(("promise", "confirmed", (0, 2)), ("promise", "open", (7, 9))))
    d.ids["c3"], d.conv["c3"] = add_inspection(
        uows, a, inbox, visitor="v3", text="我的手机是13812345678", agent_id=chen,
        score=0, fatal=True, at=local(2026, 11, 8, 0, 30),  # 7 Nov 16:30 UTC
        hits=(("pii", "open", (5, 16)),))
    d.ids["c4"], d.conv["c4"] = add_inspection(
        uows, a, inbox, visitor="v4", text="谢谢", agent_id=None, score=100,
        at=local(2026, 11, 3))
    d.ids["old"], d.conv["old"] = add_inspection(
        uows, a, inbox, visitor="v5", text="很久以前", agent_id=li, score=10,
        at=local(2026, 10, 20), hits=(("promise", "open", (0, 2)),))
    d.ids["b1"], d.conv["b1"] = add_inspection(uows, world.ws_b, world.inbox_b, visitor="vb",
                                 text="保证到货", agent_id=world.agent_b.user_id, score=50,
                                 at=local(2026, 11, 10), hits=(("promise", "open", (0, 2)),))
    return d


def rows_by_key(rep: q.Report) -> dict[str | None, q.ReportRow]:
    return {r.key: r for r in rep.rows}


def test_report_by_agent(uows, world, data):
    with uows(readonly=True) as uow:
        rep = q.report(uow.session, world.supervisor_zhao, since=data.since,
                       until=data.until, group_by="agent")
    rows = rows_by_key(rep)
    li, chen = rows[world.agent_li.user_id], rows[world.agent_chen.user_id]
    assert (li.label, li.inspections, li.avg_score, li.min_score, li.fatal_count) == (
        "李晓月", 2, 80.0, 70.0, 0)
    assert li.hit_count == 3  # the overruled "absolute" hit does not count
    assert li.hits_per_conversation == 1.5
    assert (chen.inspections, chen.avg_score, chen.fatal_count, chen.hit_count) == (1, 0.0, 1, 1)
    assert rows[None].inspections == 1 and rows[None].avg_score == 100.0
    assert [r.key for r in rep.rows] == [world.agent_chen.user_id, world.agent_li.user_id, None]
    t = rep.totals
    assert (t.inspections, t.avg_score, t.min_score, t.fatal_count, t.hit_count) == (
        4, 65.0, 0.0, 1, 4)
    assert rep.as_dict()["totals"]["hits_per_conversation"] == 1.0


def test_report_by_team_and_inbox_and_filters(uows, world, data):
    with uows(readonly=True) as uow:
        s = uow.session
        by_team = rows_by_key(q.report(s, world.admin_wang, since=data.since, until=data.until,
                                       group_by="team"))
        by_inbox = q.report(s, world.admin_wang, since=data.since, until=data.until,
                            group_by="inbox")
        only_team = q.report(s, world.admin_wang, since=data.since, until=data.until,
                             group_by="agent", team_id=data.team)
        no_team = q.report(s, world.admin_wang, since=data.since, until=data.until,
                           group_by="agent", team_id=q.NONE_KEY)
    assert by_team[data.team].label == "售后组" and by_team[data.team].inspections == 2
    assert by_team[None].inspections == 2 and by_team[None].fatal_count == 1
    assert [(r.key, r.label, r.inspections) for r in by_inbox.rows] == [
        (world.inbox_a, "官网客服", 4)]
    assert [r.key for r in only_team.rows] == [world.agent_li.user_id]
    assert {r.key for r in no_team.rows} == {world.agent_chen.user_id, None}


def test_hits_by_rule(uows, world, data):
    with uows(readonly=True) as uow:
        rules = q.hits_by_rule(uow.session, world.inspector_sun, since=data.since,
                               until=data.until)
    assert [(r.rule_key, r.rule_name, r.hits, r.conversations, r.share) for r in rules] == [
        ("promise", "规则 promise", 3, 2, 0.75), ("pii", "规则 pii", 1, 1, 0.25)]


def test_trend_by_local_day_with_empty_days(uows, world, data):
    with uows(readonly=True) as uow:
        points = q.trend(uow.session, world.admin_wang, since=data.since, until=data.until,
                         bucket="day")
    assert [p.start for p in points] == [date(2026, 11, d) for d in range(1, 12)]
    by_day = {p.start.day: p for p in points}
    assert (by_day[10].inspections, by_day[10].avg_score, by_day[10].fatal) == (2, 80.0, 0)
    assert (by_day[8].inspections, by_day[8].avg_score, by_day[8].fatal) == (1, 0.0, 1)
    assert by_day[7].inspections == 0 and by_day[7].avg_score is None  # UTC day, not local
    assert by_day[3].inspections == 1
    assert sum(p.inspections for p in points) == 4
    assert points[0].as_dict() == {"start": "2026-11-01", "inspections": 0, "avg_score": None,
                                   "fatal": 0}


def test_trend_by_week_and_other_zone(uows, world, data):
    with uows(readonly=True) as uow:
        weeks = q.trend(uow.session, world.admin_wang, since=data.since, until=data.until,
                        bucket="week")
        # in UTC, c2 (15:30 UTC on the 10th) stays on the 10th, c3 moves to the 7th
        utc = q.trend(uow.session, world.admin_wang, since=data.since, until=data.until,
                      bucket="day", tz=ZoneInfo("UTC"))
        # India (+05:30): the sub-hour offset is honoured
        india = q.trend(uow.session, world.admin_wang, since=data.since, until=data.until,
                        bucket="day", tz=ZoneInfo("Asia/Kolkata"))
    assert [(p.start, p.inspections, p.avg_score, p.fatal) for p in weeks] == [
        (date(2026, 10, 26), 0, None, 0), (date(2026, 11, 2), 2, 50.0, 1),
        (date(2026, 11, 9), 2, 80.0, 0)]
    utc_days = {p.start.day: p.inspections for p in utc}
    assert utc_days[7] == 1 and utc_days[8] == 0 and utc_days[10] == 2
    # c3 is 7 Nov 16:30 UTC = 22:00 in India, still the 7th; c2 15:30 UTC = 21:00 on the 10th
    india_days = {p.start.day: p.inspections for p in india if p.inspections}
    assert india_days == {3: 1, 7: 1, 10: 2}


def test_drill_down_by_rule_with_highlights(uows, world, data):
    with uows(readonly=True) as uow:
        page = q.drill_down(uow.session, world.supervisor_zhao, since=data.since,
                            until=data.until, rule_key="promise")
    assert page.total == 2
    c2, c1 = page.items  # lowest score first
    assert (c2.inspection_id, c2.score, c2.agent_name, c2.team_name, c2.inbox_name) == (
        data.ids["c2"], 70.0, "李晓月", "售后组", "官网客服")
    assert c2.hit_count == 2 and [h.rule_key for h in c2.hits] == ["promise", "promise"]
    assert [(t, m) for t, m in c2.hits[0].segments()] == [("一定", True), ("给您办好，保证满意",
                                                                           False)]
    assert c1.inspection_id == data.ids["c1"] and c1.hit_count == 1
    assert c1.hits[0].segments()[1] == ("保证", True)
    d = page.as_dict()["items"][0]
    assert d["url"] == f"/app/qa/inspections/{data.ids['c2']}"
    assert d["hits"][0]["span"] == [0, 2]


def test_drill_down_filters(uows, world, data):
    with uows(readonly=True) as uow:
        s, boss = uow.session, world.admin_wang
        fatal = q.drill_down(s, boss, since=data.since, until=data.until, fatal=True)
        day10 = q.drill_down(s, boss, since=data.since, until=data.until,
                             day=date(2026, 11, 10))
        week = q.drill_down(s, boss, since=data.since, until=data.until,
                            day=date(2026, 11, 4), bucket="week")
        nobody = q.drill_down(s, boss, since=data.since, until=data.until,
                              agent_id=q.NONE_KEY)
        paged = q.drill_down(s, boss, since=data.since, until=data.until, limit=1, offset=1)
        all_hits = q.drill_down(s, boss, since=data.since, until=data.until,
                                agent_id=world.agent_li.user_id)
    assert [x.inspection_id for x in fatal.items] == [data.ids["c3"]]
    assert fatal.items[0].hits[0].segments() == [("我的手机是", False), ("13812345678", True)]
    assert {x.inspection_id for x in day10.items} == {data.ids["c1"], data.ids["c2"]}
    assert {x.inspection_id for x in week.items} == {data.ids["c3"], data.ids["c4"]}
    assert [x.inspection_id for x in nobody.items] == [data.ids["c4"]]
    assert nobody.items[0].hits == [] and nobody.items[0].agent_name == ""
    assert paged.total == 4 and len(paged.items) == 1
    assert paged.items[0].inspection_id == data.ids["c2"]  # 0, 70, 90, 100
    c1 = next(x for x in all_hits.items if x.inspection_id == data.ids["c1"])
    assert [h.rule_key for h in c1.hits] == ["promise"]  # the overruled hit is not shown


def test_excerpt_windows_long_text():
    text = "前" * 100 + "保证" + "后" * 100
    ex, span, cut_l, cut_r = q.excerpt(text, (100, 102))
    assert span is not None and ex[span[0]:span[1]] == "保证"
    assert len(ex) == 2 + 2 * q.EXCERPT_CONTEXT and cut_l and cut_r
    assert q.excerpt("短句", None) == ("短句", None, False, False)


def test_workspaces_are_isolated(uows, world, data):
    with uows(readonly=True) as uow:
        rep = q.report(uow.session, world.admin_b, since=data.since, until=data.until)
        rules = q.hits_by_rule(uow.session, world.admin_b, since=data.since, until=data.until)
        # another workspace's ids as filters find nothing
        foreign = q.report(uow.session, world.admin_wang, since=data.since, until=data.until,
                           inbox_id=world.inbox_b)
        drill = q.drill_down(uow.session, world.admin_wang, since=data.since,
                             until=data.until, agent_id=world.agent_b.user_id)
    assert [(r.label, r.inspections, r.hit_count) for r in rep.rows] == [("Agent B", 1, 1)]
    assert [(r.rule_key, r.hits) for r in rules] == [("promise", 1)]
    assert foreign.rows == [] and foreign.totals.inspections == 0
    assert drill.total == 0


def test_agents_see_only_their_own(uows, world, data):
    with uows(readonly=True) as uow:
        s, li = uow.session, world.agent_li
        rep = q.report(s, li, since=data.since, until=data.until, group_by="agent",
                       agent_id=world.agent_chen.user_id)
        rules = q.hits_by_rule(s, li, since=data.since, until=data.until)
        points = q.trend(s, li, since=data.since, until=data.until)
        drill = q.drill_down(s, li, since=data.since, until=data.until, fatal=True)
        mine = q.drill_down(s, li, since=data.since, until=data.until)
    assert [r.key for r in rep.rows] == [world.agent_li.user_id]
    assert rep.totals.inspections == 2
    assert [(r.rule_key, r.hits) for r in rules] == [("promise", 3)]
    assert sum(p.inspections for p in points) == 2 and sum(p.fatal for p in points) == 0
    assert drill.total == 0  # chen's fatal conversation stays hidden
    assert {x.inspection_id for x in mine.items} == {data.ids["c1"], data.ids["c2"]}


def test_bad_parameters(uows, world, data):
    with uows(readonly=True) as uow:
        s, boss = uow.session, world.admin_wang
        with pytest.raises(Invalid) as e1:
            q.report(s, boss, since=data.until, until=data.since)
        with pytest.raises(Invalid) as e2:
            q.report(s, boss, since=data.until - timedelta(days=400), until=data.until)
        with pytest.raises(Invalid) as e3:
            q.report(s, boss, since=data.since, until=data.until, group_by="customer")
        with pytest.raises(Invalid) as e4:
            q.trend(s, boss, since=data.since, until=data.until, bucket="month")
        with pytest.raises(Invalid) as e5:
            q.report(s, boss, since=data.since.replace(tzinfo=None), until=data.until)
    assert [e.value.code for e in (e1, e2, e3, e4, e5)] == [
        "qa_report_bad_range", "qa_report_range_too_long", "qa_report_bad_group_by",
        "qa_report_bad_bucket", "qa_report_naive_time"]
    # a full year (366 days, including across a DST change elsewhere) is allowed
    with uows(readonly=True) as uow:
        a, b = q.local_range(date(2025, 11, 12), date(2026, 11, 12), SH)
        assert (b - a).days == 366
        assert q.report(uow.session, world.admin_wang, since=a, until=b).totals.inspections == 5


def test_requires_qa_read(uows, world, data):
    from kefu.accounts.actor import Actor

    outsider = Actor(user_id="x", workspace_id=world.ws_a, role="customer")
    with uows(readonly=True) as uow, pytest.raises(PermissionDenied):
        q.report(uow.session, outsider, since=data.since, until=data.until)


def test_workspace_zone(uows, world):
    with uows(readonly=True) as uow:
        assert q.workspace_zone(uow.session, world.ws_a).key == "Asia/Shanghai"
        assert q.workspace_zone(uow.session, "missing").key == "Asia/Shanghai"
