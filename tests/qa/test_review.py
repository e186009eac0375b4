"""Review and appeal of stored inspection results: confirm/overrule with re-scoring, finish
review, appeals within the deadline, supervisor decisions, the audit trail, and the reads
(queue, my results, the transcript with hit spans)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kefu.accounts.actor import Actor
from kefu.core.audit import AuditEntry
from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.qa import review
from kefu.qa import review_queries as rq
from kefu.qa.models import QaAppeal, QaHit, QaInspection
from tests.conftest import T0, World, customer_says

AGENT_TEXT = "您好，我们保证明天到货，这是最好的服务"
PROMISE = AGENT_TEXT.index("保证")
BEST = AGENT_TEXT.index("最好")

CARD: dict[str, Any] = {
    "base": 100.0, "group_weights": {"合规": 1.0},
    "items": {
        "risky_promise": {"deduction": 5, "per_hit": True, "cap": 20, "fatal": False,
                          "group": "合规"},
        "ad_law_absolute": {"deduction": 10, "per_hit": True, "cap": 20, "fatal": False,
                            "group": "合规"},
        "first_reply_15s": {"deduction": 5, "per_hit": False, "cap": None, "fatal": False,
                            "group": "服务态度"},
    },
}


@dataclass
class Made:
    inspection_id: str
    conversation_id: str
    promise_hit: str
    best_hit: str
    reply_hit: str


def make_inspection(uows: UowFactory, world: World, *, agent: Actor | None = None,
                    visitor: str = "v_qa", sampled: str | None = "low_score",
                    deadline: datetime | None = T0 + timedelta(days=3),
                    inspected_at: datetime = T0, status: str = "auto",
                    customer_text: str = "我的快递什么时候到？") -> Made:
    """A conversation (customer asks, the agent answers) and its stored inspection: three
    hits (two spans in the agent's message, one conversation-level), score 100-5-10-5=80."""
    agent = agent or world.agent_li
    conv_id, _ = customer_says(uows, world.inbox_a, customer_text, visitor=visitor)
    with uows() as uow:
        posted = inbox_actions.do_agent_reply(uow, agent, conv_id, content=AGENT_TEXT)
        agent_msg = posted.message.id
    with uows() as uow:
        insp = QaInspection(
            id=new_id(), workspace_id=world.ws_a, conversation_id=conv_id,
            inbox_id=world.inbox_a, team_id=None, agent_id=agent.user_id, scorecard_id=None,
            card=CARD, base=100.0, score=80.0, fatal=False, hit_count=3, message_count=2,
            rules_version="test", status=status, sampled=sampled, appeal_deadline=deadline,
            conversation_at=inspected_at, inspected_at=inspected_at)
        uow.session.add(insp)
        uow.session.flush()

        def hit(rule_key: str, name: str, kind: str, index: int | None,
                span: tuple[int, int] | None, deduction: float, group: str) -> str:
            row = QaHit(id=new_id(), workspace_id=world.ws_a, inspection_id=insp.id,
                        conversation_id=conv_id,
                        message_id=agent_msg if index is not None else None,
                        message_index=index, rule_key=rule_key, rule_name=name, kind=kind,
                        span_start=span[0] if span else None,
                        span_end=span[1] if span else None, deduction=deduction,
                        fatal=False, group=group)
            uow.session.add(row)
            return row.id

        return Made(
            inspection_id=insp.id, conversation_id=conv_id,
            promise_hit=hit("risky_promise", "风险承诺", "wordpack", 1,
                            (PROMISE, PROMISE + 2), 5, "合规"),
            best_hit=hit("ad_law_absolute", "广告法绝对化用语", "wordpack", 1,
                         (BEST, BEST + 2), 10, "合规"),
            reply_hit=hit("first_reply_15s", "首次响应超过15秒", "timing", None, None, 5,
                          "服务态度"))


def _insp(uows: UowFactory, inspection_id: str) -> QaInspection:
    with uows(readonly=True) as uow:
        row = uow.session.get(QaInspection, inspection_id)
        assert row is not None
        return row


def _audit(uows: UowFactory, inspection_id: str) -> list[AuditEntry]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(AuditEntry).where(
            AuditEntry.object_type == "qa_inspection", AuditEntry.object_id == inspection_id)
            .order_by(AuditEntry.at, AuditEntry.id)))


