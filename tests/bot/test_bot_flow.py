"""The answering bot end to end through real actions: a customer message commits, the
``bot_reply`` job (inline in tests) answers, clarifies, hands off or takes a message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kefu.bot.actions import do_bot_turn, do_feedback, do_update_config, suggestions
from kefu.bot.models import BotTurn
from kefu.bot.schemas import BotConfig, BusinessHours
from kefu.contacts.models import Contact
from kefu.core.errors import Invalid, NotFound
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.inbox.schemas import InboxUpdate, WebchatSettings
from kefu.kb import actions as kb
from kefu.kb.schemas import EntryCreate, EntryUpdate, SmallTalkCreate
from tests.conftest import T0, customer_says

RETURNS = "登录后在“我的订单”里点“申请退货”，7 天内可无理由退货。"


@pytest.fixture
def bot(uows, world, svc):
    """Inbox A with the bot on and a small knowledge base."""
    with uows() as uow:
        inbox_actions.do_update_inbox(uow, world.admin_wang, world.inbox_a, InboxUpdate(
            settings=WebchatSettings(bot_enabled=True)))
        ids = {}
        ids["returns"] = kb.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="如何申请退货", phrasings=["怎么退货", "退货流程是什么", "我想退货"],
            answer=RETURNS, channel_answers={"wechat": "公众号菜单-我的订单-退货"},
            status="published")).id
        ids["shipping"] = kb.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="什么时候发货", phrasings=["多久发货", "下单后几天发货"],
            answer="下单后 48 小时内发货。", related_ids=[ids["returns"]],
            status="published")).id
        ids["invoice"] = kb.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="怎么开发票", phrasings=["可以开发票吗", "发票怎么开"],
            answer="在订单详情页申请电子发票。", status="published")).id
        kb.do_create_smalltalk(uow, world.admin_wang, SmallTalkCreate(
            phrasings=["你好", "您好", "在吗"], reply="您好！请问有什么可以帮您？"))
    return ids


def config(uows, world, **kw):
    with uows() as uow:
        do_update_config(uow, world.admin_wang, world.inbox_a, BotConfig(**kw))


def thread(uows, conv_id: str) -> list[Message]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(Message).where(
            Message.conversation_id == conv_id).order_by(Message.seq)))


def conv_of(uows, conv_id: str) -> Conversation:
    with uows(readonly=True) as uow:
        c = uow.session.get(Conversation, conv_id)
        assert c is not None
        return c


def turns(uows, conv_id: str) -> list[BotTurn]:
    with uows(readonly=True) as uow:
        return list(uow.session.scalars(select(BotTurn).where(
            BotTurn.conversation_id == conv_id).order_by(BotTurn.created_at, BotTurn.id)))


def last_bot(uows, conv_id: str) -> Message:
    return [m for m in thread(uows, conv_id) if m.sender_type == "bot"][-1]


def test_answers_with_feedback_and_related(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "請問多久發貨？")  # traditional
    reply = last_bot(uows, conv_id)
    assert reply.content == "下单后 48 小时内发货。"
    assert reply.meta is not None and reply.meta["kind"] == "answer"
    assert reply.meta["entry_id"] == bot["shipping"] and reply.meta["feedback"] is True
    assert reply.meta["related"] == [{"entry_id": bot["returns"], "question": "如何申请退货"}]
    (turn,) = turns(uows, conv_id)
    assert turn.decision == "answer" and turn.entry_id == bot["shipping"]
    assert reply.meta["turn_id"] == turn.id and turn.reply_message_id == reply.id
    assert turn.candidates[0]["entry_id"] == bot["shipping"]
    assert conv_of(uows, conv_id).status == "bot"


def test_conversation_starts_in_queue_without_bot(uows, world):
    conv_id, _ = customer_says(uows, world.inbox_a, "怎么退货")
    assert conv_of(uows, conv_id).status == "queued"
    assert [m.sender_type for m in thread(uows, conv_id)] == ["customer"]


def test_clarify_then_click(uows, world, bot):
    config(uows, world, answer_threshold=0.99, clarify_threshold=0.05, max_misses=3)
    conv_id, _ = customer_says(uows, world.inbox_a, "退货")
    reply = last_bot(uows, conv_id)
    assert reply.meta is not None and reply.meta["kind"] == "clarify"
    options = reply.meta["options"]
    assert 1 <= len(options) <= 3 and options[0]["entry_id"] == bot["returns"]
    assert reply.content == "您是想问："
    customer_says(uows, world.inbox_a, "如何申请退货")  # the click sends the question
    answer = last_bot(uows, conv_id)
    assert answer.content == RETURNS and answer.meta["entry_id"] == bot["returns"]


@pytest.mark.parametrize("text", ["转人工", "人工", "我要找人工客服", "Can I talk to an agent?"])
def test_asking_for_a_human_hands_off(uows, world, bot, text):
    conv_id, _ = customer_says(uows, world.inbox_a, text)
    conv = conv_of(uows, conv_id)
    assert conv.status == "queued"
    (turn,) = turns(uows, conv_id)
    assert turn.decision == "handoff" and turn.handoff_reason == "asked_for_human"
    msgs = thread(uows, conv_id)
    assert msgs[-2].sender_type == "bot" and "转接人工" in msgs[-2].content
    assert msgs[-1].sender_type == "system" and msgs[-1].private
    assert "客户要求人工" in msgs[-1].content
    # the bot is out of the conversation now
    customer_says(uows, world.inbox_a, "怎么退货")
    assert thread(uows, conv_id)[-1].sender_type == "customer"


def test_misses_then_handoff(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "量子纠缠的原理是什么")
    first = last_bot(uows, conv_id)
    assert "换个说法" in first.content and first.meta == {
        "kind": "fallback", "actions": ["handoff"], "turn_id": turns(uows, conv_id)[0].id}
    assert conv_of(uows, conv_id).status == "bot"
    customer_says(uows, world.inbox_a, "黑洞会蒸发吗")
    assert conv_of(uows, conv_id).status == "queued"
    assert [t.decision for t in turns(uows, conv_id)] == ["none", "handoff"]
    assert turns(uows, conv_id)[-1].handoff_reason == "no_match"


def test_an_answer_resets_the_miss_count(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "量子纠缠的原理是什么")
    customer_says(uows, world.inbox_a, "怎么退货")
    customer_says(uows, world.inbox_a, "黑洞会蒸发吗")
    assert conv_of(uows, conv_id).status == "bot"
    assert [t.decision for t in turns(uows, conv_id)] == ["none", "answer", "none"]


def test_angry_customer_is_handed_off(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "你们这什么破服务，我要投诉！！")
    assert conv_of(uows, conv_id).status == "queued"
    assert turns(uows, conv_id)[0].handoff_reason == "sentiment"


def test_small_talk(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "你好")
    assert last_bot(uows, conv_id).content == "您好！请问有什么可以帮您？"
    assert turns(uows, conv_id)[0].decision == "smalltalk"


def test_outside_hours_leave_a_message(uows, world, bot, clock):
    config(uows, world, hours=BusinessHours(enabled=True))
    clock.advance(days=3)  # Saturday 14 Nov, 10:00 in Shanghai
    conv_id, contact_id = customer_says(uows, world.inbox_a, "转人工")
    ask = last_bot(uows, conv_id)
    assert "非人工服务时间" in ask.content and "11月16日 09:00" in ask.content
    assert conv_of(uows, conv_id).status == "bot"
    customer_says(uows, world.inbox_a, "我的橙子坏了，电话13800138000，邮箱zhao@example.com")
    thanks = last_bot(uows, conv_id)
    assert "已收到您的留言" in thanks.content and "11月16日 09:00" in thanks.content
    assert conv_of(uows, conv_id).status == "queued"
    lines = [m.content for m in thread(uows, conv_id)]
    assert "客户留言" in lines[-2]
    # the message became a ticket (kefu.tickets.intake), noted in the thread
    assert lines[-1] == "已创建工单 #1 / Ticket #1 created"
    with uows(readonly=True) as uow:
        c = uow.session.get(Contact, contact_id)
        assert c is not None and (c.phone, c.email) == ("13800138000", "zhao@example.com")
    assert [t.decision for t in turns(uows, conv_id)] == ["leave_message", "leave_message"]


def test_holiday_is_closed(uows, world, bot, clock):
    day = (T0 + timedelta(hours=8)).date()  # today in Shanghai
    config(uows, world, hours=BusinessHours(enabled=True, holidays=[day]))
    conv_id, _ = customer_says(uows, world.inbox_a, "人工客服")
    assert "11月12日 09:00" in last_bot(uows, conv_id).content


def test_channel_variant(uows, world, bot):
    with uows() as uow:
        inbox = uow.session.get(Inbox, world.inbox_a)
        assert inbox is not None
        inbox.channel_type = "wechat"
    conv_id, _ = customer_says(uows, world.inbox_a, "怎么退货")
    assert last_bot(uows, conv_id).content == "公众号菜单-我的订单-退货"


def test_feedback(uows, world, bot):
    conv_id, contact_id = customer_says(uows, world.inbox_a, "怎么退货")
    turn = turns(uows, conv_id)[0]
    with uows() as uow:
        do_feedback(uow, _kb(uows), inbox_id=world.inbox_a, contact_id=contact_id,
                    turn_id=turn.id, helpful=True)
    assert conv_of(uows, conv_id).status == "bot"
    with uows() as uow:
        do_feedback(uow, _kb(uows), inbox_id=world.inbox_a, contact_id=contact_id,
                    turn_id=turn.id, helpful=False)
    # changed its mind after "helpful": recorded, but no handoff from a second opinion
    assert conv_of(uows, conv_id).status == "bot"
    assert turns(uows, conv_id)[0].feedback == "unhelpful"


def _kb(uows):
    return _kb.svc.kb  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _expose_svc(svc):
    _kb.svc = svc  # type: ignore[attr-defined]


def test_unhelpful_hands_off_once(uows, world, bot):
    conv_id, contact_id = customer_says(uows, world.inbox_a, "怎么退货")
    turn = turns(uows, conv_id)[0]
    for _ in range(2):  # a retried request changes nothing
        with uows() as uow:
            do_feedback(uow, _kb(uows), inbox_id=world.inbox_a, contact_id=contact_id,
                        turn_id=turn.id, helpful=False)
    assert conv_of(uows, conv_id).status == "queued"
    ts = turns(uows, conv_id)
    assert [t.handoff_reason for t in ts] == [None, "negative_feedback"]
    assert sum(1 for m in thread(uows, conv_id) if m.sender_type == "bot") == 2


def test_feedback_errors(uows, world, bot):
    conv_id, contact_id = customer_says(uows, world.inbox_a, "你好")
    small = turns(uows, conv_id)[0]
    with pytest.raises(Invalid) as e, uows() as uow:
        do_feedback(uow, _kb(uows), inbox_id=world.inbox_a, contact_id=contact_id,
                    turn_id=small.id, helpful=False)
    assert e.value.code == "not_rateable"
    _, other = customer_says(uows, world.inbox_a, "怎么退货", visitor="someone_else")
    with pytest.raises(NotFound), uows() as uow:
        do_feedback(uow, _kb(uows), inbox_id=world.inbox_a, contact_id=other,
                    turn_id=small.id, helpful=True)
    with pytest.raises(NotFound), uows() as uow:
        do_feedback(uow, _kb(uows), inbox_id=world.inbox_a, contact_id=contact_id,
                    turn_id="nope", helpful=True)


def test_a_message_is_answered_once(uows, world, bot, svc):
    conv_id, _ = customer_says(uows, world.inbox_a, "怎么退货")
    customer_msg = thread(uows, conv_id)[0]
    with uows() as uow:
        assert do_bot_turn(uow, svc.kb, message_id=customer_msg.id) is None
    assert len(turns(uows, conv_id)) == 1
    assert sum(1 for m in thread(uows, conv_id) if m.sender_type == "bot") == 1


def test_agent_takeover_silences_the_bot(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "你好")
    with uows() as uow:
        inbox_actions.do_agent_reply(uow, world.agent_li, conv_id, content="您好，我是小李")
    customer_says(uows, world.inbox_a, "怎么退货")
    assert [m.sender_type for m in thread(uows, conv_id) if not m.private] == [
        "customer", "bot", "agent", "customer"]


def test_edits_reach_the_bot_without_rebuild(uows, world, bot):
    with uows() as uow:
        kb.do_update_entry(uow, world.admin_wang, bot["shipping"],
                           EntryUpdate(answer="双11期间 72 小时内发货。"))
    conv_id, _ = customer_says(uows, world.inbox_a, "多久发货")
    assert last_bot(uows, conv_id).content == "双11期间 72 小时内发货。"
    with uows() as uow:
        kb.do_update_entry(uow, world.admin_wang, bot["shipping"],
                           EntryUpdate(status="archived"))
    customer_says(uows, world.inbox_a, "多久发货")
    assert turns(uows, conv_id)[-1].entry_id != bot["shipping"]


def test_validity_dates_switch_entries_on_and_off(uows, world, bot, clock):
    with uows() as uow:
        promo = kb.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="双11满减规则是什么", phrasings=["双11有什么优惠"],
            answer="满300减50", status="published",
            valid_from=T0 + timedelta(days=1), valid_until=T0 + timedelta(days=2))).id
    conv_id, _ = customer_says(uows, world.inbox_a, "双11有什么优惠")
    assert turns(uows, conv_id)[-1].entry_id != promo
    clock.advance(days=1, hours=1)
    customer_says(uows, world.inbox_a, "双11有什么优惠")
    assert turns(uows, conv_id)[-1].entry_id == promo
    clock.advance(days=1)
    customer_says(uows, world.inbox_a, "双11有什么优惠")
    assert turns(uows, conv_id)[-1].entry_id != promo


def test_other_workspaces_knowledge_never_answers(uows, world, bot):
    with uows() as uow:
        inbox_actions.do_update_inbox(uow, world.admin_b, world.inbox_b, InboxUpdate(
            settings=WebchatSettings(bot_enabled=True)))
    conv_id, _ = customer_says(uows, world.inbox_b, "怎么退货")
    assert turns(uows, conv_id)[0].decision == "none"
    assert RETURNS not in last_bot(uows, conv_id).content


def test_suggestions(uows, world, bot, svc):
    for text in ("怎么退货", "怎么退货", "多久发货"):
        customer_says(uows, world.inbox_a, text)
    config(uows, world, suggest_count=2)
    with uows(readonly=True) as uow:
        inbox = uow.session.get(Inbox, world.inbox_a)
        got = suggestions(uow.session, svc.kb, inbox, now=T0)
    assert [s["entry_id"] for s in got] == [bot["returns"], bot["shipping"]]
    config(uows, world, suggest_count=2, suggest_rules=[
        {"url_contains": "/invoice", "entry_ids": [bot["invoice"]]}])
    with uows(readonly=True) as uow:
        inbox = uow.session.get(Inbox, world.inbox_a)
        got = suggestions(uow.session, svc.kb, inbox, now=T0,
                          page_url="https://shop.example.com/invoice/1")
    assert got[0] == {"entry_id": bot["invoice"], "question": "怎么开发票"}


GUIDE = """# 冷链配送说明

