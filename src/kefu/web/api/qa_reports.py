"""QA reports API: per agent / team / inbox sums, hits per rule, the score trend, the
drill-down to conversations with their highlighted hits, and CSV / XLSX export.

Every route takes the same filters: a range of local days in the workspace's timezone
(``since``/``until`` as ``YYYY-MM-DD``, inclusive, or ``days`` ending today; 30 by default,
at most 366) and optional ``inbox_id`` / ``team_id`` / ``agent_id`` (``none`` = unassigned).
Bad parameters are refused with 422 and a ``qa_report_*`` code."""

from __future__ import annotations

import csv
import importlib
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid
from kefu.qa import queries as qa_queries
from kefu.web.deps import Auth, current_actor, current_auth, services
from kefu.web.i18n import Translator, choose_locale

router = APIRouter(prefix="/api/v1", tags=["qa"])

DEFAULT_DAYS = 30
EXPORT_MAX_ROWS = 10_000
REPORTS = ("agents", "rules", "trend", "inspections")
FORMATS = ("csv", "xlsx")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _bad(code: str, zh: str, en: str, **details: Any) -> Invalid:
    return Invalid(f"{zh} / {en}", code=code, **details)


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _bad("qa_report_bad_date", f"{name} 不是合法日期（YYYY-MM-DD）",
                   f"{name} is not a date (YYYY-MM-DD)", param=name, value=value[:40]) from None


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        n = low - 1
    if not low <= n <= high:
        raise _bad("qa_report_bad_number", f"{name} 必须是 {low}–{high} 之间的整数",
                   f"{name} must be a whole number from {low} to {high}", param=name,
                   value=value[:40])
    return n


