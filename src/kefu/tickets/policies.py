"""SLA settings of a workspace: business calendars, SLA policies (ordered; the first active
policy whose conditions match a ticket applies), team assignment settings (mode + team lead
组长) and the workspace's ticket settings (reopen window, auto close, digest hour).

Every write needs ``ticket.manage``, is audited (``core.audit.record``) and refuses bad input
with one ``Invalid`` (422) whose ``details.errors`` list ``{"field", "reason"}`` per problem
(e.g. ``targets.P1.first_response``); nothing is stored then. Reads for the pages and APIs
are here too (``list_*``, ``*_read``, ``access_*``)."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team, User
from kefu.core.audit import record
from kefu.core.calendar import WEEKDAYS, BusinessCalendar, parse_span
from kefu.core.errors import Conflict, Invalid, NotFound
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork
from kefu.tickets.models import (
    ASSIGNMENT_MODES,
    PRIORITIES,
    SLA_METRICS,
    BusinessCalendarRow,
    SlaPolicy,
    TicketTeamSettings,
    TicketTemplate,
    TicketWorkspace,
)
from kefu.tickets.sla import ALWAYS, add_business, calendar_from

MANAGE = "ticket.manage"
MAX_NAME = 120
MAX_DATES = 1000
MAX_RANGE_DAYS = 366
#: the longest target accepted: ten years of minutes
MAX_TARGET_MINUTES = 10 * 366 * 24 * 60
MAX_TIERS = 50
DEFAULT_SETTINGS: dict[str, int] = {"reopen_days": 7, "autoclose_days": 7, "digest_hour": 9}
SETTING_LIMITS: dict[str, tuple[int, int]] = {"reopen_days": (0, 365),
                                              "autoclose_days": (0, 365),
                                              "digest_hour": (0, 23)}

Errors = list[tuple[str, str]]
_SPLIT = re.compile(r"[,，;；\s]+")
_DATE_SPLIT = re.compile(r"[\n,，;；]+")


def _invalid(errors: Sequence[tuple[str, str]], what: str) -> Invalid:
    labels = {"calendar": "工作日历无效 / The business calendar is invalid",
              "policy": "SLA 策略无效 / The SLA policy is invalid",
              "team": "团队设置无效 / The team settings are invalid",
              "settings": "工单设置无效 / The ticket settings are invalid"}
    listed = "; ".join(f"{f}: {r}" for f, r in errors[:5])
    return Invalid(f"{labels[what]}: {listed}", code=f"invalid_{what}",
                   errors=[{"field": f, "reason": r} for f, r in errors])


def _name(name: object, errors: Errors) -> str:
    if not isinstance(name, str) or not name.strip():
        errors.append(("name", "不能为空 / must not be empty"))
        return ""
    if len(name.strip()) > MAX_NAME:
        errors.append(("name", f"不能超过 {MAX_NAME} 字 / longer than {MAX_NAME} characters"))
    return name.strip()


# -- calendars ------------------------------------------------------------------------------

def parse_spans(text: str | Sequence[str], field: str, errors: Errors) -> list[str]:
    """``"09:00-12:00, 13:30-18:00"`` (or a list of spans) → sorted ``["09:00-12:00", …]``;
    overlapping spans are refused."""
    parts = [p for p in (_SPLIT.split(text) if isinstance(text, str) else list(text))
             if isinstance(p, str) and p.strip()]
    spans = []
    for part in parts:
        try:
            a, b = parse_span(part.strip().replace("：", ":"))
        except ValueError:
            errors.append((field, f"时段格式应为 HH:MM-HH:MM，如 09:00-18:00 / {part.strip()!r}: "
                                  "expected HH:MM-HH:MM, e.g. 09:00-18:00"))
            return []
        spans.append((a, b))
    spans.sort()
    for (_a1, b1), (a2, _b2) in itertools.pairwise(spans):
        if a2 < b1:
            errors.append((field, "时段重叠 / the spans overlap"))
            return []
    return [f"{a.strftime('%H:%M')}-{'24:00' if b.hour == 23 and b.minute == 59 and b.second == 59 else b.strftime('%H:%M')}"  # noqa: E501
            for a, b in spans]


def parse_dates(text: str | Sequence[str], field: str, errors: Errors) -> list[str]:
    """Dates one per line (or comma separated), and ranges ``2026-10-01..2026-10-08``."""
    items = [p.strip() for p in (_DATE_SPLIT.split(text) if isinstance(text, str) else text)
             if isinstance(p, str) and p.strip()]
    out: set[date] = set()
    for item in items:
        try:
            if ".." in item:
                a_text, b_text = (x.strip() for x in item.split("..", 1))
                a, b = date.fromisoformat(a_text), date.fromisoformat(b_text)
                if b < a or (b - a).days >= MAX_RANGE_DAYS:
                    errors.append((field, f"日期范围无效 / {item!r}: the range must run forward "
                                          f"and be shorter than {MAX_RANGE_DAYS} days"))
                    return []
                out.update(a + timedelta(days=i) for i in range((b - a).days + 1))
            else:
                out.add(date.fromisoformat(item))
        except ValueError:
            errors.append((field, f"日期格式应为 YYYY-MM-DD / {item!r}: expected YYYY-MM-DD "
                                  "or YYYY-MM-DD..YYYY-MM-DD"))
            return []
    if len(out) > MAX_DATES:
        errors.append((field, f"最多 {MAX_DATES} 个日期 / at most {MAX_DATES} dates"))
        return []
    return [d.isoformat() for d in sorted(out)]


def check_timezone(tz: object, errors: Errors) -> str:
    if not isinstance(tz, str) or not tz.strip():
        errors.append(("timezone", "不能为空 / must not be empty"))
        return ""
    try:
        ZoneInfo(tz.strip())
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(("timezone", f"未知时区 / unknown time zone {tz.strip()!r} "
                                   "(e.g. Asia/Shanghai)"))
        return ""
    return tz.strip()


def _calendar_values(name: object, timezone: object, weekly: Mapping[str, Any] | None,
                     holidays: str | Sequence[str], workdays: str | Sequence[str]
                     ) -> tuple[dict[str, Any], Errors]:
    errors: Errors = []
    values: dict[str, Any] = {"name": _name(name, errors),
                              "timezone": check_timezone(timezone, errors)}
    week: dict[str, list[str]] = {}
    if not isinstance(weekly, Mapping):
        errors.append(("weekly", "须为每个工作日的时段 / hours per weekday expected"))
    else:
        for key in weekly:
            if key not in WEEKDAYS:
                errors.append((f"weekly.{key}", f"未知星期 / not one of {', '.join(WEEKDAYS)}"))
        for day in WEEKDAYS:
            spans = parse_spans(weekly.get(day) or "", f"weekly.{day}", errors)
            if spans:
                week[day] = spans
        if not week and not any(f.startswith("weekly") for f, _ in errors):
            errors.append(("weekly", "至少一天要有工作时段 / at least one day needs hours"))
    values["weekly"] = week
    values["holidays"] = parse_dates(holidays, "holidays", errors)
    values["workdays"] = parse_dates(workdays, "workdays", errors)
    both = set(values["holidays"]) & set(values["workdays"])
    if both:
        errors.append(("workdays", f"同一天既是假日又是调休工作日 / {sorted(both)[0]} is both a "
                                   "holiday and a make-up workday"))
    return values, errors


def to_calendar(row: BusinessCalendarRow | None) -> BusinessCalendar:
    """The arithmetic calendar of a stored row (None: 24/7)."""
    if row is None:
        return ALWAYS
    return calendar_from(row.timezone, row.weekly or {}, row.holidays or [],
                         row.workdays or [])


def _calendar_snapshot(row: BusinessCalendarRow) -> dict[str, Any]:
    return {"name": row.name, "timezone": row.timezone, "weekly": row.weekly,
            "holidays": row.holidays, "workdays": row.workdays}


def _unique(session: Session, model: Any, workspace_id: str, name: str,
            exclude: str | None) -> bool:
    q = select(model.id).where(model.workspace_id == workspace_id, model.name == name)
    if exclude is not None:
        q = q.where(model.id != exclude)
    return session.scalar(q.limit(1)) is None


def access_calendar(actor: Actor, calendar_id: str, *, session: Session,
                    permission: str = "ticket.read") -> BusinessCalendarRow:
    actor.require(permission)
    row = session.get(BusinessCalendarRow, calendar_id)
    if row is None or row.workspace_id != actor.workspace_id:
        raise NotFound("工作日历不存在 / No such business calendar", code="calendar_not_found",
                       id=calendar_id)
    return row


def do_create_calendar(uow: UnitOfWork, actor: Actor, *, name: str, timezone: str,
                       weekly: Mapping[str, Any], holidays: str | Sequence[str] = "",
                       workdays: str | Sequence[str] = "") -> BusinessCalendarRow:
    actor.require(MANAGE)
    values, errors = _calendar_values(name, timezone, weekly, holidays, workdays)
    if not errors and not _unique(uow.session, BusinessCalendarRow, actor.workspace_id,
                                  values["name"], None):
        errors.append(("name", "已有同名日历 / a calendar with this name exists"))
    if errors:
        raise _invalid(errors, "calendar")
    now = uow.clock.now()
    row = BusinessCalendarRow(id=new_id(), workspace_id=actor.workspace_id, created_at=now,
                              updated_at=now, **values)
    uow.session.add(row)
    uow.session.flush()
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="calendar.created", object_type="business_calendar", object_id=row.id,
           data=_calendar_snapshot(row))
    return row


def do_update_calendar(uow: UnitOfWork, actor: Actor, calendar_id: str, *, name: str,
                       timezone: str, weekly: Mapping[str, Any],
                       holidays: str | Sequence[str] = "",
                       workdays: str | Sequence[str] = "") -> BusinessCalendarRow:
    row = access_calendar(actor, calendar_id, session=uow.session, permission=MANAGE)
    values, errors = _calendar_values(name, timezone, weekly, holidays, workdays)
    if not errors and not _unique(uow.session, BusinessCalendarRow, actor.workspace_id,
                                  values["name"], row.id):
        errors.append(("name", "已有同名日历 / a calendar with this name exists"))
    if errors:
        raise _invalid(errors, "calendar")
    before = _calendar_snapshot(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = uow.clock.now()
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="calendar.updated", object_type="business_calendar", object_id=row.id,
           data={"before": before, "after": _calendar_snapshot(row)})
    return row


def do_delete_calendar(uow: UnitOfWork, actor: Actor, calendar_id: str) -> None:
    row = access_calendar(actor, calendar_id, session=uow.session, permission=MANAGE)
    used = uow.session.scalar(select(SlaPolicy.name).where(
        SlaPolicy.workspace_id == actor.workspace_id, SlaPolicy.calendar_id == row.id).limit(1))
    if used is not None:
        raise Conflict(f"日历正被 SLA 策略“{used}”使用 / The calendar is used by the SLA policy "
                       f"{used!r}", code="calendar_in_use", policy=used)
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="calendar.deleted", object_type="business_calendar", object_id=row.id,
           data=_calendar_snapshot(row))
    uow.session.delete(row)


def list_calendars(session: Session, actor: Actor) -> list[BusinessCalendarRow]:
    actor.require("ticket.read")
    return list(session.scalars(select(BusinessCalendarRow).where(
        BusinessCalendarRow.workspace_id == actor.workspace_id).order_by(
        BusinessCalendarRow.name)))


def calendar_read(row: BusinessCalendarRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "timezone": row.timezone,
            "weekly": {d: list(row.weekly.get(d, [])) for d in WEEKDAYS},
            "holidays": list(row.holidays), "workdays": list(row.workdays),
            "created_at": row.created_at, "updated_at": row.updated_at}


# -- SLA policies ---------------------------------------------------------------------------

def _str_list(value: object, field: str, errors: Errors, *,
              allowed: Iterable[str] | None = None, max_len: int = 100) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        errors.append((field, "须为字符串列表 / a list of strings expected"))
        return []
    out = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(out) > max_len:
        errors.append((field, f"最多 {max_len} 项 / at most {max_len} items"))
    if allowed is not None:
        allowed_set = set(allowed)
        for v in out:
            if v not in allowed_set:
                errors.append((field, f"未知取值 {v!r} / unknown value {v!r}"))
                return []
    return out


def _targets(value: object, errors: Errors) -> dict[str, dict[str, int]]:
    if not isinstance(value, Mapping):
        errors.append(("targets", "须为按优先级的目标 / targets per priority expected"))
        return {}
    out: dict[str, dict[str, int]] = {}
    for prio, metrics in value.items():
        if prio not in PRIORITIES:
            errors.append((f"targets.{prio}", f"未知优先级 / not one of {', '.join(PRIORITIES)}"))
            continue
        if not isinstance(metrics, Mapping):
            errors.append((f"targets.{prio}", "须为各指标的分钟数 / minutes per metric "
                                              "expected"))
            continue
        row: dict[str, int] = {}
        for metric, minutes in metrics.items():
            field = f"targets.{prio}.{metric}"
            if metric not in SLA_METRICS:
                errors.append((field, f"未知指标 / not one of {', '.join(SLA_METRICS)}"))
                continue
            if minutes is None or minutes == "":
                continue  # no clock for this metric
            number: float | None
            try:
                number = float(minutes) if not isinstance(minutes, bool) else None
            except (TypeError, ValueError, OverflowError):
                number = None
            if number is None or not math.isfinite(number) or number <= 0 or number != int(number) \
                    or number > MAX_TARGET_MINUTES:
                errors.append((field, "须为正整数分钟 / must be a positive whole number of "
                                      f"minutes (at most {MAX_TARGET_MINUTES})"))
                continue
            row[metric] = int(number)
        if row:
            out[str(prio)] = row
    return out


def _policy_values(session: Session, actor: Actor, data: Mapping[str, Any],
                   exclude: str | None) -> tuple[dict[str, Any], Errors]:
    errors: Errors = []
    values: dict[str, Any] = {"name": _name(data.get("name"), errors)}
    cond = data.get("conditions") or {}
    if not isinstance(cond, Mapping):
        errors.append(("conditions", "须为对象 / an object expected"))
        cond = {}
    for key in cond:
        if key not in ("priorities", "tiers", "template_ids"):
            errors.append((f"conditions.{key}", "未知条件 / not one of priorities, tiers, "
                                                "template_ids"))
    template_ids = _str_list(cond.get("template_ids"), "conditions.template_ids", errors)
    if template_ids:
        found = set(session.scalars(select(TicketTemplate.id).where(
            TicketTemplate.workspace_id == actor.workspace_id,
            TicketTemplate.id.in_(template_ids))))
        missing = [t for t in template_ids if t not in found]
        if missing:
            errors.append(("conditions.template_ids", f"工单模板不存在 / no such ticket "
                                                      f"template {missing[0]!r}"))
    values["conditions"] = {
        "priorities": _str_list(cond.get("priorities"), "conditions.priorities", errors,
                                allowed=PRIORITIES),
        "tiers": [t.lower() for t in _str_list(cond.get("tiers"), "conditions.tiers", errors,
                                               max_len=MAX_TIERS)],
        "template_ids": template_ids}
    values["targets"] = _targets(data.get("targets") or {}, errors)
    calendar_id = data.get("calendar_id") or None
    if calendar_id is not None:
        row = session.get(BusinessCalendarRow, calendar_id) if isinstance(calendar_id, str) \
            else None
        if row is None or row.workspace_id != actor.workspace_id:
            errors.append(("calendar_id", "工作日历不存在 / no such business calendar"))
    values["calendar_id"] = calendar_id
    esc = data.get("escalate_after_minutes", 60)
    if isinstance(esc, bool) or not isinstance(esc, int) or not 0 <= esc <= MAX_TARGET_MINUTES:
        errors.append(("escalate_after_minutes", "须为不小于 0 的整数分钟 / must be a whole "
                                                 "number of minutes, 0 or more"))
    values["escalate_after_minutes"] = esc
    active = data.get("is_active", True)
    if not isinstance(active, bool):
        errors.append(("is_active", "须为 true 或 false / must be true or false"))
    values["is_active"] = active
    if values["name"] and not _unique(session, SlaPolicy, actor.workspace_id, values["name"],
                                      exclude):
        errors.append(("name", "已有同名策略 / a policy with this name exists"))
    return values, errors


def _policy_snapshot(p: SlaPolicy) -> dict[str, Any]:
    return {"name": p.name, "position": p.position, "conditions": p.conditions,
            "targets": p.targets, "calendar_id": p.calendar_id,
            "escalate_after_minutes": p.escalate_after_minutes, "is_active": p.is_active}


def access_policy(actor: Actor, policy_id: str, *, session: Session,
                  permission: str = "ticket.read") -> SlaPolicy:
    actor.require(permission)
    row = session.get(SlaPolicy, policy_id)
    if row is None or row.workspace_id != actor.workspace_id:
        raise NotFound("SLA 策略不存在 / No such SLA policy", code="sla_policy_not_found",
                       id=policy_id)
    return row


def do_create_policy(uow: UnitOfWork, actor: Actor, data: Mapping[str, Any]) -> SlaPolicy:
    """``data``: name, conditions, targets, calendar_id, escalate_after_minutes, is_active.
    The new policy goes last (lowest precedence); see :func:`do_reorder_policies`."""
    actor.require(MANAGE)
    values, errors = _policy_values(uow.session, actor, data, None)
    if errors:
        raise _invalid(errors, "policy")
    last = uow.session.scalar(select(SlaPolicy.position).where(
        SlaPolicy.workspace_id == actor.workspace_id).order_by(
        SlaPolicy.position.desc()).limit(1))
    now = uow.clock.now()
    row = SlaPolicy(id=new_id(), workspace_id=actor.workspace_id,
                    position=(last + 1) if last is not None else 0, created_at=now,
                    updated_at=now, **values)
    uow.session.add(row)
    uow.session.flush()
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="sla_policy.created", object_type="sla_policy", object_id=row.id,
           data=_policy_snapshot(row))
    return row


def do_update_policy(uow: UnitOfWork, actor: Actor, policy_id: str,
                     data: Mapping[str, Any]) -> SlaPolicy:
    """Replace the policy's settings (the same fields as create). Tickets keep the clocks
    they run; the new targets apply to tickets created or re-prioritised afterwards."""
    row = access_policy(actor, policy_id, session=uow.session, permission=MANAGE)
    values, errors = _policy_values(uow.session, actor, data, row.id)
    if errors:
        raise _invalid(errors, "policy")
    before = _policy_snapshot(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = uow.clock.now()
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="sla_policy.updated", object_type="sla_policy", object_id=row.id,
           data={"before": before, "after": _policy_snapshot(row)})
    return row


def do_delete_policy(uow: UnitOfWork, actor: Actor, policy_id: str) -> None:
    row = access_policy(actor, policy_id, session=uow.session, permission=MANAGE)
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="sla_policy.deleted", object_type="sla_policy", object_id=row.id,
           data=_policy_snapshot(row))
    from kefu.tickets.models import Ticket

    # tickets keep their clocks; they only lose the link (the FK would do it on PostgreSQL)
    for ticket in uow.session.scalars(select(Ticket).where(
            Ticket.workspace_id == actor.workspace_id, Ticket.sla_policy_id == row.id)):
        ticket.sla_policy_id = None
    uow.session.delete(row)


def do_reorder_policies(uow: UnitOfWork, actor: Actor, policy_ids: Sequence[str]) -> None:
    """Set the order of precedence: ``policy_ids`` must list every policy once."""
    actor.require(MANAGE)
    rows = {p.id: p for p in uow.session.scalars(select(SlaPolicy).where(
        SlaPolicy.workspace_id == actor.workspace_id))}
    if sorted(policy_ids) != sorted(rows) or len(set(policy_ids)) != len(policy_ids):
        raise _invalid([("policy_ids", "须列出全部策略各一次 / must list every policy once")],
                       "policy")
    for pos, pid in enumerate(policy_ids):
        rows[pid].position = pos
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="sla_policy.reordered", object_type="workspace",
           object_id=actor.workspace_id, data={"order": list(policy_ids)})


def list_policies(session: Session, actor: Actor) -> list[SlaPolicy]:
    actor.require("ticket.read")
    return list(session.scalars(select(SlaPolicy).where(
        SlaPolicy.workspace_id == actor.workspace_id).order_by(SlaPolicy.position,
                                                               SlaPolicy.created_at)))


def policy_read(p: SlaPolicy) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "position": p.position,
            "conditions": {"priorities": list(p.conditions.get("priorities", [])),
                           "tiers": list(p.conditions.get("tiers", [])),
                           "template_ids": list(p.conditions.get("template_ids", []))},
            "targets": p.targets, "calendar_id": p.calendar_id,
            "escalate_after_minutes": p.escalate_after_minutes, "is_active": p.is_active,
            "created_at": p.created_at, "updated_at": p.updated_at}


def policy_matches(p: SlaPolicy, *, priority: str, tier: str | None,
                   template_id: str | None) -> bool:
    cond = p.conditions or {}
    prios = cond.get("priorities") or []
    tiers = cond.get("tiers") or []
    templates = cond.get("template_ids") or []
    return ((not prios or priority in prios)
            and (not tiers or (tier or "").lower() in tiers)
            and (not templates or template_id in templates))


def choose_policy(session: Session, workspace_id: str, *, priority: str, tier: str | None,
                  template_id: str | None) -> SlaPolicy | None:
    """The first active policy (by position) whose conditions match."""
    for p in session.scalars(select(SlaPolicy).where(
            SlaPolicy.workspace_id == workspace_id, SlaPolicy.is_active.is_(True)).order_by(
            SlaPolicy.position, SlaPolicy.created_at)):
        if policy_matches(p, priority=priority, tier=tier, template_id=template_id):
            return p
    return None


def policy_calendar(session: Session, policy: SlaPolicy | None) -> tuple[BusinessCalendar,
                                                                           str | None]:
    """The policy's calendar for the arithmetic, and its name (None: 24/7)."""
    if policy is None or policy.calendar_id is None:
        return ALWAYS, None
    row = session.get(BusinessCalendarRow, policy.calendar_id)
    if row is None:
        return ALWAYS, None
    return to_calendar(row), row.name