# -- scoring ---------------------------------------------------------------------------------

def test_rescore_uses_the_stored_card_and_skips_overruled_hits(uows, world):
    made = make_inspection(uows, world)
    with uows(readonly=True) as uow:
        insp = uow.session.get(QaInspection, made.inspection_id)
        assert insp is not None
        hits = rq.inspection_hits(uow.session, insp.id)
        assert rq.rescore(insp, hits).total == 80.0
        hits[0].review = "overruled"  # not flushed: the session is read-only
        overruled_key = hits[0].rule_key
        result = rq.rescore(insp, hits)
        uow.session.rollback()
    assert result.total == 80.0 + (10 if overruled_key == "ad_law_absolute" else 5)
    assert result.fatal is False


def test_a_rule_missing_from_the_card_deducts_its_own_deduction_per_hit():
    insp = QaInspection(id="i", card={"base": 50, "items": {}}, base=50.0)
    hits = [QaHit(id=f"h{i}", rule_key="r", rule_name="R", kind="keyword", deduction=7.0,
                  fatal=False, group="", review="open", span_start=None, span_end=None,
                  message_index=None) for i in range(2)]
    result = rq.rescore(insp, hits)
    assert result.total == 36.0 and result.per_group == {"其他": 14.0}
    hits[1].review = "overruled"
    assert rq.rescore(insp, hits).total == 43.0


# -- review ----------------------------------------------------------------------------------

def test_overrule_recomputes_the_score_and_is_audited(uows, world, svc):
    made = make_inspection(uows, world)
    seen: list[Any] = []
    svc.bus.subscribe("qa.inspection_done", seen.append)
    with pytest.raises(Invalid) as err, uows() as uow:
        review.review_hit(uow, world.inspector_sun, made.best_hit, "overruled", "  ")
    assert err.value.code == "qa_comment_required"
    with pytest.raises(Invalid) as err, uows() as uow:
        review.review_hit(uow, world.inspector_sun, made.best_hit, "maybe", "x")
    assert err.value.code == "qa_bad_decision"
    with uows() as uow:
        review.review_hit(uow, world.inspector_sun, made.best_hit, "overruled",
                          "“最好”是客户原话的复述")
    insp = _insp(uows, made.inspection_id)
    assert insp.score == 90.0 and insp.status == "auto" and insp.hit_count == 2
    assert [e.score for e in seen] == [90.0]
    with uows() as uow:  # confirming it again restores the deduction
        review.review_hit(uow, world.inspector_sun, made.best_hit, "confirmed", "")
    assert _insp(uows, made.inspection_id).score == 80.0
    entries = _audit(uows, made.inspection_id)
    assert [e.action for e in entries] == ["qa.hit.review", "qa.hit.review"]
    assert entries[0].actor_id == world.inspector_sun.user_id
    assert entries[0].data["decision"] == "overruled"
    assert entries[0].data["score_before"] == 80.0 and entries[0].data["score"] == 90.0
    assert entries[0].data["comment"] == "“最好”是客户原话的复述"


def test_who_may_review(uows, world):
    made = make_inspection(uows, world)
    for actor in (world.agent_li, world.agent_chen):
        with pytest.raises(PermissionDenied), uows() as uow:
            review.review_hit(uow, actor, made.best_hit, "confirmed", "")
    with pytest.raises(NotFound), uows() as uow:  # another workspace: missing
        review.review_hit(uow, world.admin_b, made.best_hit, "confirmed", "")
    # a supervisor inspected as an agent cannot review their own result
    own = make_inspection(uows, world, agent=world.supervisor_zhao, visitor="v_own")
    with pytest.raises(PermissionDenied) as err, uows() as uow:
        review.review_hit(uow, world.supervisor_zhao, own.best_hit, "overruled", "no")
    assert err.value.code == "qa_own_result"
    assert _insp(uows, own.inspection_id).score == 80.0


