"""The demo workspace loaded by ``make run``: a Chinese e-commerce shop (鲜果优选旗舰店)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from kefu.accounts import actions as account_actions
from kefu.accounts.actor import Actor
from kefu.accounts.models import Workspace
from kefu.accounts.queries import actor_for
from kefu.accounts.schemas import TeamCreate, UserCreate
from kefu.contacts import actions as contact_actions
from kefu.core.clock import FixedClock
from kefu.core.uow import UnitOfWork, UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Inbox
from kefu.inbox.schemas import InboxCreate, InboxUpdate, WebchatSettings
from kefu.kb import actions as kb_actions
from kefu.kb.schemas import EntryCreate, SmallTalkCreate, SynonymCreate
from kefu.qa import manage as qa_manage

DEMO_SLUG = "xianguo"
DEMO_PASSWORD = "kefu-demo-2026"  # noqa: S105 - printed at start; demo only

DEMO_USERS = [
    ("admin@shop.demo", "王店长", "admin"),
    ("supervisor@shop.demo", "赵主管", "supervisor"),
    ("li@shop.demo", "李晓月", "agent"),
    ("chen@shop.demo", "陈子豪", "agent"),
    ("qa@shop.demo", "孙质检", "inspector"),
]

# (customer name, phone, vip, [(sender, text)], final status)
DEMO_HISTORY: list[tuple[str, str, bool, list[tuple[str, str]], str]] = [
    ("张女士", "13800138000", True, [
        ("customer", "你好，我昨天买的车厘子什么时候发货？"),
        ("agent", "您好，车厘子今天下午四点前统一顺丰冷链发出，发货后会短信通知您单号。"),
        ("customer", "好的，谢谢！"),
        ("agent", "不客气，祝您生活愉快～"),
    ], "resolved"),
    ("Kevin Liu", "13912345678", False, [
        ("customer", "Hi, can I change the delivery address? 地址写错了"),
        ("agent", "可以的，请把新地址发给我，我帮您在发货前修改。"),
        ("customer", "上海市浦东新区世纪大道100号"),
    ], "open"),
    ("刘先生", "", False, [
        ("customer", "收到的芒果有两个坏了，怎么处理？"),
    ], "queued"),
    ("周小姐", "13700001111", False, [
        ("customer", "双11的满减活动还有吗？"),
        ("agent", "您好，满199减30的活动到11月11日24点结束，下单时会自动计算。"),
    ], "pending"),
    # for quality inspection (质检): an angry customer and an agent breaking the rules
    ("钱先生", "13611112222", True, [
        ("customer", "三天了还没发货，你们就是骗子，我要投诉！"),
        ("agent", "我们家的车厘子是全网最低价，保证明天一定到！"),
        ("customer", "明天不到我就给差评"),
        ("agent", "放心吧，有事直接打我手机13612345678"),
    ], "resolved"),
    ("孙女士", "13522223333", False, [
        ("customer", "请问草莓今天下单能发货吗？"),
        ("agent", "您好，今天下午四点前下单当天发货，顺丰冷链配送。"),
        ("customer", "好的谢谢"),
        ("agent", "不客气，还有其他可以帮您的吗？祝您生活愉快～"),
    ], "resolved"),
]

#: extra inspection rules of the demo shop (beside the built-in set it installs)
DEMO_QA_RULES: list[tuple[str, str, dict[str, object]]] = [
    ("greeting", "开场问候", {"kind": "script", "check": "opening",
                          "terms": ["您好", "你好", "亲", "欢迎"], "deduction": 2,
                          "group": "服务规范"}),
    ("closing", "结束语", {"kind": "script", "check": "closing",
                        "terms": ["还有其他", "祝您", "再见", "感谢您"], "window": 2,
                        "deduction": 2, "group": "服务规范"}),
    ("customer_unhappy", "客户不满", {"kind": "sentiment", "measure": "dissatisfaction",
                                  "threshold": 1.0, "deduction": 0, "group": "服务态度"}),
    ("angry_no_apology", "客户愤怒后未致歉", {
        "kind": "combination", "after": "customer_angry", "none_of": ["apology"],
        "within": 2, "deduction": 5, "group": "服务态度"}),
    ("apology", "致歉用语", {"kind": "keyword", "terms": ["抱歉", "对不起", "不好意思"],
                         "deduction": 0, "group": "服务态度"}),
]


# (key, category, question, phrasings, answer, related keys, extra fields)
DEMO_KB: list[tuple[str, str, str, list[str], str, list[str], dict[str, object]]] = [
    ("ship", "物流配送", "什么时候发货", ["多久发货", "下单后几天发货", "今天下单什么时候发",
     "什么时候能发货"], "下单后 24 小时内发货（预售商品以商品页时间为准），顺丰冷链配送，发货后"
     "短信通知运单号。", ["track"], {"tags": ["物流"]}),
    ("address", "物流配送", "可以修改收货地址吗", ["地址写错了怎么办", "怎么改地址",
     "修改收货地址"], "发货前可以修改：在“我的订单”里点“修改地址”，或把新地址发给客服。已发货"
     "的订单需要联系快递改派。", [], {"tags": ["物流"]}),
    ("track", "物流配送", "怎么查物流", ["快递到哪了", "物流信息怎么查", "我的快递到哪里了",
     "为什么物流不更新"], "在“我的订单-查看物流”可以看到顺丰的实时轨迹；超过 48 小时没有更新，"
     "请转人工帮您催件。", [], {"tags": ["物流"]}),
    ("area", "物流配送", "配送范围有哪些", ["你们发哪些地方", "新疆西藏能发吗", "偏远地区能送吗"],
     "全国大部分地区可配送；新疆、西藏、青海因冷链时效原因暂不配送生鲜。", [], {}),
    ("fee", "物流配送", "运费怎么算", ["包邮吗", "多少钱包邮", "运费多少"],
     "单笔满 99 元包邮，不满 99 元收取 10 元冷链运费。", [], {}),
    ("bad", "售后服务", "水果坏了怎么办", ["收到的水果烂了", "有坏果怎么赔", "坏果理赔",
     "芒果坏了"], "签收后 48 小时内在“我的订单-申请售后”上传照片，坏果按实际数量退款，无需退回。",
     ["refund"], {"tags": ["售后"]}),
    ("return", "售后服务", "如何申请退货", ["怎么退货", "可以退货吗", "不想要了能退吗",
     "七天无理由退货吗"], "生鲜水果不支持七天无理由退货；如有质量问题，签收后 48 小时内申请售后"
     "即可。", ["bad"], {"tags": ["售后"]}),
    ("refund", "售后服务", "退款多久到账", ["退款什么时候到", "钱什么时候退回来", "退款进度"],
     "售后审核通过后原路退款：微信/支付宝 1-3 个工作日，银行卡 3-7 个工作日。", [],
     {"tags": ["售后"]}),
    ("invoice", "订单与支付", "可以开发票吗", ["怎么开发票", "发票怎么开", "能开专票吗"],
     "订单完成后在“我的订单-申请发票”开具电子普通发票；需要增值税专用发票请联系人工客服。",
     [], {"channel_answers": {"wechat": "公众号菜单“我的-订单”里点“申请发票”即可开具电子发票。"}}),
    ("pay", "订单与支付", "支持哪些支付方式", ["能用花呗吗", "可以信用卡支付吗", "怎么付款"],
     "支持微信支付、支付宝（含花呗）、银联信用卡和储蓄卡。", [], {}),
    ("cancel", "订单与支付", "订单怎么取消", ["取消订单", "不想买了怎么取消", "下错单了"],
     "未发货订单可在“我的订单”中直接取消，款项原路退回；已发货订单请拒收或申请售后。", [], {}),
    ("cherry", "商品咨询", "车厘子是什么规格", ["车厘子多大", "车厘子几J的", "樱桃规格"],
     "智利进口车厘子 JJ 级（果径 28-30mm），2.5kg 礼盒装。", ["keep"], {"tags": ["车厘子"]}),
    ("keep", "商品咨询", "水果怎么保存", ["芒果怎么放", "车厘子要冷藏吗", "怎么储存水果"],
     "车厘子、葡萄请 0-4℃ 冷藏；芒果、牛油果常温放置催熟，熟后再冷藏。", [], {}),
    ("d11", "活动优惠", "双11活动规则", ["双11有什么优惠", "双十一满减", "双11活动"],
     "双11期间全场满 199 减 30，可与店铺优惠券叠加；活动截止 11 月 11 日 24:00。", [],
     {"tags": ["双11"], "valid_from": "2026-11-01T00:00:00+08:00",
      "valid_until": "2026-11-12T00:00:00+08:00"}),
    ("member", "活动优惠", "会员有什么权益", ["怎么成为会员", "会员折扣", "VIP有什么好处"],
     "累计消费满 500 元自动成为会员，享 95 折、生日礼券和优先发货。", [], {}),
    ("coupon", "活动优惠", "优惠券怎么用", ["优惠券在哪里", "为什么优惠券用不了", "怎么领券"],
     "结算页会自动选择可用的最大优惠券；券不可用时请查看券面的使用门槛和有效期。", [], {}),
    ("gift", "商品咨询", "可以送礼吗", ["能写贺卡吗", "送人可以不放价格单吗", "有礼品包装吗"],
     "下单时备注“送礼”即可免费附贺卡，包裹内不放价格单。", [], {}),
    ("hours", "售后服务", "客服工作时间", ["客服几点上班", "客服什么时候在线"],
     "人工客服每天 08:00-22:00 在线，其他时间可以留言，我们上班后第一时间联系您。", [], {}),
]
DEMO_SYNONYMS = [["快递", "物流"], ["车厘子", "樱桃"], ["退款", "退钱"]]
DEMO_SMALLTALK = [
    (["你好", "您好", "在吗", "hi", "hello"],
     "您好！我是鲜果优选的智能助手小鲜，请问有什么可以帮您？"),
    (["谢谢", "多谢", "好的谢谢", "thanks"], "不客气，很高兴能帮到您～"),
    (["你是机器人吗", "你是谁", "你是真人吗"],
     "我是智能助手小鲜，可以回答常见问题；需要人工服务请输入“转人工”。"),
    (["再见", "拜拜", "bye"], "感谢您的咨询，祝您生活愉快，再见～"),
]


def _load_kb(uow: UnitOfWork, admin: Actor, inbox_id: str) -> None:
    from kefu.bot.actions import do_update_config
    from kefu.bot.schemas import BotConfig, BusinessHours, SuggestRule

    ids: dict[str, str] = {}
    for key, category, question, phrasings, answer, _related, extra in DEMO_KB:
        cat = kb_actions.ensure_category_path(uow, admin, category)
        ids[key] = kb_actions.do_create_entry(uow, admin, EntryCreate.model_validate({
            "question": question, "phrasings": phrasings, "answer": answer,
            "category_id": cat, "status": "published", **extra})).id
    for key, *_rest, related, _extra in DEMO_KB:
        if related:
            from kefu.kb.schemas import EntryUpdate

            kb_actions.do_update_entry(uow, admin, ids[key], EntryUpdate(
                related_ids=[ids[r] for r in related]))
    for group in DEMO_SYNONYMS:
        kb_actions.do_create_synonym(uow, admin, SynonymCreate(terms=group))
    for phrasings, reply in DEMO_SMALLTALK:
        kb_actions.do_create_smalltalk(uow, admin, SmallTalkCreate(phrasings=phrasings,
                                                                   reply=reply))
    every_day = {d: ["08:00-22:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    do_update_config(uow, admin, inbox_id, BotConfig(
        name="小鲜", greeting="您好，我是鲜果优选的智能助手小鲜，有什么可以帮您？",
        hours=BusinessHours(enabled=True, weekly=every_day),
        suggest_rules=[SuggestRule(attribute="order_status", value="shipped",
                                   entry_ids=[ids["track"], ids["bad"]]),
                       # the product page: delivery and freshness come first
                       SuggestRule(url_contains="/demo/shop",
                                   entry_ids=[ids["ship"], ids["bad"], ids["keep"]])]))


@dataclass(frozen=True)
class DemoInfo:
    workspace_id: str
    inbox_id: str
    created: bool


def _load_qa(uow: UnitOfWork, admin: Actor) -> None:
    """The built-in inspection rules as editable rows, plus the demo's own."""
    qa_manage.do_install_defaults(uow, admin)
    # "apology" first: the combination rule names it
    for key, name, definition in sorted(DEMO_QA_RULES, key=lambda r: r[0] != "apology"):
        qa_manage.do_create_rule(uow, admin, key=key, name=name, definition=definition)


