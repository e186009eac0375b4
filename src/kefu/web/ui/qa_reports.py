"""QA reports page (``/app/qa/reports``): filters, KPI tiles, the score trend and bar charts
(inline SVG drawn by ``static/qa_reports.js`` from the JSON in the page; the numbers are also
server-rendered tables, so the page reads without script), and the drill-down from any
number to the conversations and their highlighted hits. ``/app/qa/reports/drill`` returns
only the drill-down table (the script loads it in place)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kefu.accounts import queries as account_queries
from kefu.accounts.actor import Actor
from kefu.accounts.queries import get_workspace
from kefu.core.errors import DomainError
from kefu.inbox import queries as inbox_queries
from kefu.qa import queries as qa_queries
from kefu.web.api.qa_reports import ReportParams, Resolved, resolve
from kefu.web.deps import Auth, services
from kefu.web.i18n import Translator
from kefu.web.ui.render import page_gate, render

router = APIRouter(include_in_schema=False)

PRESETS = (7, 30, 90)
#: page filters kept in every link; the drill-down adds its own d_* selectors
FILTERS = ("days", "since", "until", "inbox_id", "team_id", "group_by", "bucket")
DRILL = ("d_agent", "d_team", "d_inbox", "d_rule", "d_day", "d_fatal", "d_offset")


def _half(message: str, locale: str) -> str:
    """The page language's half of a bilingual "中文 / English" domain message."""
    parts = message.split(" / ")
    if len(parts) != 2:
        return message
    return (parts[1] if locale == "en" else parts[0]).strip()


def _params(request: Request, *, drill: bool) -> ReportParams:
    q = request.query_params

    def get(name: str) -> str | None:
        value = q.get(name)
        return value.strip()[:64] if value is not None and value.strip() else None

    return ReportParams(
        since=get("since"), until=get("until"), days=get("days"),
        group_by=get("group_by") or "agent", bucket=get("bucket") or "day",
        inbox_id=(get("d_inbox") if drill else None) or get("inbox_id"),
        team_id=(get("d_team") if drill else None) or get("team_id"),
        agent_id=get("d_agent") if drill else None,
        rule_key=get("d_rule") if drill else None, day=get("d_day") if drill else None,
        fatal=get("d_fatal") if drill else None, limit="20",
        offset=get("d_offset") if drill else None)


def _base_query(request: Request) -> dict[str, str]:
    q = request.query_params
    return {k: q[k] for k in FILTERS if q.get(k)}


def _drill_requested(request: Request) -> bool:
    return any(request.query_params.get(k) for k in DRILL) or \
        request.query_params.get("drill") == "all"


def _drill_context(request: Request, session: Session, actor: Actor, r: Resolved,
                   page: qa_queries.DrillPage, t: Translator) -> dict[str, Any]:
    """The drill-down table's title (what was clicked), paging links and export link."""
    q = request.query_params
    base = _base_query(request)
    selectors = {k: q[k] for k in DRILL if q.get(k) and k != "d_offset"}
    if not selectors:
        selectors = {"drill": "all"}

    def page_href(offset: int) -> str:
        return "/app/qa/reports?" + urlencode({**base, **selectors,
                                               "d_offset": str(offset)}) + "#qa-drill"

    def name(group: str, key: str) -> str:
        if key == qa_queries.NONE_KEY:
            return t("qa_reports.no_team" if group == "team" else "qa_reports.unassigned")
        return qa_queries.labels(session, actor.workspace_id, group, {key}).get(key, key)

    parts = [t(f"qa_reports.col.{group}") + ": " + name(group, q[sel])
             for group, sel in (("agent", "d_agent"), ("team", "d_team"), ("inbox", "d_inbox"))
             if q.get(sel)]
    if r.rule_key:
        parts.append(t("qa_reports.col.rule_name") + ": " + r.rule_key)
    if r.day is not None:
        key = "qa_reports.col.week" if r.bucket == "week" else "qa_reports.col.day"
        parts.append(t(key) + ": " + r.day.isoformat())
    if r.fatal:
        parts.append(t("qa_reports.kpi.fatal"))
    api_names = {"d_agent": "agent_id", "d_team": "team_id", "d_inbox": "inbox_id",
                 "d_rule": "rule_key", "d_day": "day", "d_fatal": "fatal"}
    export = "/api/v1/qa/reports/export?" + urlencode({
        **base, **{api: q[k] for k, api in api_names.items() if q.get(k)},
        "report": "inspections"})
    return {"drill": page, "drill_title": " · ".join(parts) or t("qa_reports.drill.all"),
            "drill_prev": page_href(max(0, page.offset - page.limit)) if page.offset else None,
            "drill_next": (page_href(page.offset + page.limit)
                           if page.offset + len(page.items) < page.total else None),
            "drill_export": export}