def test_finish_review_confirms_open_hits_and_leaves_the_queue(uows, world):
    made = make_inspection(uows, world, deadline=None)
    with uows(readonly=True) as uow:
        queue = rq.review_queue(uow.session, world.inspector_sun)
    assert [r.id for r in queue.items] == [made.inspection_id]
    with uows() as uow:
        review.review_hit(uow, world.inspector_sun, made.promise_hit, "overruled", "误报")
    with uows() as uow:
        review.finish_review(uow, world.inspector_sun, made.inspection_id, "ok")
    insp = _insp(uows, made.inspection_id)
    assert insp.status == "reviewed" and insp.reviewed_by == world.inspector_sun.user_id
    assert insp.reviewed_at == T0 and insp.score == 85.0
    assert insp.appeal_deadline == T0 + review.DEFAULT_APPEAL_WINDOW
    with uows(readonly=True) as uow:
        reviews = {h.id: h.review for h in rq.inspection_hits(uow.session, insp.id)}
        assert rq.review_queue(uow.session, world.inspector_sun).total == 0
    assert reviews == {made.promise_hit: "overruled", made.best_hit: "confirmed",
                       made.reply_hit: "confirmed"}
    with pytest.raises(Conflict) as err, uows() as uow:
        review.finish_review(uow, world.inspector_sun, made.inspection_id, "")
    assert err.value.code == "qa_already_reviewed"
    assert [e.action for e in _audit(uows, made.inspection_id)] == [
        "qa.hit.review", "qa.review.finish"]


# -- appeals ---------------------------------------------------------------------------------

def test_only_the_inspected_agent_may_appeal(uows, world):
    made = make_inspection(uows, world)
    with pytest.raises(NotFound), uows() as uow:  # chen cannot even see li's result
        review.appeal(uow, world.agent_chen, made.inspection_id, "不服")
    with pytest.raises(PermissionDenied) as err, uows() as uow:
        review.appeal(uow, world.supervisor_zhao, made.inspection_id, "不服")
    assert err.value.code == "qa_not_your_result"
    with pytest.raises(Invalid) as ierr, uows() as uow:
        review.appeal(uow, world.agent_li, made.inspection_id, "")
    assert ierr.value.code == "qa_comment_required"
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(QaAppeal.id)) is None


def test_appeal_after_the_deadline_is_refused(uows, world, clock):
    made = make_inspection(uows, world, deadline=T0 + timedelta(hours=1))
    clock.advance(hours=1, seconds=1)
    with pytest.raises(Conflict) as err, uows() as uow:
        review.appeal(uow, world.agent_li, made.inspection_id, "太晚了吗")
    assert err.value.code == "qa_appeal_closed"
    assert _insp(uows, made.inspection_id).status == "auto"
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(QaAppeal.id)) is None
        mine = rq.my_results(uow.session, world.agent_li, now=uow.clock.now())
    assert [r.can_appeal for r in mine.items] == [False]


def test_accepted_appeal_overrules_the_hit_and_recomputes(uows, world, clock):
    made = make_inspection(uows, world)
    with uows() as uow:
        a = review.appeal(uow, world.agent_li, made.inspection_id, "我说的是“最好”的天气",
                          hit_id=made.best_hit)
        appeal_id = a.id
    assert _insp(uows, made.inspection_id).status == "appealed"
    with pytest.raises(Conflict) as err, uows() as uow:  # one open appeal per hit
        review.appeal(uow, world.agent_li, made.inspection_id, "again", hit_id=made.best_hit)
    assert err.value.code == "qa_appeal_exists"
    with pytest.raises(Conflict) as err, uows() as uow:  # reviewers wait for the decision
        review.review_hit(uow, world.inspector_sun, made.promise_hit, "overruled", "x")
    assert err.value.code == "qa_under_appeal"
    with pytest.raises(PermissionDenied), uows() as uow:  # inspectors cannot decide
        review.decide_appeal(uow, world.inspector_sun, appeal_id, True, "")
    with pytest.raises(Invalid) as ierr, uows() as uow:  # rejecting needs a reason
        review.decide_appeal(uow, world.supervisor_zhao, appeal_id, False, "")
    assert ierr.value.code == "qa_comment_required"
    clock.advance(minutes=5)
    with uows() as uow:
        review.decide_appeal(uow, world.supervisor_zhao, appeal_id, True, "同意")
    insp = _insp(uows, made.inspection_id)
    assert insp.score == 90.0 and insp.status == "final"
    with uows(readonly=True) as uow:
        row = uow.session.get(QaAppeal, appeal_id)
        best = uow.session.get(QaHit, made.best_hit)
        assert row is not None and best is not None
        assert row.status == "accepted" and row.decided_by == world.supervisor_zhao.user_id
        assert best.review == "overruled" and best.reviewed_by == world.supervisor_zhao.user_id
    with pytest.raises(Conflict) as err, uows() as uow:
        review.decide_appeal(uow, world.supervisor_zhao, appeal_id, False, "改主意")
    assert err.value.code == "qa_appeal_decided"
    with pytest.raises(Conflict) as err, uows() as uow:  # final: nothing more
        review.appeal(uow, world.agent_li, made.inspection_id, "再来", hit_id=made.promise_hit)
    assert err.value.code == "qa_inspection_final"
    entries = _audit(uows, made.inspection_id)
    assert [e.action for e in entries] == ["qa.appeal.create", "qa.appeal.decide"]
    assert entries[1].data["score_before"] == 80.0 and entries[1].data["score"] == 90.0
    assert entries[1].data["accepted"] is True


