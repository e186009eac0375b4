"""Ticket reports page (``/app/tickets/reports``, ``ticket.reports``): filters, backlog by
state and age per team, SLA compliance per policy / team / agent, first response and
resolution time histograms, top categories of a template's select field and the daily
created / resolved trend. Charts are inline SVG drawn here on the server (no script needed);
every table has CSV and XLSX export links (``/api/v1/ticket-reports/export``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from kefu.accounts import queries as account_queries
from kefu.accounts.queries import get_workspace
from kefu.core.errors import DomainError
from kefu.tickets import reports as rep
from kefu.tickets.models import SLA_METRICS, TicketTemplate
from kefu.web.api.ticket_reports import ReportParams, Resolved, resolve
from kefu.web.deps import services
from kefu.web.i18n import Translator, localize_message
from kefu.web.ui.render import page_gate, render

router = APIRouter(include_in_schema=False)
#: upload routes (POST path -> largest file in bytes) allowed past the JSON body cap
UPLOAD_LIMITS: dict[str, int] = {}

PRESETS = (7, 30, 90)
FILTERS = ("days", "since", "until", "team_id", "template_id", "group_by", "field", "metric")
METRICS = ("all", *SLA_METRICS)
PALETTE = {"new": "tk-c1", "open": "tk-c2", "pending": "tk-c3", "lt1d": "tk-c1",
           "d1_3": "tk-c2", "d3_7": "tk-c3", "gt7d": "tk-c4"}


def _params(request: Request) -> ReportParams:
    q = request.query_params

    def get(name: str) -> str | None:
        value = q.get(name)
        return value.strip()[:64] if value is not None and value.strip() else None

    return ReportParams(since=get("since"), until=get("until"), days=get("days"),
                        team_id=get("team_id"), template_id=get("template_id"),
                        group_by=get("group_by") or "policy", field=get("field"))


# -- inline SVG geometry ------------------------------------------------------------------------

def stacked_bars(rows: list[dict[str, Any]], keys: list[str], labels: dict[str, str]
                 ) -> dict[str, Any]:
    """Horizontal stacked bars: one row per item, one segment per key."""
    width, left, row_h = 560, 140, 26
    top = max((sum(r["values"][k] for k in keys) for r in rows), default=0) or 1
    plot = width - left - 50
    out = []
    for i, r in enumerate(rows):
        x = float(left)
        segs = []
        for k in keys:
            v = r["values"][k]
            w = plot * v / top
            if v:
                segs.append({"x": round(x, 1), "w": round(max(w, 1.0), 1), "cls": PALETTE[k],
                             "title": f"{r['label']} · {labels[k]}: {v}"})
            x += w
        out.append({"y": 6 + i * row_h, "label": r["label"], "segs": segs,
                    "total": sum(r["values"][k] for k in keys), "end": round(x + 6, 1)})
    return {"w": width, "h": 12 + row_h * len(rows), "left": left, "rows": out,
            "legend": [{"cls": PALETTE[k], "label": labels[k]} for k in keys]}


def bars(items: list[tuple[str, float, str]], *, max_value: float | None = None,
         unit: str = "") -> dict[str, Any]:
    """Horizontal bars: ``(label, value, shown text)``."""
    width, left, row_h = 560, 160, 26
    top = max_value or max((v for _, v, _ in items), default=0) or 1
    plot = width - left - 70
    rows = [{"y": 6 + i * row_h, "label": label, "w": round(max(plot * v / top, 1 if v else 0),
                                                              1),
             "text": text, "end": round(left + plot * v / top + 6, 1)}
            for i, (label, v, text) in enumerate(items)]
    return {"w": width, "h": 12 + row_h * len(items), "left": left, "rows": rows,
            "unit": unit}


def columns(items: list[tuple[str, int]]) -> dict[str, Any]:
    """Vertical columns (a histogram)."""
    width, height, bottom, top_pad = 420, 190, 28, 16
    n = max(1, len(items))
    step = (width - 20) / n
    peak = max((v for _, v in items), default=0) or 1
    plot = height - bottom - top_pad
    cols = []
    for i, (label, v) in enumerate(items):
        h = plot * v / peak
        cols.append({"x": round(10 + i * step + step * 0.15, 1), "w": round(step * 0.7, 1),
                     "y": round(top_pad + plot - h, 1), "h": round(h, 1), "label": label,
                     "value": v, "cx": round(10 + i * step + step / 2, 1)})
    return {"w": width, "h": height, "base": height - bottom, "cols": cols}


def lines(points: list[rep.TrendPoint]) -> dict[str, Any]:
    """Two lines (created, resolved) over the days."""
    width, height, left, bottom, top_pad = 760, 220, 36, 28, 12
    peak = max((max(p.created, p.resolved) for p in points), default=0) or 1
    plot_w, plot_h = width - left - 12, height - bottom - top_pad
    step = plot_w / max(1, len(points) - 1) if len(points) > 1 else 0

    def xy(i: int, v: int) -> str:
        return f"{left + i * step:.1f},{top_pad + plot_h - plot_h * v / peak:.1f}"

    every = max(1, -(-len(points) // 10))
    ticks = [{"x": round(left + i * step, 1), "label": p.day.isoformat()[5:]}
             for i, p in enumerate(points) if i % every == 0 or i == len(points) - 1]
    grid = [{"y": round(top_pad + plot_h - plot_h * g / 4, 1), "label": round(peak * g / 4)}
            for g in range(5)]
    return {"w": width, "h": height, "left": left, "base": height - bottom,
            "created": " ".join(xy(i, p.created) for i, p in enumerate(points)),
            "resolved": " ".join(xy(i, p.resolved) for i, p in enumerate(points)),
            "ticks": ticks, "grid": grid,
            "dots": [{"x": round(left + i * step, 1), "title": f"{p.day.isoformat()}: "
                      f"+{p.created} / ✓{p.resolved}"} for i, p in enumerate(points)]}


def fmt_duration(seconds: float | None, locale: str) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min" if locale == "en" else f"{seconds / 60:.0f} 分钟"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h" if locale == "en" else f"{seconds / 3600:.1f} 小时"
    return f"{seconds / 86400:.1f} d" if locale == "en" else f"{seconds / 86400:.1f} 天"


# -- the page -----------------------------------------------------------------------------------

@router.get("/app/tickets/reports")
def reports_page(request: Request) -> Response:
    gate = page_gate(request, "ticket.reports")
    if isinstance(gate, Response):
        return gate
    auth, locale = gate
    t = Translator(locale)
    actor = auth.actor
    error: str | None = None
    metric = request.query_params.get("metric") or "all"
    if metric not in METRICS:
        metric = "all"
    with services(request).uows(readonly=True) as uow:
        s = uow.session
        now = uow.clock.now()
        try:
            r = resolve(_params(request), s, actor, now)
        except DomainError as exc:
            error = localize_message(exc.message, locale)
            r = resolve(ReportParams(), s, actor, now)
        backlog = rep.backlog(s, actor, now=now, **r.scope)
        sla = rep.sla_compliance(s, actor, group_by=r.group_by, **r.window, **r.scope)
        times = {m: rep.distribution(s, actor, metric=m, **r.window, **r.scope)
                 for m in rep.DURATION_METRICS}
        points = rep.trend(s, actor, zone=r.zone, **r.window, **r.scope)
        templates = list(s.scalars(select(TicketTemplate).where(
            TicketTemplate.workspace_id == actor.workspace_id).order_by(
            TicketTemplate.position, TicketTemplate.name)))
        fields_by_template = {tp.id: [{"key": f["key"], "label": f.get("label") or f["key"]}
                                      for f in rep.select_fields(tp)] for tp in templates}
        categories: rep.Categories | None = None
        cat_template = r.template_id or next((k for k, v in fields_by_template.items() if v),
                                             None)
        cat_field: str | None = r.field
        if cat_template and fields_by_template.get(cat_template):
            keys = [str(f["key"]) for f in fields_by_template[cat_template]]
            cat_field = cat_field if cat_field in keys else keys[0]
            assert cat_field is not None
            try:
                categories = rep.top_categories(s, actor, template_id=cat_template,
                                                field_key=cat_field, since=r.since,
                                                until=r.until, team_id=r.team_id)
            except DomainError as exc:
                error = localize_message(exc.message, locale)
        teams = account_queries.list_teams(s, actor)
        ws = get_workspace(s, actor.workspace_id)
    ctx = _context(request, t, r, backlog, sla, metric, times, points, categories,
                   cat_template, cat_field)
    return render(request, "tickets/reports.html", locale=locale, auth=auth,
                  section="tickets", workspace_name=ws.name if ws else "", error=error,
                  r=r, teams=teams, templates=templates, fields_by_template=fields_by_template,
                  metric=metric, metrics=METRICS, **ctx)


def _context(request: Request, t: Translator, r: Resolved, backlog: rep.Backlog,
             sla: rep.SlaReport, metric: str, times: dict[str, rep.Distribution],
             points: list[rep.TrendPoint], categories: rep.Categories | None,
             cat_template: str | None, cat_field: str | None) -> dict[str, Any]:
    q = request.query_params
    base = {k: q[k] for k in FILTERS if q.get(k)}
    no_team = t("ticket_reports.no_team")
    status_labels = {"new": t("ticket_reports.status.new"),
                     "open": t("ticket_reports.status.open"),
                     "pending": t("ticket_reports.status.pending")}
    age_labels = {"lt1d": t("ticket_reports.age.lt1d"), "d1_3": t("ticket_reports.age.d1_3"),
                  "d3_7": t("ticket_reports.age.d3_7"), "gt7d": t("ticket_reports.age.gt7d")}
    bucket_labels = {"lt1h": t("ticket_reports.bucket.lt1h"),
                     "h1_4": t("ticket_reports.bucket.h1_4"),
                     "h4_24": t("ticket_reports.bucket.h4_24"),
                     "d1_3": t("ticket_reports.bucket.d1_3"),
                     "d3_7": t("ticket_reports.bucket.d3_7"),
                     "gt7d": t("ticket_reports.bucket.gt7d")}
    metric_labels = {"all": t("ticket_reports.metric.all"),
                     "first_response": t("ticket_reports.metric.first_response"),
                     "next_response": t("ticket_reports.metric.next_response"),
                     "resolution": t("ticket_reports.metric.resolution")}
    group_labels = {"policy": t("ticket_reports.col.policy"),
                    "team": t("ticket_reports.col.team"), "agent": t("ticket_reports.col.agent")}
    b_rows = [{"label": x.label or no_team, "team_id": x.team_id, "by_status": x.by_status,
               "by_age": x.by_age, "total": x.total} for x in backlog.rows]
    backlog_chart = stacked_bars([{"label": x["label"], "values": x["by_status"]}
                                  for x in b_rows], list(rep.BACKLOG_STATUSES), status_labels)
    age_chart = stacked_bars([{"label": x["label"], "values": x["by_age"]} for x in b_rows],
                             [k for k, _, _ in rep.AGE_BUCKETS], age_labels)
    none_label = no_team if r.group_by == "team" else t("ticket_reports.unassigned")
    sla_rows: list[dict[str, Any]] = []
    for x in sla.rows:
        c = x.all if metric == "all" else x.metrics[metric]
        sla_rows.append({"label": x.label or none_label, "key": x.key, "tickets": x.tickets,
                         "c": c.as_dict(),
                         "by_metric": {m: x.metrics[m].as_dict() for m in SLA_METRICS}})
    tot = sla.totals.all if metric == "all" else sla.totals.metrics[metric]
    sla_chart = bars([(x["label"], x["c"]["pct_met"] or 0.0,
                       "–" if x["c"]["pct_met"] is None else f"{x['c']['pct_met']:.1f}%")
                      for x in sla_rows], max_value=100.0)
    dist = {}
    for m, d in times.items():
        dist[m] = {"n": d.n, "p50": fmt_duration(d.p50_s, t.locale),
                   "p90": fmt_duration(d.p90_s, t.locale),
                   "avg": fmt_duration(d.avg_s, t.locale),
                   "rows": [{"label": bucket_labels[k], "count": c,
                             "share": (c / d.n * 100) if d.n else 0.0} for k, c in d.buckets],
                   "chart": columns([(bucket_labels[k], c) for k, c in d.buckets])}
    cat_rows: list[dict[str, Any]] = []
    cat_chart = None
    if categories is not None:
        cat_rows = [{"label": x.label or t("ticket_reports.empty_value"), "count": x.count,
                     "share": x.share * 100} for x in categories.rows]
        cat_chart = bars([(x["label"], float(x["count"]), f"{x['count']} · {x['share']:.1f}%")
                          for x in cat_rows])
    trend_rows = [p.as_dict() for p in points]

    def export(report: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        params = {**base, **(extra or {}), "report": report}
        return {fmt: "/api/v1/ticket-reports/export?" + urlencode({**params, "format": fmt})
                for fmt in ("csv", "xlsx")}

    presets = [{"days": d, "href": "/app/tickets/reports?" + urlencode(
        {**{k: v for k, v in base.items() if k not in ("days", "since", "until")},
         "days": str(d)}), "active": r.days == d and not q.get("since")} for d in PRESETS]
    cat_extra = {"template_id": cat_template or "", "field": cat_field or ""}
    return {"b_rows": b_rows, "b_totals": backlog.totals.as_dict(),
            "status_labels": status_labels, "age_labels": age_labels,
            "backlog_chart": backlog_chart, "age_chart": age_chart,
            "sla_rows": sla_rows, "sla_total": tot.as_dict(), "sla_tickets": sla.totals.tickets,
            "sla_chart": sla_chart, "metric_labels": metric_labels,
            "group_labels": group_labels, "group_label": group_labels[r.group_by],
            "dist": dist, "cat": categories, "cat_rows": cat_rows, "cat_chart": cat_chart,
            "cat_template": cat_template, "cat_field": cat_field,
            "trend_rows": trend_rows, "trend_chart": lines(points),
            "trend_totals": {"created": sum(p.created for p in points),
                             "resolved": sum(p.resolved for p in points)},
            "presets": presets,
            "exports": {"backlog": export("backlog"), "backlog_age": export("backlog_age"),
                        "sla": export("sla"), "first_response": export("first_response"),
                        "resolution": export("resolution"),
                        "categories": export("categories", cat_extra),
                        "trend": export("trend")}}
