"""Quality inspection API: the live alerts (the supervisors' wallboard).

Alerts arrive live as ``qa.alert`` frames on the agent WebSocket of users with ``qa.alerts``;
these routes load the recent ones and acknowledge them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from kefu.accounts.actor import Actor
from kefu.core.pagination import MAX_LIMIT
from kefu.qa import live as qa_live
from kefu.realtime.hub import supervisors_topic
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["qa"])


@router.get("/qa/alerts")
def list_alerts(
    request: Request,
    actor: Actor = Depends(current_actor),
    unacknowledged: bool = False,
    since: AwareDatetime | None = None,
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    cursor: str | None = Query(None, min_length=1, max_length=24),
) -> dict[str, Any]:
    """Live alerts, newest first: ``items`` (rule, reason ``alert`` / ``anger`` /
    ``override``, the message excerpt with the hit ``spans``, customer and agent names),
    ``next_cursor`` (pass it as ``cursor`` for older ones) and ``unacknowledged`` (how many
    alerts of the workspace nobody has acknowledged yet)."""
    with services(request).uows(readonly=True) as uow:
        page = qa_live.list_alerts(uow.session, actor, unacknowledged=unacknowledged,
                                   since=since, limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor,
            "unacknowledged": page.unacknowledged}


@router.post("/qa/alerts/{alert_id}/ack")
def ack_alert(alert_id: str, request: Request,
              actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Acknowledge an alert (again: no change). Other wallboards hear ``qa.alert_ack``."""
    svc = services(request)
    with svc.uows() as uow:
        alert = qa_live.acknowledge_alert(uow, actor, alert_id)
        out = qa_live.describe_alerts(uow.session, [alert])[0]
    svc.broker.publish(supervisors_topic(actor.workspace_id), {
        "type": "qa.alert_ack", "id": out["id"], "acknowledged_by": out["acknowledged_by"],
        "acknowledged_at": out["acknowledged_at"]})
    return out
