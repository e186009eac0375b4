"""Quality inspection pages: the review queue (inspectors), one result (score, deductions per
group, the conversation with the hits highlighted, review / appeal / decision forms, the audit
timeline), an agent's own results and the appeals list (supervisors).

Forms POST with the session's CSRF token and redirect back to the result with a notice; a
refused action renders the result again with the reason."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kefu.accounts.queries import get_workspace, list_users
from kefu.core.errors import DomainError
from kefu.inbox import queries as inbox_queries
from kefu.qa import review as qa_review
from kefu.qa import review_queries as rq
from kefu.web.deps import Auth, services
from kefu.web.i18n import Translator, localize_message
from kefu.web.ui.kb import fmt_dt, zone
from kefu.web.ui.render import (
    csrf_failed_page,
    error_page,
    field,
    form_csrf_ok,
    locale_of,
    page_gate,
    read_form,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
NOTICES = frozenset({"reviewed", "finished", "appealed", "decided"})


def _tz(request: Request, auth: Auth) -> tuple[str, str]:
    with services(request).uows(readonly=True) as uow:
        ws = get_workspace(uow.session, auth.actor.workspace_id)
        return (ws.name, ws.timezone) if ws is not None else ("", "Asia/Shanghai")


def _page(request: Request, auth: Auth, locale: str, template: str, *, tab: str,
          status: int = 200, error: str | None = None, **context: Any) -> Response:
    _, remember = locale_of(request, auth)
    t = Translator(locale)
    key = request.query_params.get("notice")
    notice = t(f"qa_review.notice.{key}") if key in NOTICES and not error else None
    name, tz = _tz(request, auth)
    actor = auth.actor
    return render(request, template, locale=locale, auth=auth, status=status,
                  remember=remember, section="qa", tab=tab, error=error, notice=notice,
                  workspace_name=name, fmt_dt=lambda v: fmt_dt(v, tz),
                  can_review=actor.can("qa.review"), can_decide=actor.can("qa.decide"),
                  fmt_score=fmt_score, **context)


def fmt_score(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _int(raw: str | None, default: int = 0) -> int:
    try:
        return max(0, int(raw or default))
    except ValueError:
        return default


def _day(raw: str | None, tz: str) -> datetime | None:
    """``YYYY-MM-DD`` → the start of that day in the workspace's time zone, or None."""
    try:
        d = date.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return datetime.combine(d, time(0), tzinfo=zone(tz))


# -- the queue -------------------------------------------------------------------------------

@router.get("/app/qa/review")
def queue_page(request: Request) -> Response:
    gate = page_gate(request, "qa.review")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    qp = request.query_params
    _, tz = _tz(request, auth)
    reason = qp.get("reason") or None
    if reason not in (None, *rq.SAMPLED_REASONS):
        reason = None
    inbox_id = qp.get("inbox") or None
    agent_id = qp.get("agent") or None
    since = _day(qp.get("since"), tz)
    until_day = _day(qp.get("until"), tz)
    until = until_day + timedelta(days=1) if until_day else None
    offset = _int(qp.get("offset"))
    with services(request).uows(readonly=True) as uow:
        page = rq.review_queue(uow.session, auth.actor, reason=reason, inbox_id=inbox_id,
                               agent_id=agent_id, since=since, until=until,
                               limit=PER_PAGE, offset=offset)
        inboxes = inbox_queries.list_inboxes(uow.session, auth.actor)
        users = list_users(uow.session, auth.actor, limit=200, offset=0).items
    filters = {"reason": reason or "", "inbox": inbox_id or "", "agent": agent_id or "",
               "since": qp.get("since", "") if since else "",
               "until": qp.get("until", "") if until_day else ""}
    query = urlencode({k: v for k, v in filters.items() if v})
    return _page(request, auth, locale, "qa/review.html", tab="review", page=page,
                 rows=page.items, total=page.total, offset=offset, per_page=PER_PAGE,
                 query=query, filters=filters, reasons=rq.SAMPLED_REASONS, inboxes=inboxes,
                 agents=[u for u in users if u.role in ("agent", "supervisor", "admin")])


# -- an agent's own results ------------------------------------------------------------------