DEMO_TEMPLATES: list[dict[str, Any]] = [
    {"name": "售后问题", "description": "质量问题、退换货、补发", "public": True,
     "default_priority": "P3", "team": "售后组", "fields": [
         {"key": "order_no", "label": "订单号", "type": "text", "required": True,
          "help": "在“我的订单”里可以找到"},
         {"key": "kind", "label": "问题类型", "type": "select", "required": True,
          "options": ["坏果/破损", "少发/错发", "物流延误", "退款", "其他"]},
         {"key": "amount", "label": "涉及金额（元）", "type": "number"},
         {"key": "photos", "label": "照片", "type": "attachment"}]},
    {"name": "发票申请", "description": "开具或重开发票", "public": True,
     "default_priority": "P4", "team": "售前组", "fields": [
         {"key": "order_no", "label": "订单号", "type": "text", "required": True},
         {"key": "title", "label": "发票抬头", "type": "text", "required": True},
         {"key": "tax_no", "label": "税号", "type": "text"},
         {"key": "kinds", "label": "发票类型", "type": "multiselect",
          "options": ["电子普票", "专票"]}]},
]

# (subject, template, fields, priority, team, assignee, customer index, status, hours ago)
DEMO_TICKETS: list[tuple[str, str, dict[str, Any], str, str, str | None, int, str, float]] = [
    ("车厘子到货有坏果，要求补发", "售后问题", {"order_no": "XG20261108001", "kind": "坏果/破损",
     "amount": 168}, "P2", "售后组", "chen@shop.demo", 0, "open", 30),
    ("快递三天没有更新", "售后问题", {"order_no": "XG20261107019", "kind": "物流延误"},
     "P3", "售后组", None, 1, "new", 2),
    ("申请开具电子发票", "发票申请", {"order_no": "XG20261101007", "title": "上海某某科技有限公司",
     "kinds": ["电子普票"]}, "P4", "售前组", "li@shop.demo", 1, "pending", 20),
    ("退款一直没到账", "售后问题", {"order_no": "XG20261030002", "kind": "退款", "amount": 59.9},
     "P1", "售后组", "chen@shop.demo", 0, "open", 5),
    ("少发了一盒蓝莓", "售后问题", {"order_no": "XG20261025011", "kind": "少发/错发"},
     "P3", "售后组", "chen@shop.demo", 1, "resolved", 60),
]


