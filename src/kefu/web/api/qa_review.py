"""Quality inspection API: results, the review queue, hit review, appeals and decisions.

Agents (``qa.read`` only) see and appeal their own results; inspectors review (``qa.review``);
supervisors and admins decide appeals (``qa.decide``). Every write is audited on the
inspection and recomputes its score where hits change (see ``kefu.qa.review``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from kefu.accounts.actor import Actor
from kefu.core.pagination import MAX_LIMIT
from kefu.qa import review as qa_review
from kefu.qa import review_queries as rq
from kefu.web.deps import current_actor, services

router = APIRouter(prefix="/api/v1", tags=["qa"])

Reason = Literal["fatal", "low_score", "low_csat", "random"]


class HitReview(BaseModel):
    decision: Literal["confirmed", "overruled"]
    comment: str = Field(default="", max_length=qa_review.MAX_TEXT)


class FinishReview(BaseModel):
    comment: str = Field(default="", max_length=qa_review.MAX_TEXT)


class AppealCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=qa_review.MAX_TEXT)
    hit_id: str | None = Field(default=None, min_length=1, max_length=24)


class AppealDecision(BaseModel):
    accept: bool
    comment: str = Field(default="", max_length=qa_review.MAX_TEXT)


def _page(page: Any) -> dict[str, Any]:
    return {"items": [i.as_dict() for i in page.items], "total": page.total,
            "limit": page.limit, "offset": page.offset}


def _hit(h: Any) -> dict[str, Any]:
    return {"id": h.id, "inspection_id": h.inspection_id, "rule_key": h.rule_key,
            "rule_name": h.rule_name, "review": h.review, "review_comment": h.review_comment,
            "reviewed_by": h.reviewed_by, "reviewed_at": h.reviewed_at}


def _detail(request: Request, actor: Actor, inspection_id: str) -> dict[str, Any]:
    with services(request).uows(readonly=True) as uow:
        d = rq.inspection_detail(uow.session, actor, inspection_id, now=uow.clock.now())
    for m in d["messages"]:
        m["segments"] = [{"text": s.text, "hit_ids": s.hit_ids} for s in m["segments"]]
    return d


@router.get("/qa/inspections")
def get_inspections(request: Request, actor: Actor = Depends(current_actor),
                    status: Literal["auto", "reviewed", "appealed", "final"] | None = None,
                    sampled: Reason | None = None,
                    inbox_id: str | None = Query(None, max_length=24),
                    agent_id: str | None = Query(None, max_length=24),
                    fatal: bool | None = None,
                    since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                    limit: int = Query(50, ge=1, le=MAX_LIMIT),
                    offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Inspection results, newest conversation first. Agents get only their own."""
    with services(request).uows(readonly=True) as uow:
        return _page(rq.list_inspections(
            uow.session, actor, status=status, sampled=sampled, inbox_id=inbox_id,
            agent_id=agent_id, fatal=fatal, since=since, until=until, now=uow.clock.now(),
            limit=limit, offset=offset))


@router.get("/qa/inspections/{inspection_id}")
def get_inspection(inspection_id: str, request: Request,
                   actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """One result: score, deductions per group, the conversation's messages with the hits'
    spans (``segments``), conversation-level hits, appeals, the audit timeline and what the
    caller may do (``can``)."""
    return _detail(request, actor, inspection_id)


@router.get("/qa/review-queue")
def get_review_queue(request: Request, actor: Actor = Depends(current_actor),
                     reason: Reason | None = None,
                     inbox_id: str | None = Query(None, max_length=24),
                     agent_id: str | None = Query(None, max_length=24),
                     since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                     limit: int = Query(50, ge=1, le=MAX_LIMIT),
                     offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Sampled results waiting for review (status ``auto``), the longest-waiting first."""
    with services(request).uows(readonly=True) as uow:
        return _page(rq.review_queue(uow.session, actor, reason=reason, inbox_id=inbox_id,
                                     agent_id=agent_id, since=since, until=until,
                                     limit=limit, offset=offset))


@router.post("/qa/hits/{hit_id}/review")
def post_hit_review(hit_id: str, data: HitReview, request: Request,
                    actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Confirm or overrule one hit (overruling needs a comment); the score is recomputed."""
    with services(request).uows() as uow:
        hit = qa_review.review_hit(uow, actor, hit_id, data.decision, data.comment)
        out = _hit(hit)
        insp = rq.access_inspection(actor, hit.inspection_id, session=uow.session)
        out["score"] = insp.score
        out["fatal"] = insp.fatal
        return out


@router.post("/qa/inspections/{inspection_id}/finish-review")
def post_finish_review(inspection_id: str, data: FinishReview, request: Request,
                       actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Close the review: open hits are confirmed, the result becomes ``reviewed``."""
    with services(request).uows() as uow:
        qa_review.finish_review(uow, actor, inspection_id, data.comment)
    return _detail(request, actor, inspection_id)


@router.post("/qa/inspections/{inspection_id}/appeals", status_code=201)
def post_appeal(inspection_id: str, data: AppealCreate, request: Request,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Appeal one's own result (or one hit of it) before the deadline."""
    with services(request).uows() as uow:
        row = qa_review.appeal(uow, actor, inspection_id, data.reason, hit_id=data.hit_id)
        appeal_id = row.id
    with services(request).uows(readonly=True) as uow:
        return rq.appeal_row(uow.session, actor, appeal_id).as_dict()


@router.get("/qa/appeals")
def get_appeals(request: Request, actor: Actor = Depends(current_actor),
                status: Literal["open", "accepted", "rejected"] | None = None,
                agent_id: str | None = Query(None, max_length=24),
                limit: int = Query(50, ge=1, le=MAX_LIMIT),
                offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Appeals, open ones first. Agents get only their own."""
    with services(request).uows(readonly=True) as uow:
        return _page(rq.list_appeals(uow.session, actor, status=status, agent_id=agent_id,
                                     limit=limit, offset=offset))


@router.post("/qa/appeals/{appeal_id}/decide")
def post_decide(appeal_id: str, data: AppealDecision, request: Request,
                actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    """Accept (the appealed hit, or every hit, is overruled; score recomputed) or reject (a
    comment is required). The result is final once no appeal stays open."""
    with services(request).uows() as uow:
        row = qa_review.decide_appeal(uow, actor, appeal_id, data.accept, data.comment)
        insp = rq.access_inspection(actor, row.inspection_id, session=uow.session)
        return {"id": row.id, "inspection_id": row.inspection_id, "status": row.status,
                "decided_by": row.decided_by, "decided_at": row.decided_at,
                "decision_comment": row.decision_comment, "score": insp.score,
                "fatal": insp.fatal, "inspection_status": insp.status}