## 包装

所有水果使用泡沫箱加冰袋包装，夏季额外放置两个冰袋，保证运输途中温度在 0-8℃。

## 签收

请在签收时当面开箱检查；如果外箱破损严重，可以直接拒收，我们会安排补发。
"""


def test_answers_from_a_document_passage(uows, world, bot):
    from kefu.kb.documents import do_delete_document, do_import_document

    with uows() as uow:
        doc = do_import_document(uow, world.admin_wang, data=GUIDE.encode(),
                                 filename="冷链配送说明.md")
        doc_id = doc.id
    conv_id, _ = customer_says(uows, world.inbox_a, "外箱破损严重可以拒收吗")
    reply = last_bot(uows, conv_id)
    assert reply.meta is not None and reply.meta["kind"] == "passage"
    assert reply.meta["document_id"] == doc_id and reply.meta["feedback"] is True
    assert "拒收" in reply.content and "冷链配送说明" in reply.content
    assert turns(uows, conv_id)[-1].decision == "passage"
    with uows() as uow:
        do_delete_document(uow, world.admin_wang, doc_id)
    customer_says(uows, world.inbox_a, "外箱破损严重可以拒收吗")
    assert turns(uows, conv_id)[-1].decision in ("none", "handoff")


def test_long_answers_are_sent_whole(uows, world, bot):
    long = "冷链说明：" + "每箱配两个冰袋。" * 700  # > 4,000 characters
    with uows() as uow:
        kb.do_update_entry(uow, world.admin_wang, bot["shipping"], EntryUpdate(answer=long))
    conv_id, _ = customer_says(uows, world.inbox_a, "多久发货")
    assert last_bot(uows, conv_id).content == long


def test_switching_the_bot_off_hands_its_conversations_to_people(uows, world, bot):
    conv_id, _ = customer_says(uows, world.inbox_a, "你好")
    with uows() as uow:
        inbox_actions.do_update_inbox(uow, world.admin_wang, world.inbox_a, InboxUpdate(
            settings=WebchatSettings(bot_enabled=False)))
    customer_says(uows, world.inbox_a, "怎么退货")
    assert conv_of(uows, conv_id).status == "queued"
    assert sum(1 for m in thread(uows, conv_id) if m.sender_type == "bot") == 1
    assert "机器人已关闭" in thread(uows, conv_id)[-1].content


def test_a_reply_that_cannot_be_posted_hands_off_instead_of_silence(uows, world, bot,
                                                                    monkeypatch):
    from kefu.bot import actions as bot_actions
    from kefu.core.errors import Invalid

    def broken(*args, **kwargs):
        raise Invalid("boom / boom", code="boom")

    monkeypatch.setattr(bot_actions, "do_bot_message", broken)
    conv_id, _ = customer_says(uows, world.inbox_a, "怎么退货")
    assert conv_of(uows, conv_id).status == "queued"
    (turn,) = turns(uows, conv_id)
    assert turn.decision == "handoff" and turn.handoff_reason == "error"
    assert [m.sender_type for m in thread(uows, conv_id)] == ["customer", "system"]


def test_a_too_long_email_in_a_left_message_is_not_fatal(uows, world, bot, clock):
    config(uows, world, hours=BusinessHours(enabled=True))
    clock.advance(days=3)  # Saturday: closed
    conv_id, contact_id = customer_says(uows, world.inbox_a, "转人工")
    customer_says(uows, world.inbox_a, "邮箱 " + "a" * 300 + "@example.com 我的橙子坏了")
    assert conv_of(uows, conv_id).status == "queued"
    assert "已收到您的留言" in last_bot(uows, conv_id).content
    with uows(readonly=True) as uow:
        contact = uow.session.get(Contact, contact_id)
        assert contact is not None and contact.email == ""  # not a valid address: not kept