def _load_tickets(uow: UnitOfWork, admin: Actor, users: dict[str, Any], teams: dict[str, str],
                  contacts: list[str], conversations: list[str]) -> None:
    """Ticket templates, an SLA calendar and policies, team assignment, triggers and a few
    tickets at different stages (one made from a conversation)."""
    from kefu.tickets import actions as t_actions
    from kefu.tickets import automation, policies
    from kefu.tickets import templates as t_templates
    from kefu.tickets.schemas import TicketCreate, TicketUpdate

    templates = {}
    for raw in DEMO_TEMPLATES:
        spec = {k: v for k, v in raw.items() if k != "team"}
        templates[spec["name"]] = t_templates.do_create_template(
            uow, admin, t_templates.TemplateCreate(default_team_id=teams[raw["team"]],
                                                   **spec)).id
    workdays = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-12:00, 13:30-18:00")
    calendar = policies.do_create_calendar(
        uow, admin, name="客服工作日（示例）", timezone="Asia/Shanghai",
        weekly={**workdays, "sat": "10:00-16:00"},
        # a sample: enter the year's official holidays and make-up workdays (调休) here
        holidays="2026-10-01..2026-10-07", workdays="2026-10-10")
    policies.do_create_policy(uow, admin, {
        "name": "VIP 客户", "conditions": {"tiers": ["vip"]}, "calendar_id": calendar.id,
        "escalate_after_minutes": 30, "targets": {
            p: {"first_response": fr, "next_response": fr * 2, "resolution": res}
            for p, fr, res in (("P1", 15, 120), ("P2", 30, 240), ("P3", 60, 480),
                               ("P4", 120, 960))}})
    policies.do_create_policy(uow, admin, {
        "name": "标准", "calendar_id": calendar.id, "escalate_after_minutes": 60, "targets": {
            p: {"first_response": fr, "next_response": fr * 2, "resolution": res}
            for p, fr, res in (("P1", 30, 240), ("P2", 60, 480), ("P3", 120, 1440),
                               ("P4", 240, 2880))}})
    lead = users["supervisor@shop.demo"].id
    policies.do_set_team_settings(uow, admin, teams["售后组"], assignment="least_loaded",
                                  lead_id=lead)
    policies.do_set_team_settings(uow, admin, teams["售前组"], assignment="round_robin",
                                  lead_id=lead)
    automation.do_create_trigger(uow, admin, automation.TriggerIn(
        name="P1 工单通知主管", event="create",
        conditions=[{"field": "priority", "op": "is", "value": "P1"}],
        actions=[{"type": "notify", "to": ["supervisors"],
                  "title": "紧急工单 #{number}：{subject}", "body": "{link}"}]))
    automation.do_create_trigger(uow, admin, automation.TriggerIn(
        name="退款类标记", event="create",
        conditions=[{"field": "fields.kind", "op": "is", "value": "退款"}],
        actions=[{"type": "add_tag", "tag": "退款"}, {"type": "set_priority", "value": "P2"}]))
    real_clock = uow.clock
    now = real_clock.now()
    try:
        for subject, tpl, values, prio, team, assignee, who, status, hours in DEMO_TICKETS:
            # the demo's tickets happened over the last days: their timelines and SLA clocks
            # are written as of then (a reply 20 minutes after creation, the rest at once)
            at = FixedClock(now - timedelta(hours=hours))
            uow.clock = at
            by = actor_for(users[assignee]) if assignee else admin
            ticket = t_actions.do_create_ticket(uow, by, workspace_id=admin.workspace_id,
                                                data=TicketCreate(
                subject=subject, description=f"客户反馈：{subject}。",
                template_id=templates[tpl], fields=values,
                priority=prio, team_id=teams[team],
                assignee_id=users[assignee].id if assignee else None,
                contact_id=contacts[who]), source="agent")
            at.advance(minutes=20)
            if status != "new":
                t_actions.do_reply(uow, by, ticket.id, public=True,
                                   body="您好，已收到您的反馈，我们正在处理，请耐心等待。")
            if status in ("pending", "resolved"):
                at.advance(hours=1)
                t_actions.do_update_ticket(uow, by, ticket.id, TicketUpdate(status=status))
            if status == "resolved":
                t_actions.do_reply(uow, by, ticket.id, public=False,
                                   body="@赵主管 这单已补发，请知悉。")
    finally:
        uow.clock = real_clock
    if conversations:
        from kefu.tickets import intake

        intake.do_create_from_conversation(uow, actor_for(users["li@shop.demo"]),
                                           conversations[-1])


