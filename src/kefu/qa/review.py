"""Review and appeal of stored inspection results (every write, audited).

* ``review_hit`` — an inspector confirms or overrules one hit (overruling needs a comment);
  the score is recomputed at once.
* ``finish_review`` — the reviewer closes the review: hits still open are confirmed, the
  result becomes ``reviewed`` (it leaves the queue).
* ``appeal`` — the inspected agent appeals the whole result or one hit before the deadline.
* ``decide_appeal`` — a supervisor (``qa.decide``, never the appealing agent) accepts or
  rejects; accepting overrules the appealed hit (or every hit) and recomputes the score.

Scores are recomputed by ``review_queries.rescore`` (``kefu.qa.inspections.score_inspection``:
``kefu.qa.engine.score`` over the hits that are not overruled, with the scorecard stored on the
inspection, ``card``), so a later change of the workspace's scorecard never changes a reviewed
result; ``hit_count`` becomes the number of hits not overruled, as in the batch. Every step
writes an audit entry on the inspection (``object_type="qa_inspection"``) and emits
``InspectionDone`` with the (new) score.

Statuses: ``auto`` → (finish review) ``reviewed``; ``auto``/``reviewed`` → (appeal)
``appealed`` → (last open appeal decided) ``final``. A ``final`` result is locked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from kefu.accounts.actor import Actor
from kefu.core.audit import record
from kefu.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork
from kefu.qa.events import InspectionDone
from kefu.qa.models import QaAppeal, QaHit, QaInspection
from kefu.qa.review_queries import (
    AUDIT_OBJECT,
    access_appeal,
    access_hit,
    access_inspection,
    inspection_hits,
    rescore,
)

DECISIONS = ("confirmed", "overruled")
MAX_TEXT = 2000
#: the appeal window given at the end of a review when the result has no deadline yet
DEFAULT_APPEAL_WINDOW = timedelta(days=7)


def _text(value: str, *, required: bool, what: tuple[str, str]) -> str:
    text = (value or "").strip()
    if required and not text:
        raise Invalid(f"请填写{what[0]} / {what[1]} is required", code="qa_comment_required")
    if len(text) > MAX_TEXT:
        raise Invalid(f"{what[0]}过长（最多 {MAX_TEXT} 字）/ {what[1]} is too long "
                      f"(at most {MAX_TEXT} characters)", code="qa_text_too_long",
                      max=MAX_TEXT)
    return text


COMMENT = ("说明", "A comment")
REASON = ("申诉理由", "A reason")


def _locked(insp: QaInspection) -> Conflict:
    if insp.status == "appealed":
        return Conflict("该结果正在申诉中，等待主管裁决 / This result is under appeal: a "
                        "supervisor decides", code="qa_under_appeal", status=insp.status)
    return Conflict("该结果已终审，不能再修改 / This result is final and can no longer "
                    "change", code="qa_inspection_final", status=insp.status)


def _not_own(actor: Actor, insp: QaInspection) -> None:
    if insp.agent_id is not None and insp.agent_id == actor.user_id:
        raise PermissionDenied("不能复核自己的质检结果 / You cannot review your own result",
                               code="qa_own_result")


def apply_score(uow: UnitOfWork, insp: QaInspection, hits: list[QaHit]) -> dict[str, Any]:
    """Recompute and store the score; emit ``InspectionDone``; returns before/after."""
    before = {"score": insp.score, "fatal": insp.fatal}
    result = rescore(insp, hits)
    insp.score = result.total
    insp.fatal = result.fatal
    insp.hit_count = sum(1 for h in hits if h.review != "overruled")
    uow.emit(InspectionDone(workspace_id=insp.workspace_id, inspection_id=insp.id,
                            conversation_id=insp.conversation_id, score=insp.score,
                            fatal=insp.fatal))
    return {"score_before": before["score"], "score": insp.score,
            "fatal_before": before["fatal"], "fatal": insp.fatal}


def _audit(uow: UnitOfWork, actor: Actor, insp: QaInspection, action: str,
           data: dict[str, Any]) -> None:
    record(uow, workspace_id=insp.workspace_id, actor_id=actor.user_id or None, action=action,
           object_type=AUDIT_OBJECT, object_id=insp.id, data=data)


def _set_review(uow: UnitOfWork, actor: Actor, hit: QaHit, decision: str, comment: str) -> None:
    hit.review = decision
    hit.review_comment = comment
    hit.reviewed_by = actor.user_id
    hit.reviewed_at = uow.clock.now()


def review_hit(uow: UnitOfWork, actor: Actor, hit_id: str, decision: str,
               comment: str = "") -> QaHit:
    """Confirm or overrule one hit (``qa.review``; overruling needs a comment). The result's
    score is recomputed. Allowed while the result is ``auto`` or ``reviewed``."""
    actor.require("qa.review")
    if decision not in DECISIONS:
        raise Invalid("无效的复核结论 / Invalid review decision", code="qa_bad_decision",
                      decision=decision, allowed=list(DECISIONS))
    text = _text(comment, required=decision == "overruled", what=COMMENT)
    hit = access_hit(actor, hit_id, session=uow.session)
    insp = access_inspection(actor, hit.inspection_id, session=uow.session, for_update=True)
    _not_own(actor, insp)
    if insp.status not in ("auto", "reviewed"):
        raise _locked(insp)
    if hit.review == decision and hit.review_comment == text:
        return hit
    previous = hit.review
    _set_review(uow, actor, hit, decision, text)
    scored = apply_score(uow, insp, inspection_hits(uow.session, insp.id))
    _audit(uow, actor, insp, "qa.hit.review",
           {"hit_id": hit.id, "rule_key": hit.rule_key, "rule_name": hit.rule_name,
            "decision": decision, "previous": previous, "comment": text, **scored})
    return hit


def finish_review(uow: UnitOfWork, actor: Actor, inspection_id: str,
                  comment: str = "") -> QaInspection:
    """Close the review of a result (``qa.review``): hits still open are confirmed, status
    ``reviewed``, reviewer and time stored; the result leaves the review queue. A result
    with no appeal deadline gets ``DEFAULT_APPEAL_WINDOW`` from now."""
    actor.require("qa.review")
    text = _text(comment, required=False, what=COMMENT)
    insp = access_inspection(actor, inspection_id, session=uow.session, for_update=True)
    _not_own(actor, insp)
    if insp.status == "reviewed":
        raise Conflict("该结果已复核 / This result has already been reviewed",
                       code="qa_already_reviewed", status=insp.status)
    if insp.status != "auto":
        raise _locked(insp)
    hits = inspection_hits(uow.session, insp.id)
    confirmed = []
    for h in hits:
        if h.review == "open":
            _set_review(uow, actor, h, "confirmed", "")
            confirmed.append(h.id)
    now = uow.clock.now()
    insp.status = "reviewed"
    insp.reviewed_by = actor.user_id
    insp.reviewed_at = now
    if insp.appeal_deadline is None:
        insp.appeal_deadline = now + DEFAULT_APPEAL_WINDOW
    scored = apply_score(uow, insp, hits)
    _audit(uow, actor, insp, "qa.review.finish",
           {"comment": text, "confirmed": confirmed,
            "overruled": [h.id for h in hits if h.review == "overruled"],
            "appeal_deadline": insp.appeal_deadline.isoformat(), **scored})
    return insp


def appeal(uow: UnitOfWork, actor: Actor, inspection_id: str, reason: str,
           hit_id: str | None = None) -> QaAppeal:
    """The inspected agent appeals their result (or one hit of it) before the deadline.
    One open appeal per hit; an appeal of the whole result excludes any other open one."""
    actor.require("qa.read")
    text = _text(reason, required=True, what=REASON)
    insp = access_inspection(actor, inspection_id, session=uow.session, for_update=True)
    if insp.agent_id != actor.user_id:
        raise PermissionDenied("只能申诉自己的质检结果 / You can only appeal your own result",
                               code="qa_not_your_result")
    if insp.status == "final":
        raise _locked(insp)
    now = uow.clock.now()
    if insp.appeal_deadline is not None and now > insp.appeal_deadline:
        raise Conflict("申诉期已过 / The appeal deadline has passed", code="qa_appeal_closed",
                       deadline=insp.appeal_deadline.isoformat())
    hit: QaHit | None = None
    if hit_id:
        hit = uow.session.get(QaHit, hit_id)
        if hit is None or hit.inspection_id != insp.id:
            raise NotFound("命中记录不存在 / No such rule hit", code="qa_hit_not_found",
                           id=hit_id)
        if hit.review == "overruled":
            raise Invalid("该命中已被撤销，无需申诉 / This hit is already overruled",
                          code="qa_hit_overruled", hit_id=hit.id)
    open_rows = list(uow.session.scalars(select(QaAppeal).where(
        QaAppeal.inspection_id == insp.id, QaAppeal.status == "open")))
    clash = [a for a in open_rows
             if a.hit_id is None or hit is None or a.hit_id == hit.id]
    if clash:
        raise Conflict("已有待裁决的申诉 / An appeal is already waiting for a decision",
                       code="qa_appeal_exists", appeal_id=clash[0].id)
    row = QaAppeal(id=new_id(), workspace_id=insp.workspace_id, inspection_id=insp.id,
                   hit_id=hit.id if hit else None, agent_id=actor.user_id, reason=text,
                   status="open", decision_comment="", created_at=now)
    uow.session.add(row)
    previous = insp.status
    insp.status = "appealed"
    _audit(uow, actor, insp, "qa.appeal.create",
           {"appeal_id": row.id, "hit_id": row.hit_id,
            "rule_name": hit.rule_name if hit else None, "reason": text,
            "previous_status": previous, "score": insp.score})
    return row


def decide_appeal(uow: UnitOfWork, actor: Actor, appeal_id: str, accept: bool,
                  comment: str = "") -> QaAppeal:
    """Accept or reject an open appeal (``qa.decide``; not by the appealing agent; a
    rejection needs a comment). Accepting overrules the appealed hit — or every hit of the
    result when the appeal names none — and recomputes the score; rejecting confirms the
    hits still open. When no appeal stays open, the result is ``final``."""
    actor.require("qa.decide")
    text = _text(comment, required=not accept, what=COMMENT)
    row = access_appeal(actor, appeal_id, session=uow.session, for_update=True)
    if row.agent_id == actor.user_id:
        raise PermissionDenied("不能裁决自己的申诉 / You cannot decide your own appeal",
                               code="qa_own_appeal")
    insp = access_inspection(actor, row.inspection_id, session=uow.session, for_update=True)
    if row.status != "open":
        raise Conflict("该申诉已裁决 / This appeal has already been decided",
                       code="qa_appeal_decided", status=row.status)
    hits = inspection_hits(uow.session, insp.id)
    targets = [h for h in hits if row.hit_id is None or h.id == row.hit_id]
    changed = []
    for h in targets:
        if accept and h.review != "overruled":
            _set_review(uow, actor, h, "overruled", text or row.reason)
            changed.append(h.id)
        elif not accept and h.review == "open":
            _set_review(uow, actor, h, "confirmed", text)
            changed.append(h.id)
    now = uow.clock.now()
    row.status = "accepted" if accept else "rejected"
    row.decided_by = actor.user_id
    row.decided_at = now
    row.decision_comment = text
    uow.session.flush()
    still_open = uow.session.scalar(select(QaAppeal.id).where(
        QaAppeal.inspection_id == insp.id, QaAppeal.status == "open").limit(1))
    if still_open is None:
        insp.status = "final"
    scored = apply_score(uow, insp, hits)
    _audit(uow, actor, insp, "qa.appeal.decide",
           {"appeal_id": row.id, "hit_id": row.hit_id, "accepted": accept, "comment": text,
            "hits_changed": changed, "status": insp.status, **scored})
    return row
