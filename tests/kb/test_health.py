"""The knowledge health check (知识体检) and the bot usage it reads."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from itertools import combinations

from rapidfuzz import fuzz

from kefu.accounts.actor import Actor
from kefu.bot.models import BotTurn
from kefu.bot.usage import EntryUsage, entry_usage
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.kb import actions
from kefu.kb.health import HealthEntry, HealthReport, health_report, scan, similar_pairs
from kefu.kb.schemas import EntryCreate, EntryUpdate
from tests.conftest import T0, World


def add(uows: UowFactory, actor: Actor, question: str, answer: str, *phrasings: str,
        **kw: object) -> str:
    with uows() as uow:
        return actions.do_create_entry(uow, actor, EntryCreate(
            question=question, answer=answer, phrasings=list(phrasings),
            status=kw.pop("status", "published"), **kw)).id  # type: ignore[arg-type]


def report(uows: UowFactory, ws: str, *, now: datetime = T0,
           usage: dict[str, EntryUsage] | None = None) -> HealthReport:
    with uows(readonly=True) as uow:
        return health_report(uow.session, ws, now=now, usage=usage or {})


def clean_kb(uows: UowFactory, actor: Actor) -> dict[str, str]:
    return {
        "refund": add(uows, actor, "怎么申请退款", "在订单页点申请退款", "我要退钱",
                      "退款怎么操作"),
        "ship": add(uows, actor, "什么时候发货", "付款后 48 小时内发货", "多久发货"),
        "invoice": add(uows, actor, "怎么开发票", "在订单页申请开票", "发票怎么开"),
        "card": add(uows, actor, "My card has not arrived", "Allow 5 working days"),
    }


def test_a_clean_kb_has_no_issues(uows: UowFactory, world: World) -> None:
    ids = clean_kb(uows, world.admin_wang)
    usage = {i: EntryUsage(hits=10, last_hit=T0 + timedelta(days=59), helpful=9, unhelpful=1)
             for i in ids.values()}
    r = report(uows, world.ws_a, now=T0 + timedelta(days=60), usage=usage)
    assert r.checked == 4
    assert r.issues == []
    assert set(r.counts().values()) == {0}


def test_exact_collision_after_normalising(uows: UowFactory, world: World) -> None:
    ids = clean_kb(uows, world.admin_wang)
    other = add(uows, world.admin_wang, "退款多久到账", "三个工作日内原路退回",
                "退款怎么操作？")  # = a phrasing of "refund" after normalise()
    r = report(uows, world.ws_a)
    [issue] = r.of_kind("collision")
    assert set(issue.entry_ids) == {ids["refund"], other}
    assert issue.score == 100
    assert "答案不同" in issue.detail_zh
    assert "answers differ" in issue.detail_en
    assert r.of_kind("duplicate") == []


def test_near_identical_collision(uows: UowFactory, world: World) -> None:
    a = add(uows, world.admin_wang, "请问订单发货以后多久可以收到", "一般三天")
    b = add(uows, world.admin_wang, "请問訂單發貨以後多久才可以收到", "偏远地区七天")
    add(uows, world.admin_wang, "请问订单发货以后多久可以退货", "七天无理由")  # not near
    [issue] = report(uows, world.ws_a).of_kind("collision")
    assert set(issue.entry_ids) == {a, b}
    assert issue.score is not None
    assert 92 <= issue.score < 100


def test_duplicate_same_question_same_answer(uows: UowFactory, world: World) -> None:
    clean_kb(uows, world.admin_wang)
    a = add(uows, world.admin_wang, "会员积分怎么用", "下单时抵扣现金。")
    b = add(uows, world.admin_wang, "会员积分怎么用？", "下单时抵扣现金")
    r = report(uows, world.ws_a)
    [issue] = r.of_kind("duplicate")
    assert set(issue.entry_ids) == {a, b}
    assert r.of_kind("collision") == []


def test_expired_published(uows: UowFactory, world: World) -> None:
    clean_kb(uows, world.admin_wang)
    old = add(uows, world.admin_wang, "双11活动规则", "满 300 减 50",
              valid_from=T0 - timedelta(days=10), valid_until=T0 - timedelta(hours=1))
    add(uows, world.admin_wang, "双12活动规则", "满 200 减 20", status="draft",
        valid_from=T0 - timedelta(days=10), valid_until=T0 - timedelta(hours=1))
    [issue] = report(uows, world.ws_a).of_kind("expired_published")
    assert issue.entry_ids == (old,)
    assert issue.questions == ("双11活动规则",)


def test_never_hit(uows: UowFactory, world: World) -> None:
    ids = clean_kb(uows, world.admin_wang)
    later = T0 + timedelta(days=45)
    recent = T0 + timedelta(days=40)
    usage = {
        ids["refund"]: EntryUsage(hits=3, last_hit=recent, helpful=0, unhelpful=0),
        ids["ship"]: EntryUsage(hits=0, last_hit=None, helpful=0, unhelpful=0),
        ids["invoice"]: EntryUsage(hits=1, last_hit=recent, helpful=0, unhelpful=0),
    }
    r = report(uows, world.ws_a, now=later, usage=usage)
    assert {i.entry_ids[0] for i in r.of_kind("never_hit")} == {ids["ship"], ids["card"]}
    # too young to judge
    assert report(uows, world.ws_a, now=T0 + timedelta(days=10)).of_kind("never_hit") == []


def test_negative_feedback(uows: UowFactory, world: World) -> None:
    ids = clean_kb(uows, world.admin_wang)
    usage = {
        ids["refund"]: EntryUsage(hits=9, last_hit=T0, helpful=2, unhelpful=1),  # 33 %
        ids["ship"]: EntryUsage(hits=9, last_hit=T0, helpful=8, unhelpful=2),  # 20 %
        ids["invoice"]: EntryUsage(hits=2, last_hit=T0, helpful=0, unhelpful=2),  # too few
    }
    [issue] = report(uows, world.ws_a, usage=usage).of_kind("negative_feedback")
    assert issue.entry_ids == (ids["refund"],)
    assert "1" in issue.detail_zh
    assert "33%" in issue.detail_en


def test_archived_entries_are_left_out_and_workspaces_apart(uows: UowFactory,
                                                            world: World) -> None:
    a = add(uows, world.admin_wang, "怎么改地址", "发货前可改")
    add(uows, world.admin_wang, "怎么改地址", "联系客服")
    add(uows, world.admin_b, "怎么改地址", "B 的答案")
    assert len(report(uows, world.ws_a).of_kind("collision")) == 1
    assert report(uows, world.ws_b).issues == []
    with uows() as uow:
        actions.do_update_entry(uow, world.admin_wang, a, EntryUpdate(status="archived"))
    r = report(uows, world.ws_a)
    assert r.checked == 1
    assert r.issues == []


def test_report_as_dict_is_json_ready(uows: UowFactory, world: World) -> None:
    add(uows, world.admin_wang, "怎么改地址", "发货前可改")
    add(uows, world.admin_wang, "怎么改地址", "联系客服")
    data = report(uows, world.ws_a).as_dict()
    assert data["counts"]["collision"] == 1
    assert data["issues"][0]["kind"] == "collision"
    assert len(data["issues"][0]["entry_ids"]) == 2


# -- bot usage ----------------------------------------------------------------------------

def turn(ws: str, inbox: str, entry_id: str | None, at: datetime,
         feedback: str | None = None, decision: str = "answer") -> BotTurn:
    return BotTurn(id=new_id(), workspace_id=ws, inbox_id=inbox, query="q",
                   decision=decision, entry_id=entry_id, feedback=feedback, created_at=at)


def test_entry_usage_aggregates_in_sql(uows: UowFactory, world: World) -> None:
    ids = clean_kb(uows, world.admin_wang)
    r, s = ids["refund"], ids["ship"]
    with uows() as uow:
        uow.session.add_all([
            turn(world.ws_a, world.inbox_a, r, T0 - timedelta(days=1), "helpful"),
            turn(world.ws_a, world.inbox_a, r, T0 - timedelta(hours=2), "unhelpful"),
            turn(world.ws_a, world.inbox_a, r, T0 - timedelta(hours=1), "unhelpful"),
            turn(world.ws_a, world.inbox_a, r, T0 - timedelta(days=90), "helpful"),  # too old
            turn(world.ws_a, world.inbox_a, s, T0 - timedelta(days=3)),
            turn(world.ws_a, world.inbox_a, None, T0, decision="none"),
            turn(world.ws_b, world.inbox_b, r, T0, "helpful"),  # another workspace
        ])
    with uows(readonly=True) as uow:
        usage = entry_usage(uow.session, world.ws_a, T0 - timedelta(days=30))
    assert set(usage) == {r, s}
    assert usage[r] == EntryUsage(hits=3, last_hit=T0 - timedelta(hours=1), helpful=1,
                                  unhelpful=2)
    assert usage[s] == EntryUsage(hits=1, last_hit=T0 - timedelta(days=3), helpful=0,
                                  unhelpful=0)
    assert usage[r].last_hit is not None
    assert usage[r].last_hit.tzinfo is not None
    # the usage feeds the report
    rep = report(uows, world.ws_a, usage=usage)
    assert [i.entry_ids for i in rep.of_kind("negative_feedback")] == [(r,)]


# -- the similarity join ------------------------------------------------------------------

def test_similar_pairs_finds_exactly_what_brute_force_finds() -> None:
    rng = random.Random(7)
    alphabet = "退款发货快递"
    for _ in range(100):
        base = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
                for _ in range(15)]
        keys = list(base)
        for text in base:
            chars = list(text)
            for _ in range(rng.randint(0, 3)):
                pos = rng.randint(0, len(chars))
                if rng.random() < 0.5:
                    chars.insert(pos, rng.choice(alphabet))
                elif chars:
                    chars.pop(min(pos, len(chars) - 1))
            if chars:
                keys.append("".join(chars))
        keys = list(dict.fromkeys(keys))
        want = {(i, j) for i, j in combinations(range(len(keys)), 2)
                if fuzz.ratio(keys[i], keys[j]) >= 92}
        got = {(min(i, j), max(i, j)) for i, j, _ in similar_pairs(keys)}
        assert got == want


def test_twenty_thousand_entries_are_checked_quickly() -> None:
    rng = random.Random(1)
    heads = "怎如申退发快订修地开会积优使过密登账支失多到什可能取售维保换尺颜库预定尾我你他"
    tails = "么何请款货递单改址票员分惠用期码录号付败久账时以不消后修货码色存售金款要是"
    words = [a + b for a in heads for b in tails]
    now = datetime(2026, 11, 11, tzinfo=UTC)

    def q() -> str:
        return "".join(rng.choice(words) for _ in range(rng.randint(3, 7)))

    entries = [HealthEntry(str(i), q(), [q() for _ in range(4)], f"答案{i}", "published",
                           None, None, now) for i in range(20_000)]
    near = entries[0].question + "呢"
    entries.append(HealthEntry("near", near, [], "另一个答案", "published", None, None, now))
    started = time.perf_counter()
    issues = scan(entries, now=now, usage={})
    elapsed = time.perf_counter() - started
    assert any(i.kind == "collision" and set(i.entry_ids) == {"0", "near"} for i in issues)
    assert elapsed < 20, elapsed  # ~1.5 s on a 2-core VM