def test_whole_result_appeal_accepted_overrules_every_hit(uows, world):
    made = make_inspection(uows, world)
    with uows() as uow:
        appeal_id = review.appeal(uow, world.agent_li, made.inspection_id, "整体误判").id
    with pytest.raises(Conflict), uows() as uow:  # a whole-result appeal blocks the rest
        review.appeal(uow, world.agent_li, made.inspection_id, "x", hit_id=made.best_hit)
    with uows() as uow:
        review.decide_appeal(uow, world.admin_wang, appeal_id, True, "")
    insp = _insp(uows, made.inspection_id)
    assert insp.score == 100.0 and insp.status == "final"


def test_rejected_appeal_keeps_the_score_and_the_own_appeal_rule(uows, world):
    own = make_inspection(uows, world, agent=world.supervisor_zhao, visitor="v_sup")
    with uows() as uow:
        appeal_id = review.appeal(uow, world.supervisor_zhao, own.inspection_id, "不服").id
    with pytest.raises(PermissionDenied) as err, uows() as uow:
        review.decide_appeal(uow, world.supervisor_zhao, appeal_id, True, "")
    assert err.value.code == "qa_own_appeal"
    with uows() as uow:
        review.decide_appeal(uow, world.admin_wang, appeal_id, False, "证据确凿")
    insp = _insp(uows, own.inspection_id)
    assert insp.score == 80.0 and insp.status == "final"
    with uows(readonly=True) as uow:
        assert {h.review for h in rq.inspection_hits(uow.session, insp.id)} == {"confirmed"}


def test_two_hit_appeals_final_after_the_last_decision(uows, world):
    made = make_inspection(uows, world)
    with uows() as uow:
        a1 = review.appeal(uow, world.agent_li, made.inspection_id, "一", hit_id=made.best_hit).id
        a2 = review.appeal(uow, world.agent_li, made.inspection_id, "二",
                           hit_id=made.promise_hit).id
    with uows(readonly=True) as uow:
        page = rq.list_appeals(uow.session, world.supervisor_zhao)
    assert {r.id for r in page.items} == {a1, a2}
    with uows() as uow:
        review.decide_appeal(uow, world.supervisor_zhao, a1, True, "")
    assert _insp(uows, made.inspection_id).status == "appealed"
    with uows() as uow:
        review.decide_appeal(uow, world.supervisor_zhao, a2, True, "")
    insp = _insp(uows, made.inspection_id)
    assert insp.status == "final" and insp.score == 95.0
    with uows(readonly=True) as uow:  # decided ones after open ones; the agent sees theirs
        assert rq.list_appeals(uow.session, world.agent_li).total == 2
        assert rq.list_appeals(uow.session, world.agent_chen).total == 0
        assert rq.list_appeals(uow.session, world.admin_b).total == 0


# -- reads -----------------------------------------------------------------------------------

