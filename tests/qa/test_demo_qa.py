"""The demo shop shows quality inspection working: editable rules, the resolved demo
conversations inspected by the job, live alerts from the angry customer and the agent's
promise."""

from __future__ import annotations

from sqlalchemy import select

from kefu.core.uow import UowFactory
from kefu.demo import DEMO_QA_RULES, load_demo
from kefu.qa.engine import default_rules
from kefu.qa.models import QaAlert, QaHit, QaInspection, QaRule
from kefu.services import Services


def test_demo_has_rules_inspections_and_alerts(svc: Services, uows: UowFactory):
    info = load_demo(uows)
    with uows(readonly=True) as uow:
        s = uow.session
        keys = set(s.scalars(select(QaRule.key).where(QaRule.workspace_id == info.workspace_id)))
        assert keys == {r.id for r in default_rules()} | {k for k, _, _ in DEMO_QA_RULES}
        inspections = s.scalars(select(QaInspection).where(
            QaInspection.workspace_id == info.workspace_id)).all()
        assert len(inspections) == 3  # the three resolved demo conversations
        worst = min(inspections, key=lambda i: i.score)
        worst_rules = set(s.scalars(select(QaHit.rule_key).where(
            QaHit.inspection_id == worst.id)))
        assert {"ad_law_absolute", "risky_promise", "pii_agent", "customer_angry",
                "angry_no_apology"} <= worst_rules
        assert worst.score <= 70 and not worst.fatal
        best = max(inspections, key=lambda i: i.score)
        assert best.score == 100
        reasons = {(a.rule_key, a.reason) for a in s.scalars(select(QaAlert).where(
            QaAlert.workspace_id == info.workspace_id))}
        assert {("customer_angry", "anger"), ("risky_promise", "alert")} <= reasons
    again = load_demo(uows)  # loading twice changes nothing
    assert again.created is False