@router.get("/app/qa/reports")
def reports_page(request: Request) -> Response:
    gate = page_gate(request, "qa.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    t = Translator(locale)
    actor = auth.actor
    svc = services(request)
    error: str | None = None
    drill_ctx: dict[str, Any] = {}
    with svc.uows(readonly=True) as uow:
        s = uow.session
        now = uow.clock.now()
        try:
            r = resolve(_params(request, drill=False), s, actor, now)
        except DomainError as exc:
            error = _half(exc.message, locale)
            r = resolve(ReportParams(), s, actor, now)
        summary = qa_queries.report(s, actor, group_by=r.group_by, **r.filters)
        rules = qa_queries.hits_by_rule(s, actor, limit=10, **r.filters)
        points = qa_queries.trend(s, actor, bucket=r.bucket, tz=r.zone, **r.filters)
        drill_page: qa_queries.DrillPage | None = None
        if error is None and _drill_requested(request):
            try:
                dr = resolve(_params(request, drill=True), s, actor, now)
                drill_page = qa_queries.drill_down(
                    s, actor, rule_key=dr.rule_key, day=dr.day, bucket=dr.bucket,
                    fatal=dr.fatal, tz=dr.zone, limit=dr.limit, offset=dr.offset,
                    **dr.filters)
            except DomainError as exc:
                error = _half(exc.message, locale)
        if drill_page is not None:
            drill_ctx = _drill_context(request, s, actor, dr, drill_page, t)
        inboxes = inbox_queries.list_inboxes(s, actor)
        teams = account_queries.list_teams(s, actor)
        ws = get_workspace(s, actor.workspace_id)
    return render(request, "qa/reports.html", locale=locale, auth=auth, section="qa",
                  workspace_name=ws.name if ws else "", error=error,
                  **_context(request, auth, t, r, summary, rules, points, inboxes, teams),
                  **drill_ctx)


def _context(request: Request, auth: Auth, t: Translator, r: Resolved,
             summary: qa_queries.Report, rules: list[qa_queries.RuleRow],
             points: list[qa_queries.TrendPoint], inboxes: list[Any],
             teams: list[Any]) -> dict[str, Any]:
    base = _base_query(request)
    own_only = not auth.actor.can("qa.review")

    def href(**drill: str) -> str:
        return "/app/qa/reports?" + urlencode({**base, **drill}) + "#qa-drill"

    d_group = {"agent": "d_agent", "team": "d_team", "inbox": "d_inbox"}[r.group_by]
    none_label = t("qa_reports.no_team") if r.group_by == "team" else t("qa_reports.unassigned")
    rows = []
    for row in summary.rows:
        key = row.key or qa_queries.NONE_KEY
        rows.append({**row.as_dict(), "label": row.label or none_label,
                     "href": href(**{d_group: key}),
                     "fatal_href": href(**{d_group: key, "d_fatal": "true"})})
    rule_rows = [{**x.as_dict(), "href": href(d_rule=x.rule_key)} for x in rules]
    trend_rows = [{**p.as_dict(), "href": href(d_day=p.start.isoformat())} for p in points]
    chart = {
        "locale": t.locale, "bucket": r.bucket, "group_by": r.group_by,
        "groups": [{"label": x["label"], "value": x["avg_score"], "n": x["inspections"],
                    "href": x["href"]} for x in rows],
        "rules": [{"label": x["rule_name"], "value": x["hits"], "href": x["href"]}
                  for x in rule_rows],
        "trend": [{"label": x["start"], "value": x["avg_score"], "n": x["inspections"],
                   "fatal": x["fatal"], "href": x["href"]} for x in trend_rows],
        "strings": {k: t(f"qa_reports.chart.{k}") for k in (
            "avg_score", "inspections", "fatal", "hits", "empty", "week_of")},
    }
    exports = [{"report": rep, "label": t(f"qa_reports.export.{rep}"),
                "csv": "/api/v1/qa/reports/export?" + urlencode(
                    {**base, "report": rep, "format": "csv"}),
                "xlsx": "/api/v1/qa/reports/export?" + urlencode(
                    {**base, "report": rep, "format": "xlsx"})}
               for rep in ("agents", "rules", "trend", "inspections")]
    presets = [{"days": d, "href": "/app/qa/reports?" + urlencode(
        {**{k: v for k, v in base.items() if k not in ("days", "since", "until")},
         "days": str(d)}), "active": r.days == d and not request.query_params.get("since")}
        for d in PRESETS]
    totals = summary.totals.as_dict()
    return {"r": r, "rows": rows, "rule_rows": rule_rows, "trend_rows": trend_rows,
            "totals": totals, "chart": chart, "exports": exports, "presets": presets,
            "inboxes": inboxes, "teams": teams, "own_only": own_only,
            "all_href": href(drill="all"), "fatal_href": href(d_fatal="true"),
            "group_label": t(f"qa_reports.col.{r.group_by}"),
            "max_hits": max((x["hits"] for x in rule_rows), default=0)}


@router.get("/app/qa/reports/drill")
def drill_fragment(request: Request) -> Response:
    """Only the drill-down table (loaded in place by the page's script)."""
    gate = page_gate(request, "qa.read")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    t = Translator(locale)
    svc = services(request)
    try:
        with svc.uows(readonly=True) as uow:
            dr = resolve(_params(request, drill=True), uow.session, auth.actor,
                         uow.clock.now())
            page = qa_queries.drill_down(
                uow.session, auth.actor, rule_key=dr.rule_key, day=dr.day, bucket=dr.bucket,
                fatal=dr.fatal, tz=dr.zone, limit=dr.limit, offset=dr.offset, **dr.filters)
            ctx = _drill_context(request, uow.session, auth.actor, dr, page, t)
    except DomainError as exc:
        return render(request, "qa/reports_drill.html", locale=locale, auth=auth,
                      status=422, error=_half(exc.message, locale), drill=None, r=None)
    return render(request, "qa/reports_drill.html", locale=locale, auth=auth, r=dr,
                  error=None, **ctx)
