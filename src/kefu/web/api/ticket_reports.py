"""Ticket reports API (``ticket.reports``): backlog, SLA compliance, first response and
resolution time distributions, top categories of a template's select field, the daily
created / resolved trend, and CSV / XLSX export of each table.

Filters shared by every route: a range of local days in the workspace's timezone
(``since`` / ``until`` as ``YYYY-MM-DD``, inclusive, or ``days`` ending today; 30 by default,
at most 366), ``team_id`` (``none`` = no team) and ``template_id``. The backlog is a
snapshot of now and ignores the range. Bad parameters: 422 with a ``ticket_report_*`` code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team
from kefu.core.errors import Invalid
from kefu.tickets import reports as rep
from kefu.tickets.models import SLA_METRICS, TicketTemplate
from kefu.web.api.qa_reports import to_csv, to_xlsx
from kefu.web.deps import Auth, current_actor, current_auth, services
from kefu.web.i18n import Translator, choose_locale

router = APIRouter(prefix="/api/v1", tags=["tickets"])
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}

DEFAULT_DAYS = 30
EXPORTS = ("backlog", "backlog_age", "sla", "first_response", "resolution", "categories",
           "trend")
FORMATS = ("csv", "xlsx")


def _bad(code: str, zh: str, en: str, **details: Any) -> Invalid:
    return Invalid(f"{zh} / {en}", code=code, **details)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _bad("ticket_report_bad_date", f"{name} 不是合法日期（YYYY-MM-DD）",
                   f"{name} is not a date (YYYY-MM-DD)", param=name, value=value[:40]) from None


def _days(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_DAYS
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= rep.MAX_DAYS:
        raise _bad("ticket_report_bad_number", f"days 必须是 1–{rep.MAX_DAYS} 之间的整数",
                   f"days must be a whole number from 1 to {rep.MAX_DAYS}", param="days",
                   value=value[:40])
    return n


@dataclass(frozen=True, slots=True)
class ReportParams:
    since: str | None = None
    until: str | None = None
    days: str | None = None
    team_id: str | None = None
    template_id: str | None = None
    group_by: str = "policy"
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    first: date
    last: date
    since: datetime
    until: datetime
    zone: ZoneInfo
    days: int
    team_id: str | None
    template_id: str | None
    group_by: str
    field: str | None

    @property
    def scope(self) -> dict[str, Any]:
        return {"team_id": self.team_id, "template_id": self.template_id}

    @property
    def window(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}

    def range_dict(self) -> dict[str, Any]:
        return {"since": self.first.isoformat(), "until": self.last.isoformat(),
                "days": self.days, "timezone": self.zone.key}


def resolve(p: ReportParams, session: Session, actor: Actor, now: datetime) -> Resolved:
    """Check the filters; local days → a UTC range in the workspace's zone."""
    actor.require("ticket.reports")
    zone = rep.workspace_zone(session, actor.workspace_id)
    today = now.astimezone(zone).date()
    days = _days(p.days)
    first, last = _date(p.since, "since"), _date(p.until, "until")
    if last is None:
        last = today if first is None else max(today, first)
    if first is None:
        try:
            first = last - timedelta(days=days - 1)
        except OverflowError:
            raise _bad("ticket_report_bad_date", "日期超出范围", "Date out of range",
                       param="until", value=last.isoformat()) from None
    since, until = rep.local_range(first, last, zone)
    rep.check_group(p.group_by)
    team_id = p.team_id or None
    if team_id and team_id != rep.NONE_KEY and session.scalar(select(Team.id).where(
            Team.id == team_id, Team.workspace_id == actor.workspace_id)) is None:
        raise _bad("ticket_report_bad_team", "没有这个团队", "No such team", team_id=team_id)
    template_id = p.template_id or None
    if template_id and session.scalar(select(TicketTemplate.id).where(
            TicketTemplate.id == template_id,
            TicketTemplate.workspace_id == actor.workspace_id)) is None:
        raise _bad("ticket_report_bad_template", "没有这个模板", "No such template",
                   template_id=template_id)
    return Resolved(first=first, last=last, since=since, until=until, zone=zone,
                    days=(last - first).days + 1, team_id=team_id, template_id=template_id,
                    group_by=p.group_by, field=p.field or None)