def preview_due(cal: BusinessCalendar, start: Any, minutes: int) -> Any:
    """When a target of ``minutes`` started at ``start`` is due (for the admin pages)."""
    return add_business(cal, start, minutes * 60)


# -- team settings --------------------------------------------------------------------------

def _team(session: Session, actor: Actor, team_id: str) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != actor.workspace_id:
        raise NotFound("团队不存在 / No such team", code="team_not_found", id=team_id)
    return team


def team_settings(session: Session, workspace_id: str,
                  team_id: str) -> TicketTeamSettings | None:
    row = session.get(TicketTeamSettings, team_id)
    return row if row is not None and row.workspace_id == workspace_id else None


def do_set_team_settings(uow: UnitOfWork, actor: Actor, team_id: str, *, assignment: str,
                         lead_id: str | None) -> TicketTeamSettings:
    actor.require(MANAGE)
    _team(uow.session, actor, team_id)
    errors: Errors = []
    if assignment not in ASSIGNMENT_MODES:
        errors.append(("assignment", f"须为 {' / '.join(ASSIGNMENT_MODES)} 之一 / must be one "
                                     f"of {', '.join(ASSIGNMENT_MODES)}"))
    if lead_id:
        user = uow.session.get(User, lead_id)
        if user is None or user.workspace_id != actor.workspace_id or not user.is_active:
            errors.append(("lead_id", "用户不存在 / no such active user"))
    if errors:
        raise _invalid(errors, "team")
    row = uow.session.get(TicketTeamSettings, team_id)
    before = None
    if row is None:
        row = TicketTeamSettings(team_id=team_id, workspace_id=actor.workspace_id)
        uow.session.add(row)
    else:
        before = {"assignment": row.assignment, "lead_id": row.lead_id}
    row.assignment = assignment
    row.lead_id = lead_id or None
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="ticket_team.updated", object_type="team", object_id=team_id,
           data={"before": before, "after": {"assignment": assignment,
                                             "lead_id": lead_id or None}})
    return row