@router.get("/app/qa/mine")
def mine_page(request: Request) -> Response:
    gate = page_gate(request, "qa.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    offset = _int(request.query_params.get("offset"))
    with services(request).uows(readonly=True) as uow:
        page = rq.my_results(uow.session, auth.actor, now=uow.clock.now(), limit=PER_PAGE,
                             offset=offset)
        appeals = rq.list_appeals(uow.session, auth.actor, agent_id=auth.actor.user_id,
                                  limit=20)
    return _page(request, auth, locale, "qa/mine.html", tab="mine", rows=page.items,
                 total=page.total, offset=offset, per_page=PER_PAGE, query="",
                 appeals=appeals.items)


# -- appeals ---------------------------------------------------------------------------------

@router.get("/app/qa/appeals")
def appeals_page(request: Request) -> Response:
    gate = page_gate(request, "qa.decide", "qa.review")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    status = request.query_params.get("status") or None
    if status not in (None, *rq.APPEAL_STATUSES):
        status = None
    offset = _int(request.query_params.get("offset"))
    with services(request).uows(readonly=True) as uow:
        page = rq.list_appeals(uow.session, auth.actor, status=status, limit=PER_PAGE,
                               offset=offset)
    query = urlencode({"status": status}) if status else ""
    return _page(request, auth, locale, "qa/appeals.html", tab="appeals", rows=page.items,
                 total=page.total, offset=offset, per_page=PER_PAGE, query=query,
                 status_filter=status or "", statuses=rq.APPEAL_STATUSES)


# -- one result ------------------------------------------------------------------------------

def _inspection_page(request: Request, auth: Auth, locale: str, inspection_id: str, *,
                     status: int = 200, error: str | None = None) -> Response:
    try:
        with services(request).uows(readonly=True) as uow:
            d = rq.inspection_detail(uow.session, auth.actor, inspection_id,
                                     now=uow.clock.now())
    except DomainError as exc:
        return error_page(request, locale=locale, auth=auth, status=exc.status,
                          title_key="error.404.title",
                          message=localize_message(exc.message, locale))
    return _page(request, auth, locale, "qa/inspection.html", tab="inspection",
                 status=status, error=error, d=d, insp=d["inspection"],
                 me=auth.actor.user_id)


@router.get("/app/qa/inspections/{inspection_id}")
def inspection_page(inspection_id: str, request: Request) -> Response:
    gate = page_gate(request, "qa.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    return _inspection_page(request, auth, locale, inspection_id)


async def _post(request: Request, permission: str, inspection_of: Any, act: Any,
                notice: str) -> Response:
    """One form: gate, CSRF, the action in a unit of work, then back to the result (or the
    result again with the reason when the action is refused)."""
    gate = page_gate(request, permission)
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    form = await read_form(request)
    if not form_csrf_ok(request, auth, form):
        return csrf_failed_page(request, auth, locale)

    def run() -> Response:
        inspection_id = ""
        try:
            with services(request).uows() as uow:
                inspection_id = inspection_of(uow, auth)
                act(uow, auth, form)
        except DomainError as exc:
            if not inspection_id:
                return error_page(request, locale=locale, auth=auth, status=exc.status,
                                  title_key="error.404.title",
                                  message=localize_message(exc.message, locale))
            return _inspection_page(request, auth, locale, inspection_id, status=exc.status,
                                    error=localize_message(exc.message, locale))
        back = field(form, "next")
        if back == "appeals" and auth.actor.can("qa.decide"):
            return redirect(f"/app/qa/appeals?notice={notice}")
        return redirect(f"/app/qa/inspections/{inspection_id}?notice={notice}")

    return await run_in_threadpool(run)


@router.post("/app/qa/hits/{hit_id}/review")
async def review_hit(hit_id: str, request: Request) -> Response:
    return await _post(
        request, "qa.review",
        lambda uow, auth: rq.access_hit(auth.actor, hit_id, session=uow.session).inspection_id,
        lambda uow, auth, form: qa_review.review_hit(uow, auth.actor, hit_id,
                                                     field(form, "decision"),
                                                     field(form, "comment")),
        "reviewed")


@router.post("/app/qa/inspections/{inspection_id}/finish-review")
async def finish_review(inspection_id: str, request: Request) -> Response:
    return await _post(
        request, "qa.review",
        lambda uow, auth: rq.access_inspection(auth.actor, inspection_id,
                                               session=uow.session).id,
        lambda uow, auth, form: qa_review.finish_review(uow, auth.actor, inspection_id,
                                                        field(form, "comment")),
        "finished")


@router.post("/app/qa/inspections/{inspection_id}/appeals")
async def appeal(inspection_id: str, request: Request) -> Response:
    return await _post(
        request, "qa.read",
        lambda uow, auth: rq.access_inspection(auth.actor, inspection_id,
                                               session=uow.session).id,
        lambda uow, auth, form: qa_review.appeal(uow, auth.actor, inspection_id,
                                                 field(form, "reason"),
                                                 hit_id=field(form, "hit_id") or None),
        "appealed")


@router.post("/app/qa/appeals/{appeal_id}/decide")
async def decide(appeal_id: str, request: Request) -> Response:
    return await _post(
        request, "qa.decide",
        lambda uow, auth: rq.access_appeal(auth.actor, appeal_id,
                                           session=uow.session).inspection_id,
        lambda uow, auth, form: qa_review.decide_appeal(
            uow, auth.actor, appeal_id, field(form, "accept") == "1", field(form, "comment")),
        "decided")
