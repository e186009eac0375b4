"""Quality-inspection events."""

from __future__ import annotations

from typing import Literal

from kefu.core.events import Event


class RulesChanged(Event):
    """A rule, word pack or scorecard of the workspace changed: compiled rules are rebuilt."""

    type: Literal["qa.rules_changed"] = "qa.rules_changed"


class AlertRaised(Event):
    """A message hit an alerting rule (or an agent overrode a block): supervisors see it live."""

    type: Literal["qa.alert_raised"] = "qa.alert_raised"
    alert_id: str
    conversation_id: str
    message_id: str
    rule_key: str
    rule_name: str
    reason: str
    excerpt: str
    spans: list[list[int]]


class InspectionDone(Event):
    """A conversation was inspected (or re-scored after review / appeal)."""

    type: Literal["qa.inspection_done"] = "qa.inspection_done"
    inspection_id: str
    conversation_id: str
    score: float
    fatal: bool
