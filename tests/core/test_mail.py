"""Outgoing mail: the send_email job talks to a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from kefu.accounts import notifications
from kefu.core.mail import message_id_for
from kefu.services import Services
from tests.conftest import SmtpSink, World


def test_notice_with_email_reaches_the_smtp_server(svc: Services, world: World,
                                                   smtp_sink: SmtpSink) -> None:
    with svc.uows() as uow:
        notes = notifications.do_notify(
            uow, workspace_id=world.ws_a, user_ids=[world.agent_li.user_id,
                                                     world.agent_b.user_id],
            kind="test", title="工单 #7 已派给你", body="请尽快处理", link="/app/tickets/x",
            email=True, key="t7")
    # only users of the workspace are notified
    assert [n.user_id for n in notes] == [world.agent_li.user_id]
    [msg] = smtp_sink.messages
    assert msg["To"] == "li@a.example.com"
    assert msg["Subject"] == "工单 #7 已派给你"
    assert "请尽快处理" in msg.get_content()
    assert msg["Message-ID"] == message_id_for(f"t7:{world.agent_li.user_id}", svc.settings)


def test_the_same_key_sends_once(svc: Services, world: World, smtp_sink: SmtpSink) -> None:
    for _ in range(2):
        with svc.uows() as uow:
            notifications.do_notify(uow, workspace_id=world.ws_a,
                                    user_ids=[world.agent_li.user_id], kind="test",
                                    title="提醒", email=True, key="same")
    assert len(smtp_sink.messages) == 1


def test_unread_and_mark_read(svc: Services, world: World) -> None:
    with svc.uows() as uow:
        notifications.do_notify(uow, workspace_id=world.ws_a, user_ids=[world.agent_li.user_id],
                                kind="test", title="a")
        notifications.do_notify(uow, workspace_id=world.ws_a, user_ids=[world.agent_li.user_id],
                                kind="test", title="b")
    with svc.uows() as uow:
        assert notifications.unread_count(uow, world.agent_li) == 2
        assert notifications.unread_count(uow, world.agent_chen) == 0
        assert notifications.do_mark_read(uow, world.agent_li, None) == 2
        assert notifications.unread_count(uow, world.agent_li) == 0


def test_headers_from_customer_text_are_one_line(svc: Services) -> None:
    from kefu.core.mail import build_message

    msg = build_message({"to": ["a@example.com"], "subject": "退款\r\nBcc: evil@example.com",
                         "text": "正文", "from_name": "客服\n部", "message_key": "k",
                         "headers": {"X-Ticket": "12\r\nX-Evil: 1"}}, svc.settings)
    assert msg["Subject"] == "退款 Bcc: evil@example.com"
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["X-Ticket"] == "12 X-Evil: 1"
    assert "客服 部" in str(msg["From"])