def report_params(
    since: str | None = Query(None, max_length=10, description="first local day, YYYY-MM-DD"),
    until: str | None = Query(None, max_length=10, description="last local day, YYYY-MM-DD"),
    days: str | None = Query(None, max_length=4, description="range ending today (1–366)"),
    team_id: str | None = Query(None, max_length=24, description="a team id or none"),
    template_id: str | None = Query(None, max_length=24),
    group_by: str = Query("policy", max_length=16, description="SLA: policy | team | agent"),
    field: str | None = Query(None, max_length=64, description="categories: a field key"),
) -> ReportParams:
    return ReportParams(since=since, until=until, days=days, team_id=team_id,
                        template_id=template_id, group_by=group_by, field=field)


def _categories(session: Session, actor: Actor, r: Resolved) -> rep.Categories:
    if not r.template_id or not r.field:
        raise _bad("ticket_report_need_field", "请选择模板和字段",
                   "Choose a template and a field (template_id, field)")
    return rep.top_categories(session, actor, template_id=r.template_id, field_key=r.field,
                              since=r.since, until=r.until, team_id=r.team_id)


@router.get("/ticket-reports/backlog")
def get_backlog(request: Request, actor: Actor = Depends(current_actor),
                p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """Unresolved tickets now per team: by state and by age (< 1 d, 1–3 d, 3–7 d, > 7 d)."""
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        return rep.backlog(uow.session, actor, now=uow.clock.now(), **r.scope).as_dict()


@router.get("/ticket-reports/sla")
def get_sla(request: Request, actor: Actor = Depends(current_actor),
            p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """SLA clocks met / breached / running per policy, team or agent (``group_by``), tickets
    created in the range; ``pct_met`` = met / (met + breached)."""
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        return {**rep.sla_compliance(uow.session, actor, group_by=r.group_by, **r.window,
                                     **r.scope).as_dict(), "range": r.range_dict()}


@router.get("/ticket-reports/times")
def get_times(request: Request, actor: Actor = Depends(current_actor),
              p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """First response and resolution time distributions (wall-clock seconds)."""
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        return {m: rep.distribution(uow.session, actor, metric=m, **r.window,
                                    **r.scope).as_dict()
                for m in rep.DURATION_METRICS} | {"range": r.range_dict()}


@router.get("/ticket-reports/categories")
def get_categories(request: Request, actor: Actor = Depends(current_actor),
                   p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """Top values of a template's select field (``template_id`` + ``field``)."""
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        return {**_categories(uow.session, actor, r).as_dict(), "range": r.range_dict()}


@router.get("/ticket-reports/trend")
def get_trend(request: Request, actor: Actor = Depends(current_actor),
              p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """Tickets created and resolved per local day."""
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        points = rep.trend(uow.session, actor, zone=r.zone, **r.window, **r.scope)
        return {"items": [x.as_dict() for x in points], "range": r.range_dict()}


# -- export ---------------------------------------------------------------------------------

def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def _hours(v: float | None) -> str:
    return "" if v is None else f"{v / 3600:.2f}"


def export_table(session: Session, actor: Actor, r: Resolved, report: str, t: Translator,
                 now: datetime) -> tuple[list[str], list[list[str]]]:
    """The header and rows of one report table, as text cells."""
    def col(key: str) -> str:
        return t(f"ticket_reports.col.{key}")

    no_team = t("ticket_reports.no_team")
    if report in ("backlog", "backlog_age"):
        b = rep.backlog(session, actor, now=now, **r.scope)
        keys = list(rep.BACKLOG_STATUSES) if report == "backlog" else \
            [k for k, _, _ in rep.AGE_BUCKETS]
        names = [t(f"ticket_reports.status.{k}") if report == "backlog"
                 else t(f"ticket_reports.age.{k}") for k in keys]
        attr = "by_status" if report == "backlog" else "by_age"
        head = [col("team"), *names, col("total")]
        rows = [[x.label or no_team, *(str(getattr(x, attr)[k]) for k in keys), str(x.total)]
                for x in b.rows]
        rows.append([t("ticket_reports.total"),
                     *(str(getattr(b.totals, attr)[k]) for k in keys), str(b.totals.total)])
        return head, rows
    if report == "sla":
        s = rep.sla_compliance(session, actor, group_by=r.group_by, **r.window, **r.scope)
        head = [col(r.group_by), col("tickets")]
        for m in ("all", *SLA_METRICS):
            label = t(f"ticket_reports.metric.{m}")
            head += [f"{label} {col('met')}", f"{label} {col('breached')}",
                     f"{label} {col('running')}", f"{label} {col('pct_met')}"]
        rows = []
        none_label = no_team if r.group_by == "team" else t("ticket_reports.unassigned")
        for x in [*s.rows, s.totals]:
            label = (t("ticket_reports.total") if x is s.totals else x.label or none_label)
            cells = [label, str(x.tickets)]
            for c in (x.all, *(x.metrics[m] for m in SLA_METRICS)):
                cells += [str(c.met), str(c.breached), str(c.running), _pct(c.pct_met)]
            rows.append(cells)
        return head, rows
    if report in ("first_response", "resolution"):
        d = rep.distribution(session, actor, metric=report, **r.window, **r.scope)
        head = [col("bucket"), col("count"), col("share")]
        rows = [[t(f"ticket_reports.bucket.{k}"), str(c), _pct(c / d.n if d.n else None)]
                for k, c in d.buckets]
        rows += [[col("p50_hours"), _hours(d.p50_s), ""], [col("p90_hours"), _hours(d.p90_s), ""],
                 [col("avg_hours"), _hours(d.avg_s), ""], [t("ticket_reports.total"),
                                                           str(d.n), ""]]
        return head, rows
    if report == "categories":
        cats = _categories(session, actor, r)
        head = [cats.field_label, col("count"), col("share")]
        return head, [[x.label or t("ticket_reports.empty_value"), str(x.count),
                       _pct(x.share)] for x in cats.rows]
    points = rep.trend(session, actor, zone=r.zone, **r.window, **r.scope)
    head = [col("day"), col("created"), col("resolved")]
    return head, [[x.day.isoformat(), str(x.created), str(x.resolved)] for x in points]


@router.get("/ticket-reports/export")
def get_export(request: Request, auth: Auth = Depends(current_auth),
               p: ReportParams = Depends(report_params),
               format: str = Query("csv", max_length=8, description="csv | xlsx"),
               report: str = Query("backlog", max_length=16,
                                   description=" | ".join(EXPORTS))) -> Response:
    """Download one table as CSV (UTF-8 with BOM, Excel-friendly) or XLSX; column titles in
    the caller's language."""
    if format not in FORMATS:
        raise _bad("ticket_report_bad_format", "格式只能是 csv 或 xlsx",
                   "format must be csv or xlsx", format=format)
    if report not in EXPORTS:
        raise _bad("ticket_report_bad_report", "没有这个报表", "No such report",
                   report=report, allowed=list(EXPORTS))
    actor = auth.actor
    t = Translator(choose_locale(request, auth.locale).locale)
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        head, rows = export_table(uow.session, actor, r, report, t, uow.clock.now())
    name = f"tickets-{report}-{r.first.isoformat()}_{r.last.isoformat()}.{format}"
    if format == "csv":
        body, media = to_csv(head, rows), "text/csv; charset=utf-8"
    else:
        body = to_xlsx(head, rows, report)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