def test_queue_filters_and_order(uows, world):
    late = make_inspection(uows, world, visitor="v1", sampled="random",
                           inspected_at=T0 + timedelta(hours=2))
    early = make_inspection(uows, world, visitor="v2", sampled="fatal",
                            agent=world.agent_chen)
    make_inspection(uows, world, visitor="v3", sampled=None)
    with uows(readonly=True) as uow:
        s, insp = uow.session, world.inspector_sun
        assert [r.id for r in rq.review_queue(s, insp).items] == [
            early.inspection_id, late.inspection_id]
        assert [r.id for r in rq.review_queue(s, insp, reason="random").items] == [
            late.inspection_id]
        assert [r.id for r in rq.review_queue(
            s, insp, agent_id=world.agent_chen.user_id).items] == [early.inspection_id]
        assert rq.review_queue(s, insp, since=T0 + timedelta(hours=1)).total == 1
        assert rq.review_queue(s, insp, inbox_id=world.inbox_b).total == 0
        page = rq.review_queue(s, insp, limit=1, offset=1)
        assert page.total == 2 and [r.id for r in page.items] == [late.inspection_id]
        assert rq.review_queue(s, world.admin_b).total == 0
        with pytest.raises(Invalid):
            rq.review_queue(s, insp, reason="nonsense")
        with pytest.raises(PermissionDenied):
            rq.review_queue(s, world.agent_li)
        # agents see only their own results; reviewers every one
        assert rq.list_inspections(s, world.agent_li).total == 2
        assert rq.list_inspections(s, world.agent_chen).total == 1
        assert rq.list_inspections(s, world.inspector_sun).total == 3
        assert rq.list_inspections(s, world.agent_b).total == 0
        mine = rq.my_results(s, world.agent_li, now=T0)
        assert next(r.id for r in mine.items) == late.inspection_id  # newest first
        assert all(r.can_appeal for r in mine.items)


def test_detail_maps_hits_to_message_spans(uows, world):
    made = make_inspection(uows, world)
    with uows(readonly=True) as uow:
        d = rq.inspection_detail(uow.session, world.agent_li, made.inspection_id, now=T0)
        with pytest.raises(NotFound):
            rq.inspection_detail(uow.session, world.agent_chen, made.inspection_id, now=T0)
        with pytest.raises(NotFound):
            rq.inspection_detail(uow.session, world.admin_b, made.inspection_id, now=T0)
    assert [m["sender_type"] for m in d["messages"]] == ["customer", "agent"]
    segs = d["messages"][1]["segments"]
    marked = [(s.text, s.rule_names) for s in segs if s.hit_ids]
    assert marked == [("保证", ["风险承诺"]), ("最好", ["广告法绝对化用语"])]
    assert "".join(s.text for s in segs) == AGENT_TEXT
    assert [h["rule_key"] for h in d["conversation_hits"]] == ["first_reply_15s"]
    assert {g["group"]: g["deduction"] for g in d["per_group"]} == {"合规": 15.0, "服务态度": 5.0}
    assert d["can"] == {"review": False, "finish": False, "appeal": True, "decide": False}


def test_segments_split_overlapping_spans():
    segs = rq.segments("abcdef", [(1, 4, "h1", "A"), (3, 5, "h2", "B"), (9, 12, "h3", "C")])
    assert [(s.text, s.hit_ids) for s in segs] == [
        ("a", []), ("bc", ["h1"]), ("d", ["h1", "h2"]), ("e", ["h2"]), ("f", [])]
    assert [s.text for s in rq.segments("", [])] == [""]


def test_review_of_a_real_inspection_made_on_resolve(uows, world):
    """End to end with the batch: resolving stores an inspection (qa_inspect job, inline in
    tests); its hits map onto the agent's message and an overrule re-scores it."""
    conv_id, _ = customer_says(uows, world.inbox_a, "你好，在吗", visitor="v_real")
    with uows() as uow:
        inbox_actions.do_agent_reply(uow, world.agent_li, conv_id, content=AGENT_TEXT)
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, conv_id, status="resolved")
    with uows(readonly=True) as uow:
        insp = uow.session.scalar(select(QaInspection).where(
            QaInspection.conversation_id == conv_id))
        assert insp is not None and insp.agent_id == world.agent_li.user_id
        d = rq.inspection_detail(uow.session, world.inspector_sun, insp.id, now=T0)
    marked = {s.text for m in d["messages"] for s in m["segments"] if s.hit_ids}
    assert "保证" in marked
    promise = next(h for h in d["hits"] if h["rule_key"] == "risky_promise")
    before = insp.score
    with uows() as uow:
        review.review_hit(uow, world.inspector_sun, promise["id"], "overruled", "误报")
    after = _insp(uows, insp.id)
    assert after.score > before or before == after.base
    assert after.hit_count == insp.hit_count - 1