def list_team_settings(session: Session, actor: Actor) -> list[dict[str, Any]]:
    actor.require("ticket.read")
    teams = session.scalars(select(Team).where(Team.workspace_id == actor.workspace_id)
                            .order_by(Team.name)).all()
    rows = {r.team_id: r for r in session.scalars(select(TicketTeamSettings).where(
        TicketTeamSettings.workspace_id == actor.workspace_id))}
    out = []
    for team in teams:
        r = rows.get(team.id)
        out.append({"team_id": team.id, "name": team.name,
                    "assignment": r.assignment if r else "manual",
                    "lead_id": r.lead_id if r else None})
    return out


# -- workspace ticket settings --------------------------------------------------------------

def ticket_settings(session: Session, workspace_id: str) -> dict[str, int]:
    row = session.get(TicketWorkspace, workspace_id)
    stored = row.settings if row is not None and row.settings else {}
    out = {}
    for key, default in DEFAULT_SETTINGS.items():
        value = stored.get(key, default)
        # a hand-edited or damaged row must not break every reply and tick: whole numbers only
        ok = isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value) and value == int(value)
        out[key] = int(value) if ok else default
    return out


def do_set_ticket_settings(uow: UnitOfWork, actor: Actor,
                           values: Mapping[str, Any]) -> dict[str, int]:
    """Change some of reopen_days, autoclose_days, digest_hour (those given)."""
    actor.require(MANAGE)
    errors: Errors = []
    for key in values:
        if key not in DEFAULT_SETTINGS:
            errors.append((key, "未知设置 / unknown setting"))
    current = ticket_settings(uow.session, actor.workspace_id)
    new = dict(current)
    for key, (lo, hi) in SETTING_LIMITS.items():
        if key not in values:
            continue
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            errors.append((key, f"须为 {lo}–{hi} 的整数 / must be a whole number from {lo} "
                                f"to {hi}"))
            continue
        new[key] = v
    if errors:
        raise _invalid(errors, "settings")
    row = uow.session.get(TicketWorkspace, actor.workspace_id)
    if row is None:
        row = TicketWorkspace(workspace_id=actor.workspace_id, last_number=0, settings={})
        uow.session.add(row)
    row.settings = {**(row.settings or {}), **new}
    record(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
           action="ticket_settings.updated", object_type="workspace",
           object_id=actor.workspace_id, data={"before": current, "after": new})
    return new
