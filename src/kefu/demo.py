"""The demo workspace loaded by ``make run``: a Chinese e-commerce shop (鲜果优选旗舰店)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from kefu.accounts import actions as account_actions
from kefu.accounts.models import Workspace
from kefu.accounts.queries import actor_for
from kefu.accounts.schemas import TeamCreate, UserCreate
from kefu.contacts import actions as contact_actions
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Inbox
from kefu.inbox.schemas import InboxCreate, WebchatSettings

DEMO_SLUG = "xianguo"
DEMO_PASSWORD = "kefu-demo-2026"  # noqa: S105 - printed at start; demo only

DEMO_USERS = [
    ("admin@shop.demo", "王店长", "admin"),
    ("supervisor@shop.demo", "赵主管", "supervisor"),
    ("li@shop.demo", "李晓月", "agent"),
    ("chen@shop.demo", "陈子豪", "agent"),
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
]


@dataclass(frozen=True)
class DemoInfo:
    workspace_id: str
    inbox_id: str
    created: bool


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
        account_actions.do_create_team(uow, admin, TeamCreate(
            name="售前组", description="商品咨询、活动、下单",
            member_ids=[users["li@shop.demo"].id]))
        account_actions.do_create_team(uow, admin, TeamCreate(
            name="售后组", description="物流、退换货、投诉",
            member_ids=[users["chen@shop.demo"].id]))
        inbox = inbox_actions.do_create_inbox(uow, admin, workspace_id=ws.id, data=InboxCreate(
            name="官网在线客服", settings=WebchatSettings(
                greeting="您好，欢迎光临鲜果优选！有什么可以帮您？",
                prechat_enabled=True, prechat_fields=["name", "phone"])))
        agent = actor_for(users["li@shop.demo"])
        for i, (name, phone, vip, turns, status) in enumerate(DEMO_HISTORY):
            contact = contact_actions.do_create_contact(
                uow, workspace_id=ws.id, name=name, phone=phone,
                attributes={"vip": vip, "source": "demo"})
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
        return DemoInfo(ws.id, inbox.id, created=True)
