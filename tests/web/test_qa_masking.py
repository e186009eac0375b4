"""A personal-data rule with ``mask``: the agent's reply is stored and delivered masked, and
the inspection of the conversation still counts the hit (noted in the message's meta)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Message
from kefu.qa import manage
from kefu.qa.models import QaHit, QaInspection, QaRule
from kefu.services import Services
from tests.conftest import World, customer_says, login


def test_masked_phone_number_is_stored_masked_and_still_inspected(
        app_client: TestClient, world: World, uows: UowFactory, svc: Services) -> None:
    with uows() as uow:
        manage.do_install_defaults(uow, world.admin_wang)
        row = uow.session.scalar(select(QaRule).where(
            QaRule.workspace_id == world.ws_a, QaRule.key == "pii_agent"))
        assert row is not None
        manage.do_update_rule(uow, world.admin_wang, row.id, definition={
            **row.definition, "block": False, "mask": True})
    conv, _ = customer_says(uows, world.inbox_a, "怎么联系你们", visitor="v_mask")
    login(app_client, "li@a.example.com")
    draft = "  有事打我电话 138 1234 5678，或者发邮件 "
    r = app_client.post(f"/api/v1/conversations/{conv}/messages", json={"content": draft})
    assert r.status_code == 201, r.text
    stored_text = "有事打我电话 138 **** 5678，或者发邮件"
    assert r.json()["content"] == stored_text
    with uows(readonly=True) as uow:
        msg = uow.session.scalar(select(Message).where(
            Message.conversation_id == conv, Message.sender_type == "agent"))
        assert msg is not None and msg.content == stored_text
        assert msg.meta is not None
        [noted] = msg.meta["qa_masked"]
        assert noted["rule_id"] == "pii_agent"
        assert stored_text[noted["span"][0]:noted["span"][1]] == "138 **** 5678"
    # the visitor's transcript shows the masked text only
    assert "1234" not in str(r.json())
    with uows() as uow:
        inbox_actions.do_set_status(uow, world.agent_li, conv, status="resolved")
    with uows(readonly=True) as uow:
        ins = uow.session.scalar(select(QaInspection).where(
            QaInspection.conversation_id == conv))
        assert ins is not None
        hits = list(uow.session.scalars(select(QaHit).where(QaHit.inspection_id == ins.id)))
        pii = [h for h in hits if h.rule_key == "pii_agent"]
        assert len(pii) == 1 and pii[0].message_id == msg.id
        assert ins.score == 90


def test_a_masked_number_still_raises_its_alert(
        app_client: TestClient, world: World, uows: UowFactory, svc: Services) -> None:
    from kefu.qa.models import QaAlert

    with uows() as uow:
        manage.do_install_defaults(uow, world.admin_wang)
        row = uow.session.scalar(select(QaRule).where(
            QaRule.workspace_id == world.ws_a, QaRule.key == "pii_agent"))
        assert row is not None
        manage.do_update_rule(uow, world.admin_wang, row.id, definition={
            **row.definition, "block": False, "mask": True, "alert": True})
    conv, _ = customer_says(uows, world.inbox_a, "电话多少", visitor="v_mask_alert")
    login(app_client, "li@a.example.com")
    r = app_client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"content": "打我电话13812345678"})
    assert r.status_code == 201, r.text
    with uows(readonly=True) as uow:
        alerts = list(uow.session.scalars(select(QaAlert).where(
            QaAlert.conversation_id == conv)))
    assert [(a.rule_key, a.excerpt) for a in alerts] == [("pii_agent", "打我电话138****5678")]
    assert alerts[0].spans == [[4, 15]]