def _bool(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    low = value.strip().lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise _bad("qa_report_bad_flag", f"{name} 只能是 true 或 false",
               f"{name} must be true or false", param=name, value=value[:40])


@dataclass(frozen=True, slots=True)
class ReportParams:
    """The filters of every report route (raw strings, checked by ``resolve``)."""

    since: str | None = None
    until: str | None = None
    days: str | None = None
    group_by: str = "agent"
    bucket: str = "day"
    inbox_id: str | None = None
    team_id: str | None = None
    agent_id: str | None = None
    rule_key: str | None = None
    day: str | None = None
    fatal: str | None = None
    limit: str | None = None
    offset: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    first: date
    last: date
    since: datetime
    until: datetime
    zone: ZoneInfo
    days: int
    group_by: str
    bucket: str
    inbox_id: str | None
    team_id: str | None
    agent_id: str | None
    rule_key: str | None
    day: date | None
    fatal: bool | None
    limit: int
    offset: int

    @property
    def filters(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "inbox_id": self.inbox_id,
                "team_id": self.team_id, "agent_id": self.agent_id}

    def range_dict(self) -> dict[str, Any]:
        return {"since": self.first.isoformat(), "until": self.last.isoformat(),
                "days": self.days, "timezone": self.zone.key}


def resolve(p: ReportParams, session: Session, actor: Actor, now: datetime) -> Resolved:
    """Parse and check the filters; local days → a UTC range in the workspace's zone."""
    zone = qa_queries.workspace_zone(session, actor.workspace_id)
    today = now.astimezone(zone).date()
    days = _int(p.days, "days", DEFAULT_DAYS, 1, qa_queries.MAX_DAYS)
    first, last = _date(p.since, "since"), _date(p.until, "until")
    if first is None and last is None:
        last = today
        first = today - timedelta(days=days - 1)
    elif first is None:
        assert last is not None
        first = last - timedelta(days=days - 1)
    elif last is None:
        last = max(today, first)
    if first > last:
        raise _bad("qa_report_bad_range", "开始日期晚于结束日期", "since is after until",
                   since=first.isoformat(), until=last.isoformat())
    if (last - first).days + 1 > qa_queries.MAX_DAYS:
        raise _bad("qa_report_range_too_long", f"时间范围最多 {qa_queries.MAX_DAYS} 天",
                   f"The range is at most {qa_queries.MAX_DAYS} days",
                   max_days=qa_queries.MAX_DAYS)
    qa_queries.check_group_by(p.group_by)
    qa_queries.check_bucket(p.bucket)
    since, until = qa_queries.local_range(first, last, zone)
    return Resolved(first=first, last=last, since=since, until=until, zone=zone,
                    days=(last - first).days + 1, group_by=p.group_by, bucket=p.bucket,
                    inbox_id=p.inbox_id or None, team_id=p.team_id or None,
                    agent_id=p.agent_id or None, rule_key=p.rule_key or None,
                    day=_date(p.day, "day"), fatal=_bool(p.fatal, "fatal"),
                    limit=_int(p.limit, "limit", 20, 1, 200),
                    offset=_int(p.offset, "offset", 0, 0, 1_000_000))


def report_params(
    since: str | None = Query(None, max_length=10, description="first local day, YYYY-MM-DD"),
    until: str | None = Query(None, max_length=10, description="last local day, YYYY-MM-DD"),
    days: str | None = Query(None, max_length=4, description="range ending today (1–366)"),
    group_by: str = Query("agent", max_length=16, description="agent | team | inbox"),
    bucket: str = Query("day", max_length=8, description="trend: day | week"),
    inbox_id: str | None = Query(None, max_length=24),
    team_id: str | None = Query(None, max_length=24, description="a team id or none"),
    agent_id: str | None = Query(None, max_length=24, description="a user id or none"),
    rule_key: str | None = Query(None, max_length=64),
    day: str | None = Query(None, max_length=10, description="drill-down: one day / week"),
    fatal: str | None = Query(None, max_length=5),
    limit: str | None = Query(None, max_length=4),
    offset: str | None = Query(None, max_length=8),
) -> ReportParams:
    return ReportParams(since=since, until=until, days=days, group_by=group_by, bucket=bucket,
                        inbox_id=inbox_id, team_id=team_id, agent_id=agent_id,
                        rule_key=rule_key, day=day, fatal=fatal, limit=limit, offset=offset)


# -- reads ------------------------------------------------------------------------------------

def summary_data(session: Session, actor: Actor, r: Resolved) -> dict[str, Any]:
    rep = qa_queries.report(session, actor, group_by=r.group_by, **r.filters)
    return {**rep.as_dict(), "range": r.range_dict()}


def rules_data(session: Session, actor: Actor, r: Resolved) -> dict[str, Any]:
    rows = qa_queries.hits_by_rule(session, actor, **r.filters)
    return {"items": [x.as_dict() for x in rows], "range": r.range_dict()}


def trend_data(session: Session, actor: Actor, r: Resolved) -> dict[str, Any]:
    points = qa_queries.trend(session, actor, bucket=r.bucket, tz=r.zone, **r.filters)
    return {"bucket": r.bucket, "items": [p.as_dict() for p in points],
            "range": r.range_dict()}


def drill_page(session: Session, actor: Actor, r: Resolved) -> qa_queries.DrillPage:
    return qa_queries.drill_down(session, actor, rule_key=r.rule_key, day=r.day,
                                 bucket=r.bucket, fatal=r.fatal, tz=r.zone, limit=r.limit,
                                 offset=r.offset, **r.filters)


@router.get("/qa/reports/summary")
def get_summary(request: Request, actor: Actor = Depends(current_actor),
                p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """Per agent / team / inbox (``group_by``): inspections, average and lowest score, fatal
    count, hits and hits per conversation, worst average first; ``totals`` over all."""
    with services(request).uows(readonly=True) as uow:
        return summary_data(uow.session, actor, resolve(p, uow.session, actor,
                                                        uow.clock.now()))


@router.get("/qa/reports/rules")
def get_rules(request: Request, actor: Actor = Depends(current_actor),
              p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """Hits per rule (overruled hits left out): hits, conversations, share of all hits."""
    with services(request).uows(readonly=True) as uow:
        return rules_data(uow.session, actor, resolve(p, uow.session, actor, uow.clock.now()))


@router.get("/qa/reports/trend")
def get_trend(request: Request, actor: Actor = Depends(current_actor),
              p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """Average score, inspections and fatal count per local day or week (``bucket``); empty
    buckets are included with ``avg_score`` null."""
    with services(request).uows(readonly=True) as uow:
        return trend_data(uow.session, actor, resolve(p, uow.session, actor, uow.clock.now()))


@router.get("/qa/reports/drill-down")
def get_drill_down(request: Request, actor: Actor = Depends(current_actor),
                   p: ReportParams = Depends(report_params)) -> dict[str, Any]:
    """The inspections behind a number (filters plus ``rule_key``, ``day`` (+ ``bucket``),
    ``fatal``), lowest score first, with their hits and an excerpt of each hit message
    (``span`` is into ``excerpt``); ``limit`` ≤ 200, ``offset``."""
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        return {**drill_page(uow.session, actor, r).as_dict(), "range": r.range_dict()}


# -- export -----------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def export_table(session: Session, actor: Actor, r: Resolved, report: str,
                 t: Translator) -> tuple[list[str], list[list[str]]]:
    """The header and rows of one report, as text cells."""
    def col(key: str) -> str:
        return t(f"qa_reports.col.{key}")

    if report == "agents":
        rep = qa_queries.report(session, actor, group_by=r.group_by, **r.filters)
        head = [col(r.group_by), col("inspections"), col("avg_score"), col("min_score"),
                col("fatal_count"), col("hit_count"), col("hits_per_conversation")]
        rows = [[x.label or t("qa_reports.unassigned"), str(x.inspections),
                 _fmt(x.avg_score), _fmt(x.min_score), str(x.fatal_count), str(x.hit_count),
                 _fmt(x.hits_per_conversation, 3)] for x in rep.rows]
        tot = rep.totals
        rows.append([t("qa_reports.total"), str(tot.inspections), _fmt(tot.avg_score),
                     _fmt(tot.min_score), str(tot.fatal_count), str(tot.hit_count),
                     _fmt(tot.hits_per_conversation, 3)])
        return head, rows
    if report == "rules":
        items = qa_queries.hits_by_rule(session, actor, limit=1000, **r.filters)
        head = [col("rule_key"), col("rule_name"), col("kind"), col("hits"),
                col("conversations"), col("share")]
        return head, [[x.rule_key, x.rule_name, x.kind, str(x.hits), str(x.conversations),
                       f"{x.share * 100:.1f}%"] for x in items]
    if report == "trend":
        points = qa_queries.trend(session, actor, bucket=r.bucket, tz=r.zone, **r.filters)
        head = [col("week" if r.bucket == "week" else "day"), col("inspections"),
                col("avg_score"), col("fatal_count")]
        return head, [[p.start.isoformat(), str(p.inspections), _fmt(p.avg_score),
                       str(p.fatal)] for p in points]
    head = [col("conversation_at"), col("conversation_id"), col("agent"), col("team"),
            col("inbox"), col("score"), col("fatal"), col("status"), col("hit_count"),
            col("hits"), col("link")]
    rows = []
    offset = 0
    while len(rows) < EXPORT_MAX_ROWS:
        page = qa_queries.drill_down(session, actor, rule_key=r.rule_key, day=r.day,
                                     bucket=r.bucket, fatal=r.fatal, tz=r.zone, limit=500,
                                     offset=offset, **r.filters)
        for x in page.items:
            hits = "；".join(
                f"{h.rule_name}: " + "".join(f"【{s}】" if m else s for s, m in h.segments())
                if h.excerpt else h.rule_name for h in x.hits)
            rows.append([x.conversation_at.astimezone(r.zone).strftime("%Y-%m-%d %H:%M"),
                         x.conversation_id, x.agent_name or t("qa_reports.unassigned"),
                         x.team_name, x.inbox_name, _fmt(x.score),
                         t("qa_reports.yes") if x.fatal else "", x.status, str(x.hit_count),
                         hits, f"/app/qa/inspections/{x.inspection_id}"])
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return head, rows[:EXPORT_MAX_ROWS]


def _csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(head: list[str], rows: list[list[str]]) -> bytes:
    """UTF-8 with a BOM (so Excel reads Chinese right), CRLF lines, no formulas."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(head)
    writer.writerows([_csv_safe(v) for v in row] for row in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(head: list[str], rows: list[list[str]], sheet: str) -> bytes:
    """One sheet, a bold header row, numbers as numbers, text never read as a formula."""
    openpyxl: Any = importlib.import_module("openpyxl")
    importlib.import_module("openpyxl.cell")
    importlib.import_module("openpyxl.styles")
    write_only_cell = openpyxl.cell.WriteOnlyCell
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.freeze_panes = "A2"
    bold = openpyxl.styles.Font(bold=True)
    cells = []
    for title in head:
        cell = write_only_cell(ws, value=title)
        cell.font = bold
        cells.append(cell)
    ws.append(cells)
    number = re.compile(r"-?\d+(\.\d+)?")
    for row in rows:
        out = []
        for value in row:
            if number.fullmatch(value):
                out.append(write_only_cell(ws, value=float(value) if "." in value
                                           else int(value)))
                continue
            cell = write_only_cell(ws, value=_ILLEGAL_XLSX.sub("", value) or None)
            cell.data_type = "s"
            out.append(cell)
        ws.append(out)
    data = io.BytesIO()
    wb.save(data)
    return data.getvalue()


@router.get("/qa/reports/export")
def get_export(request: Request, auth: Auth = Depends(current_auth),
               p: ReportParams = Depends(report_params),
               format: str = Query("csv", max_length=8, description="csv | xlsx"),
               report: str = Query("agents", max_length=16,
                                   description="agents | rules | trend | inspections"),
               ) -> Response:
    """Download a report as CSV (UTF-8 with BOM) or XLSX, with the same filters as the
    report routes; column titles in the caller's language. ``inspections`` lists up to
    10,000 conversations with their hits (the hit words in 【】)."""
    if format not in FORMATS:
        raise _bad("qa_report_bad_format", "格式只能是 csv 或 xlsx",
                   "format must be csv or xlsx", format=format)
    if report not in REPORTS:
        raise _bad("qa_report_bad_report", "报表只能是 agents、rules、trend 或 inspections",
                   "report must be agents, rules, trend or inspections", report=report)
    actor = auth.actor
    t = Translator(choose_locale(request, auth.locale).locale)
    with services(request).uows(readonly=True) as uow:
        r = resolve(p, uow.session, actor, uow.clock.now())
        head, rows = export_table(uow.session, actor, r, report, t)
    name = f"qa-{report}-{r.first.isoformat()}_{r.last.isoformat()}.{format}"
    if format == "csv":
        body, media = to_csv(head, rows), "text/csv; charset=utf-8"
    else:
        body = to_xlsx(head, rows, report)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})
