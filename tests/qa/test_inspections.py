"""Stored inspections: the ``qa_inspect`` job on resolve, replacing results, the rule mode,
the message-count guard, timing from real timestamps, conversation facts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from kefu.core.errors import Invalid
from kefu.core.ids import new_id
from kefu.core.jobs import Job
from kefu.inbox import actions as inbox_actions
from kefu.inbox.events import ConversationUpdated
from kefu.inbox.models import Conversation, Message
from kefu.inbox.queries import conversation_read
from kefu.qa.events import InspectionDone
from kefu.qa.inspections import (
    MAX_MESSAGES,
    conversation_facts,
    inspect_conversation,
    sample_reason,
    score_inspection,
    select_qa_inspect,
)
from kefu.qa.models import QaHit, QaInspection, QaRule
from tests.conftest import T0, customer_says


def reply(uows, actor, conv_id: str, text: str) -> str:
    with uows() as uow:
        return inbox_actions.do_agent_reply(uow, actor, conv_id, content=text).message.id


def resolve(uows, actor, conv_id: str) -> None:
    with uows() as uow:
        inbox_actions.do_set_status(uow, actor, conv_id, status="resolved")


def inspection_of(uows, conv_id: str) -> tuple[QaInspection | None, list[QaHit]]:
    with uows(readonly=True) as uow:
        ins = uow.session.scalar(select(QaInspection).where(
            QaInspection.conversation_id == conv_id))
        hits = [] if ins is None else list(uow.session.scalars(
            select(QaHit).where(QaHit.inspection_id == ins.id)
            .order_by(QaHit.rule_key, QaHit.message_index)))
        return ins, hits


def count(uows, model, **where) -> int:
    with uows(readonly=True) as uow:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(uow.session.scalar(stmt) or 0)


@pytest.fixture
def late_promise(uows, world, clock):
    """A customer asks; the agent answers 30 s later with an absolute term and a promise;
    a supervisor resolves it a minute later."""
    conv_id, _ = customer_says(uows, world.inbox_a, "你好，我的快递到哪了？")
    clock.advance(seconds=30)
    msg_id = reply(uows, world.agent_li, conv_id, "这是全网最好的快递，保证明天送到")
    clock.advance(seconds=60)
    resolve(uows, world.supervisor_zhao, conv_id)
    return conv_id, msg_id


def test_resolving_enqueues_the_job_and_stores_an_inspection(uows, world, late_promise):
    conv_id, msg_id = late_promise
    ins, hits = inspection_of(uows, conv_id)
    assert ins is not None
    with uows(readonly=True) as uow:
        job = uow.session.scalar(select(Job).where(Job.kind == "qa_inspect"))
        assert job is not None and job.status == "done"
        assert job.payload == {"conversation_id": conv_id}
        assert job.key == f"qa_inspect:{conv_id}:{(T0 + timedelta(seconds=90)).isoformat()}"
    by_rule = {h.rule_key: h for h in hits}
    assert set(by_rule) == {"ad_law_absolute", "risky_promise", "first_reply_15s"}
    absolute = by_rule["ad_law_absolute"]
    assert absolute.message_id == msg_id and absolute.message_index == 1
    assert "这是全网最好的快递，保证明天送到"[absolute.span_start:absolute.span_end] == "最好"
    assert by_rule["risky_promise"].group == "合规"
    assert ins.score == 85.0 and not ins.fatal and ins.hit_count == 3
    assert ins.agent_id == world.agent_li.user_id
    assert ins.message_count == 2 and ins.workspace_id == world.ws_a
    assert ins.conversation_at == T0
    assert ins.inspected_at == T0 + timedelta(seconds=90)
    assert ins.appeal_deadline == ins.inspected_at + timedelta(days=3)
    assert set(ins.card["items"]) == {"ad_law_absolute", "risky_promise", "first_reply_15s"}
    assert ins.card["base"] == 100.0
    assert ins.card["items"]["risky_promise"] == {
        "deduction": 5.0, "per_hit": True, "cap": 20.0, "fatal": False, "group": "合规"}
    assert ins.rules_version and ins.status == "auto"
    assert ins.sampled == sample_reason(conv_id, 85.0, False)


def test_the_job_emits_inspection_done(uows, world, svc, clock):
    seen: list[InspectionDone] = []
    svc.bus.subscribe("qa.inspection_done", seen.append)  # type: ignore[arg-type]
    conv_id, _ = customer_says(uows, world.inbox_a, "在吗")
    reply(uows, world.agent_li, conv_id, "您好，请问有什么可以帮您？")
    resolve(uows, world.agent_li, conv_id)
    assert [(e.conversation_id, e.score, e.fatal) for e in seen] == [(conv_id, 100.0, False)]


def test_reinspection_replaces_and_keeps_review_decisions(uows, svc, world, late_promise):
    conv_id, _ = late_promise
    first, first_hits = inspection_of(uows, conv_id)
    assert first is not None
    with uows() as uow:
        hit = uow.session.get(QaHit, next(h.id for h in first_hits
                                           if h.rule_key == "risky_promise"))
        assert hit is not None
        hit.review, hit.review_comment = "confirmed", "确实承诺了"
    for _ in range(2):
        with uows() as uow:
            again = inspect_conversation(uow, svc.qa, conv_id)
            assert again.id == first.id
    ins, hits = inspection_of(uows, conv_id)
    assert count(uows, QaInspection, conversation_id=conv_id) == 1
    assert count(uows, QaHit, conversation_id=conv_id) == 3
    assert {h.id for h in hits}.isdisjoint({h.id for h in first_hits})
    assert [(h.rule_key, h.span_start) for h in hits] == \
        [(h.rule_key, h.span_start) for h in first_hits]
    kept = next(h for h in hits if h.rule_key == "risky_promise")
    assert (kept.review, kept.review_comment) == ("confirmed", "确实承诺了")
    assert ins is not None and ins.score == 85.0


def test_resolving_twice_inspects_twice_reopen_in_between(uows, world, clock, late_promise):
    conv_id, _ = late_promise
    clock.advance(minutes=5)
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.supervisor_zhao, conv_id, status="open")
    reply(uows, world.agent_li, conv_id, "还有其他问题吗？")
    resolve(uows, world.supervisor_zhao, conv_id)
    assert count(uows, Job, kind="qa_inspect") == 2
    ins, hits = inspection_of(uows, conv_id)
    assert count(uows, QaInspection, conversation_id=conv_id) == 1
    assert ins is not None and ins.message_count == 3 and len(hits) == 3


def test_rule_mode_replaces_only_that_rules_hits(uows, svc, world, late_promise):
    conv_id, _ = late_promise
    _, before = inspection_of(uows, conv_id)
    others = {h.id for h in before if h.rule_key != "risky_promise"}
    with uows() as uow:  # spoil the stored state: the promise hit gone, a wrong score
        uow.session.query(QaHit).filter(QaHit.conversation_id == conv_id,
                                        QaHit.rule_key == "risky_promise").delete()
        ins = uow.session.scalar(select(QaInspection).where(
            QaInspection.conversation_id == conv_id))
        assert ins is not None
        ins.score = 3.0
    with uows() as uow:
        inspect_conversation(uow, svc.qa, conv_id, rule_key="risky_promise", run_id="r1")
    ins, after = inspection_of(uows, conv_id)
    assert ins is not None and ins.score == 85.0 and ins.run_id == "r1"
    assert {h.id for h in after if h.rule_key != "risky_promise"} == others
    assert [h.rule_key for h in after].count("risky_promise") == 1
    # a rule that no longer hits: its hits go, the others stay, the score follows
    with uows() as uow:
        uow.session.query(QaHit).filter(QaHit.conversation_id == conv_id,
                                        QaHit.rule_key == "risky_promise").update(
            {"rule_key": "gone_rule"})
        ins2 = uow.session.scalar(select(QaInspection).where(
            QaInspection.conversation_id == conv_id))
        assert ins2 is not None
        ins2.card = {**ins2.card, "items": {**ins2.card["items"], "gone_rule": {
            "deduction": 50.0, "per_hit": False, "cap": None, "fatal": False, "group": "合规"}}}
    with uows() as uow:
        inspect_conversation(uow, svc.qa, conv_id, rule_key="gone_rule")
    ins, after = inspection_of(uows, conv_id)
    assert ins is not None and "gone_rule" not in {h.rule_key for h in after}
    assert "gone_rule" not in ins.card["items"]
    assert ins.score == 90.0  # the promise hit went with it


def test_rule_mode_on_a_conversation_never_inspected_is_a_full_inspection(
        uows, svc, world, clock):
    conv_id, _ = customer_says(uows, world.inbox_a, "你好")
    clock.advance(seconds=20)
    reply(uows, world.agent_li, conv_id, "这款是销量第一的")
    with uows() as uow:  # resolved without the event (as if before QA existed)
        conv = uow.session.get(Conversation, conv_id)
        assert conv is not None
        conv.status, conv.resolved_at = "resolved", clock.now()
    with uows() as uow:
        inspect_conversation(uow, svc.qa, conv_id, rule_key="ad_law_absolute")
    _, hits = inspection_of(uows, conv_id)
    assert {h.rule_key for h in hits} == {"ad_law_absolute", "first_reply_15s"}


def test_score_inspection_leaves_out_overruled_hits(uows, world, late_promise):
    conv_id, _ = late_promise
    ins, hits = inspection_of(uows, conv_id)
    assert ins is not None
    assert score_inspection(ins, hits).total == 85.0
    hits[0].review = "overruled"
    assert score_inspection(ins, hits).total == 90.0
    for h in hits:
        h.review = "overruled"
    result = score_inspection(ins, hits)
    assert (result.total, result.fatal) == (100.0, False)


def test_a_fatal_hit_zeroes_and_samples(uows, world, clock):
    conv_id, _ = customer_says(uows, world.inbox_a, "怎么还没发货")
    reply(uows, world.agent_li, conv_id, "爱买不买")
    resolve(uows, world.agent_li, conv_id)
    ins, hits = inspection_of(uows, conv_id)
    assert ins is not None and ins.fatal and ins.score == 0.0 and ins.sampled == "fatal"
    assert any(h.fatal and h.rule_key == "agent_abuse" for h in hits)


def test_sampling_is_deterministic_and_about_five_percent():
    ids = [new_id() for _ in range(4000)]
    picked = [i for i in ids if sample_reason(i, 90.0, False) == "random"]
    assert 100 < len(picked) < 320
    assert all(sample_reason(i, 90.0, False) == "random" for i in picked)
    assert sample_reason(ids[0], 59.5, False) == "low_score"
    assert sample_reason(ids[0], 100.0, True) == "fatal"


def test_timing_hits_follow_the_message_timestamps(uows, world, clock):
    quick, _ = customer_says(uows, world.inbox_a, "请问有货吗", visitor="v_quick")
    clock.advance(seconds=10)
    reply(uows, world.agent_li, quick, "有的，您请下单")
    clock.advance(seconds=10)
    resolve(uows, world.agent_li, quick)
    _, hits = inspection_of(uows, quick)
    assert hits == []

    slow, _ = customer_says(uows, world.inbox_a, "请问有货吗", visitor="v_slow")
    clock.advance(seconds=16)
    first = reply(uows, world.agent_li, slow, "有的")
    clock.advance(seconds=5)
    customer_says(uows, world.inbox_a, "什么时候发货", visitor="v_slow")
    clock.advance(seconds=121)
    late = reply(uows, world.agent_li, slow, "明天发货")
    resolve(uows, world.agent_li, slow)
    _, hits = inspection_of(uows, slow)
    assert [(h.rule_key, h.message_id, h.message_index) for h in hits] == [
        ("first_reply_15s", first, 1), ("reply_gap_120s", late, 3)]


def test_unanswered_conversation_fails_first_reply_at_resolve_time(uows, world, clock):
    conv_id, _ = customer_says(uows, world.inbox_a, "有人吗")
    clock.advance(seconds=40)
    resolve(uows, world.supervisor_zhao, conv_id)
    _, hits = inspection_of(uows, conv_id)
    assert [(h.rule_key, h.message_id) for h in hits] == [("first_reply_15s", None)]


def test_notes_and_activity_lines_are_not_inspected(uows, world, clock):
    conv_id, _ = customer_says(uows, world.inbox_a, "你好")
    with uows() as uow:
        inbox_actions.do_add_note(uow, world.agent_li, conv_id, content="保证没问题，最好的客户")
    reply(uows, world.agent_li, conv_id, "您好")
    resolve(uows, world.agent_li, conv_id)
    ins, hits = inspection_of(uows, conv_id)
    assert ins is not None and hits == [] and ins.message_count == 2


def test_a_huge_conversation_is_refused_and_nothing_is_stored(uows, svc, world, clock):
    conv_id, _ = customer_says(uows, world.inbox_a, "开始")
    n = 50_000
    with uows() as uow:
        uow.session.execute(insert(Message), [
            {"id": new_id(), "workspace_id": world.ws_a, "conversation_id": conv_id,
             "seq": 10 + i, "sender_type": "agent" if i % 2 else "customer",
             "sender_id": None, "private": False, "content": "保证最好",
             "created_at": T0 + timedelta(seconds=i)} for i in range(n)])
        uow.session.execute(
            Conversation.__table__.update().where(Conversation.id == conv_id)
            .values(last_seq=10 + n))
    with pytest.raises(Invalid) as caught, uows() as uow:
        inspect_conversation(uow, svc.qa, conv_id)
    assert caught.value.code == "qa_conversation_too_large"
    assert caught.value.details["count"] == n + 1
    assert caught.value.details["max_messages"] == MAX_MESSAGES
    assert "/" in caught.value.message  # 中文 / English
    # the job on resolve refuses it too: done (no retry storm), nothing stored
    resolve(uows, world.supervisor_zhao, conv_id)
    assert count(uows, QaInspection, conversation_id=conv_id) == 0
    assert count(uows, QaHit, conversation_id=conv_id) == 0
    with uows(readonly=True) as uow:
        job = uow.session.scalar(select(Job).where(Job.kind == "qa_inspect"))
        assert job is not None and job.status == "done"
    # and the engine keeps serving
    other, _ = customer_says(uows, world.inbox_a, "你好", visitor="someone_else")
    reply(uows, world.agent_li, other, "保证今天发货")
    resolve(uows, world.agent_li, other)
    ins, hits = inspection_of(uows, other)
    assert ins is not None and [h.rule_key for h in hits] == ["risky_promise"]


def test_facts_repeat_contact_and_transfers(uows, world, clock):
    first, _ = customer_says(uows, world.inbox_a, "退款进度？", visitor="v_repeat")
    reply(uows, world.agent_li, first, "已经在处理")
    resolve(uows, world.agent_li, first)
    clock.advance(hours=2)
    second, _ = customer_says(uows, world.inbox_a, "退款还没到", visitor="v_repeat")
    with uows() as uow:
        inbox_actions.do_assign(uow, world.supervisor_zhao, second,
                                assignee_id=world.agent_li.user_id)
    reply(uows, world.agent_li, second, "我帮您查一下")
    with uows() as uow:
        inbox_actions.do_assign(uow, world.supervisor_zhao, second,
                                assignee_id=world.agent_chen.user_id)
        inbox_actions.do_assign(uow, world.supervisor_zhao, second,
                                assignee_id=world.agent_li.user_id)
    resolve(uows, world.agent_li, second)
    clock.advance(hours=30)
    third, _ = customer_says(uows, world.inbox_a, "又来了", visitor="v_repeat")
    with uows(readonly=True) as uow:
        facts = {cid: conversation_facts(uow.session, uow.session.get(Conversation, cid))
                 for cid in (first, second, third)}
    assert [f.repeat_contact for f in facts.values()] == [False, True, False]
    assert [f.transfers for f in facts.values()] == [0, 2, 0]
    assert facts[first].csat is None and facts[first].bot_failed_handoff is False


def test_the_selector_wants_a_status_change_to_resolved(uows, world, late_promise):
    conv_id, _ = late_promise
    with uows(readonly=True) as uow:
        conv = uow.session.get(Conversation, conv_id)
        assert conv is not None
        read = conversation_read(conv)
    resolved = ConversationUpdated(workspace_id=world.ws_a, conversation=read,
                                   changed=["status"])
    spec = select_qa_inspect(resolved)
    assert spec is not None and spec[0] == "qa_inspect" and conv_id in str(spec[2])
    assert select_qa_inspect(resolved.model_copy(update={"changed": ["priority"]})) is None
    reopened = read.model_copy(update={"status": "open", "resolved_at": None})
    assert select_qa_inspect(ConversationUpdated(
        workspace_id=world.ws_a, conversation=reopened, changed=["status"])) is None


def test_fact_bot_failed_handoff_and_tagged_assignments(uows, world):
    failed, _ = customer_says(uows, world.inbox_a, "我的发票抬头能改成公司吗", visitor="v_bot1")
    asked, _ = customer_says(uows, world.inbox_a, "转人工", visitor="v_bot2")
    with uows() as uow:
        for conv_id, reason in ((failed, "no_match"), (asked, "asked_for_human")):
            conv = uow.session.get(Conversation, conv_id)
            assert conv is not None
            inbox_actions.do_bot_message(uow, conv, content="正在为您转接人工客服",
                                         sender_name="小鲜",
                                         meta={"kind": "handoff", "reason": reason})
        inbox_actions.do_assign(uow, world.supervisor_zhao, failed,
                                assignee_id=world.agent_li.user_id)
    with uows(readonly=True) as uow:
        facts = {cid: conversation_facts(uow.session, uow.session.get(Conversation, cid))
                 for cid in (failed, asked)}
        activity = uow.session.scalar(select(Message).where(
            Message.conversation_id == failed, Message.sender_type == "system"))
    assert facts[failed].bot_failed_handoff is True
    assert facts[asked].bot_failed_handoff is False  # the customer asked: not a failure
    assert activity is not None and activity.meta == {
        "activity": "assign", "assignee_id": world.agent_li.user_id}


def test_a_rule_limited_to_the_web_channel_applies_to_web_chat(uows, world, svc):
    from kefu.qa import dryrun, manage

    rule = {"kind": "keyword", "terms": ["加我微信"], "channels": ["web"]}
    email_only = {"kind": "keyword", "terms": ["加我微信"], "channels": ["email"]}
    with uows() as uow:
        manage.do_create_rule(uow, world.admin_wang, key="wechat_web", name="引导加微信",
                              definition=rule)
        manage.do_create_rule(uow, world.admin_wang, key="wechat_mail", name="邮件加微信",
                              definition=email_only)
    conv_id, _ = customer_says(uows, world.inbox_a, "怎么联系你", visitor="v_channel")
    reply(uows, world.agent_li, conv_id, "您可以加我微信")
    resolve(uows, world.agent_li, conv_id)
    _, hits = inspection_of(uows, conv_id)
    keys = [h.rule_key for h in hits]
    assert "wechat_web" in keys and "wechat_mail" not in keys
    with uows(readonly=True) as uow:
        web = dryrun.dry_run(uow.session, world.admin_wang, rule, now=uow.clock.now(), days=7)
        mail = dryrun.dry_run(uow.session, world.admin_wang, email_only, now=uow.clock.now(),
                              days=7)
    assert (web.scanned, web.hit_conversations) == (1, 1)
    assert (mail.scanned, mail.hit_conversations) == (0, 0)


def test_a_combination_of_a_channel_limited_rule_does_not_break_other_channels(uows, world):
    from kefu.qa import manage

    with uows() as uow:
        manage.do_create_rule(uow, world.admin_wang, key="mailonly", name="邮件用语",
                              definition={"kind": "keyword", "terms": ["附件"],
                                          "channels": ["email"]})
        manage.do_create_rule(uow, world.admin_wang, key="combo", name="组合",
                              definition={"kind": "combination", "all_of": ["mailonly"]})
    conv_id, _ = customer_says(uows, world.inbox_a, "你好", visitor="v_combo")
    reply(uows, world.agent_li, conv_id, "保证今天发货")
    resolve(uows, world.agent_li, conv_id)
    ins, hits = inspection_of(uows, conv_id)
    assert ins is not None and [h.rule_key for h in hits] == ["risky_promise"]


def test_a_reviewed_result_is_not_rewritten_by_a_reinspection(uows, svc, world, late_promise):
    conv_id, _ = late_promise
    ins, before = inspection_of(uows, conv_id)
    assert ins is not None
    deadline = ins.appeal_deadline
    with uows() as uow:
        row = uow.session.get(QaInspection, ins.id)
        assert row is not None
        row.status = "reviewed"
    with uows() as uow:
        inspect_conversation(uow, svc.qa, conv_id)
    again, after = inspection_of(uows, conv_id)
    assert again is not None and again.status == "reviewed"
    assert [h.id for h in after] == [h.id for h in before]
    assert again.appeal_deadline == deadline


def test_rule_mode_also_refreshes_the_combinations_using_the_rule(uows, svc, world, clock):
    from kefu.qa import manage

    with uows() as uow:
        manage.do_create_rule(uow, world.admin_wang, key="sorry", name="致歉",
                              definition={"kind": "keyword", "terms": ["抱歉"],
                                          "deduction": 0})
        manage.do_create_rule(uow, world.admin_wang, key="promise_no_sorry", name="承诺未致歉",
                              definition={"kind": "combination", "all_of": ["risky_promise"],
                                          "none_of": ["sorry"]})
    conv_id, _ = customer_says(uows, world.inbox_a, "到哪了", visitor="v_combo_rule")
    reply(uows, world.agent_li, conv_id, "保证明天到")
    resolve(uows, world.agent_li, conv_id)
    _, hits = inspection_of(uows, conv_id)
    assert {"risky_promise", "promise_no_sorry"} <= {h.rule_key for h in hits}
    with uows() as uow:  # the promise rule is relaxed; re-run history for that rule only
        row = uow.session.scalar(select(QaRule).where(
            QaRule.workspace_id == world.ws_a, QaRule.key == "risky_promise"))
        assert row is not None
        manage.do_update_rule(uow, world.admin_wang, row.id, enabled=False)
    with uows() as uow:
        inspect_conversation(uow, svc.qa, conv_id, rule_key="risky_promise")
    _, hits = inspection_of(uows, conv_id)
    assert not {"risky_promise", "promise_no_sorry"} & {h.rule_key for h in hits}