def load_demo(uows: UowFactory) -> DemoInfo:
    """Create the demo workspace once; later calls return what exists."""
    with uows() as uow:
        ws = uow.session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        if ws is not None:
            inbox_id = uow.session.scalar(
                select(Inbox.id).where(Inbox.workspace_id == ws.id).order_by(Inbox.created_at))
            return DemoInfo(ws.id, inbox_id or "", created=False)
        ws = account_actions.do_create_workspace(uow, name="鲜果优选旗舰店", slug=DEMO_SLUG)
        users = {}
        for email, name, role in DEMO_USERS:
            users[email] = account_actions.do_create_user(
                uow, workspace_id=ws.id,
                data=UserCreate(email=email, name=name, role=role, password=DEMO_PASSWORD))
        admin = actor_for(users["admin@shop.demo"])
        teams = {t.name: t.id for t in (
            account_actions.do_create_team(uow, admin, TeamCreate(
                name="售前组", description="商品咨询、活动、下单",
                member_ids=[users["li@shop.demo"].id])),
            account_actions.do_create_team(uow, admin, TeamCreate(
                name="售后组", description="物流、退换货、投诉",
                member_ids=[users["chen@shop.demo"].id, users["li@shop.demo"].id])))}
        inbox = inbox_actions.do_create_inbox(uow, admin, workspace_id=ws.id, data=InboxCreate(
            name="官网在线客服", settings=WebchatSettings(
                greeting="您好，欢迎光临鲜果优选！有什么可以帮您？",
                prechat_enabled=True, prechat_fields=["name", "phone"])))
        agent = actor_for(users["li@shop.demo"])
        _load_qa(uow, admin)
        contacts: list[str] = []
        open_conversations: list[str] = []
        for i, (name, phone, vip, turns, status) in enumerate(DEMO_HISTORY):
            contact = contact_actions.do_create_contact(
                uow, workspace_id=ws.id, name=name, phone=phone,
                attributes={"vip": vip, "tier": "vip" if vip else "normal", "source": "demo"})
            contacts.append(contact.id)
            contact_actions.do_add_identity(uow, contact, kind="webchat_visitor",
                                            external_id=f"v_demo_{i}")
            conv_id = None
            for sender, text in turns:
                if sender == "customer":
                    posted = inbox_actions.do_receive_inbound(uow, inbox=inbox, contact=contact,
                                                              content=text)
                    conv_id = posted.conversation.id
                elif conv_id is not None:
                    inbox_actions.do_agent_reply(uow, agent, conv_id, content=text)
            if conv_id is not None and status in ("resolved", "pending"):
                inbox_actions.do_set_status(uow, agent, conv_id, status=status)
            elif conv_id is not None:
                open_conversations.append(conv_id)
        _load_kb(uow, admin, inbox.id)
        _load_tickets(uow, admin, users, teams, contacts, open_conversations)
        settings = WebchatSettings.model_validate({**inbox.settings, "bot_enabled": True})
        inbox_actions.do_update_inbox(uow, admin, inbox.id, InboxUpdate(settings=settings))
        return DemoInfo(ws.id, inbox.id, created=True)
