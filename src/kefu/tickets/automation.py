"""Automation triggers (自动化规则): conditions on a ticket's fields, on create / update / time,
and their actions. Owned by the automation work.

A trigger (``TicketTrigger``) has an ``event`` (``create`` | ``update`` | ``time``), an all-of
list of conditions ``[{"field", "op", "value"}]`` and a list of actions ``[{"type", …}]``.
:func:`check_spec` validates the whole spec when it is saved; every problem is named by its
path (``conditions[2].value``) in one ``Invalid(code="invalid_trigger", errors={path: msg})``.

Running (see :func:`register`):

- ``ticket.created`` → job ``ticket_triggers`` evaluates the active *create* triggers;
  ``ticket.changed`` → the same job kind evaluates the *update* triggers with the event's
  ``changes`` (the ``changed`` / ``changed_to`` operators look at them).
- Events whose ``actor_type`` is ``automation`` are ignored: a trigger's own changes never
  fire triggers, so two triggers watching each other's fields cannot loop.
- ``ticket_time_triggers`` runs every 60 s: for each active *time* trigger it finds candidate
  open tickets with an indexed query (status, the time conditions turned into bounds on
  ``created_at`` / ``updated_at`` / ``last_customer_reply_at`` / ``next_breach_at``, and no
  firing yet), checks every condition and fires. A time trigger fires **once per ticket**
  (firing key ``""``).
- Triggers run in ``position`` order; a later trigger sees the earlier ones' changes. Each
  firing writes a ``TicketTriggerFiring`` (unique per trigger, ticket and key: ``create``,
  ``u:<event id>`` or ``""``) in the same transaction as the trigger's actions, so a retried
  job or a second worker never applies a trigger twice. An action that is refused (e.g. a
  transition that is not allowed) rolls back that trigger's actions only and leaves an
  ``automation_failed`` line on the timeline.
- The timeline shows the automation as the actor, labelled with the trigger's name
  (``By("automation", trigger.id, label=trigger.name)``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kefu.accounts.models import Team, User
from kefu.contacts.models import Contact
from kefu.core.audit import record as audit
from kefu.core.errors import DomainError, Invalid, NotFound
from kefu.core.events import Event, JobSpec
from kefu.core.ids import new_id
from kefu.tickets.events import TicketChanged, TicketCreated
from kefu.tickets.models import (
    PRIORITIES,
    SOURCES,
    STATUSES,
    Ticket,
    TicketTeamSettings,
    TicketTemplate,
    TicketTrigger,
    TicketTriggerFiring,
    TicketWatcher,
)
from kefu.tickets.timeline import By

if TYPE_CHECKING:
    from kefu.accounts.actor import Actor
    from kefu.config import Settings
    from kefu.core.events import EventBus
    from kefu.core.jobs import JobQueue
    from kefu.core.uow import UnitOfWork

log = logging.getLogger(__name__)

EVENTS = ("create", "update", "time")
OPEN_STATUSES = ("new", "open", "pending")
SLA_STATUSES = ("none", "ok", "warning", "breached", "paused")
RECIPIENTS = ("assignee", "team_lead", "watchers", "supervisors")
PLACEHOLDERS = ("number", "subject", "customer", "link")
ACTION_TYPES = ("set_priority", "set_team", "set_assignee", "set_status", "add_tag",
                "remove_tag", "notify", "send_reply")
OPS = ("is", "is_not", "in", "not_in", "contains", "not_contains", "gt", "gte", "lt", "lte",
       "is_empty", "is_not_empty", "changed", "changed_to")
#: what kind of value each field holds (``fields.<key>`` is "custom")
FIELD_KINDS: dict[str, str] = {
    "status": "enum", "priority": "enum", "source": "enum", "sla_status": "enum",
    "team_id": "ref", "assignee_id": "ref", "template_id": "ref",
    "tags": "tags", "subject": "text", "description": "text", "contact_tier": "text",
    "hours_since_created": "time", "hours_since_updated": "time",
    "hours_since_customer_reply": "time", "minutes_to_breach": "time",
}
ENUMS: dict[str, tuple[str, ...]] = {"status": STATUSES, "priority": PRIORITIES,
                                     "source": SOURCES, "sla_status": SLA_STATUSES}
_ORDERED = frozenset({"gt", "gte", "lt", "lte"})
_NO_VALUE = frozenset({"is_empty", "is_not_empty", "changed"})
_LISTS = frozenset({"in", "not_in"})
OPS_BY_KIND: dict[str, frozenset[str]] = {
    "enum": frozenset({"is", "is_not", "in", "not_in", "changed", "changed_to"}),
    "ref": frozenset({"is", "is_not", "in", "not_in", "is_empty", "is_not_empty", "changed",
                      "changed_to"}),
    "tags": frozenset({"contains", "not_contains", "in", "not_in", "is_empty", "is_not_empty",
                       "changed", "changed_to"}),
    "text": frozenset({"is", "is_not", "in", "not_in", "contains", "not_contains", "is_empty",
                       "is_not_empty", "changed", "changed_to"}),
    "time": frozenset({"gt", "gte", "lt", "lte", "is_empty", "is_not_empty"}),
    "custom": frozenset(OPS),
}
#: fields whose changes are not recorded on the ticket (no ``changed`` operators)
_UNTRACKED = frozenset({"contact_tier"})
_KEY_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_LIST = 50
MAX_NAME = 120
MAX_TITLE = 200
MAX_BODY = 5000
#: time triggers: tickets looked at per trigger per tick (the rest wait for the next tick)
TIME_BATCH = 200
#: dry run: open tickets looked at, and matches returned
PREVIEW_SCAN = 5000
PREVIEW_LIMIT = 50
TICKET_LINK = "/app/tickets/{id}"

Errors = dict[str, str]


# -- spec validation ----------------------------------------------------------------------------

def _err(zh: str, en: str) -> str:
    return f"{zh} / {en}"


def _field_kind(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    if name.startswith("fields."):
        return "custom" if _KEY_RE.fullmatch(name[7:]) else None
    return FIELD_KINDS.get(name)


@dataclass(frozen=True, slots=True)
class Refs:
    """The workspace's ids a spec may name."""

    teams: frozenset[str]
    users: frozenset[str]
    templates: frozenset[str]

    @staticmethod
    def load(session: Session, workspace_id: str) -> Refs:
        def ids(model: Any) -> frozenset[str]:
            return frozenset(session.scalars(select(model.id).where(
                model.workspace_id == workspace_id)))
        return Refs(ids(Team), ids(User), ids(TicketTemplate))

    def of(self, field: str) -> frozenset[str]:
        return {"team_id": self.teams, "assignee_id": self.users,
                "template_id": self.templates}.get(field, frozenset())


def _finite(value: object) -> bool:
    """A JSON number usable as a float (not NaN/inf, not an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _scalar_error(kind: str, field: str, value: object, refs: Refs, op: str) -> str | None:
    """Why ``value`` is not one value of ``field`` (None: it is fine)."""
    if kind == "enum":
        if value not in ENUMS[field]:
            return _err(f"须为 {'、'.join(ENUMS[field])} 之一",
                        f"must be one of {', '.join(ENUMS[field])}")
        return None
    if kind == "ref":
        if not isinstance(value, str) or value not in refs.of(field):
            what = {"team_id": ("团队", "team"), "assignee_id": ("用户", "user"),
                    "template_id": ("模板", "template")}[field]
            return _err(f"不是本工作区的{what[0]}", f"not a {what[1]} of this workspace")
        return None
    if kind in ("text", "tags"):
        limit = 40 if kind == "tags" else 200
        if not isinstance(value, str) or not value.strip():
            return _err("须为非空文字", "must be non-empty text")
        if len(value) > limit:
            return _err(f"不能超过 {limit} 字", f"longer than {limit} characters")
        return None
    if kind == "time":
        if not _finite(value) or abs(value) > 1_000_000:  # type: ignore[arg-type]
            return _err("须为数字", "must be a number")
        return None
    # custom field values: text, numbers, booleans; ordered ops: numbers or ISO dates
    if op in _ORDERED:
        if not (_finite(value) or (isinstance(value, str) and value.strip())):
            return _err("须为数字或日期", "must be a number or a date")
        return None
    if isinstance(value, str):
        if op in ("contains", "not_contains") and not value.strip():
            return _err("须为非空文字", "must be non-empty text")
        return None if len(value) <= 200 else _err("不能超过 200 字",
                                                   "longer than 200 characters")
    if isinstance(value, bool) or _finite(value):
        return None
    return _err("须为文字、数字或 true/false", "must be text, a number or true/false")


def _check_condition(i: int, cond: object, event: str, refs: Refs, errors: Errors
                     ) -> dict[str, Any] | None:
    path = f"conditions[{i}]"
    if not isinstance(cond, Mapping):
        errors[path] = _err("须为对象 {field, op, value}", "must be an object {field, op, value}")
        return None
    extra = sorted(set(cond) - {"field", "op", "value"})
    if extra:
        errors[f"{path}.{extra[0]}"] = _err("未知的键", "unknown key")
    field, op, value = cond.get("field"), cond.get("op"), cond.get("value")
    kind = _field_kind(field)
    if kind is None:
        errors[f"{path}.field"] = _err("未知的字段", "unknown field")
        return None
    assert isinstance(field, str)
    if kind == "time" and event != "time":
        errors[f"{path}.field"] = _err("只能用于定时触发器", "only for time triggers")
        return None
    if op not in OPS:
        errors[f"{path}.op"] = _err("未知的运算符", "unknown operator")
        return None
    assert isinstance(op, str)
    if op not in OPS_BY_KIND[kind] or (op in ("changed", "changed_to") and field in _UNTRACKED):
        errors[f"{path}.op"] = _err(f"字段 {field} 不支持运算符 {op}",
                                    f"{op} does not apply to {field}")
        return None
    if op in ("changed", "changed_to") and event != "update":
        errors[f"{path}.op"] = _err("只能用于更新触发器", "only for update triggers")
        return None
    vpath = f"{path}.value"
    if op in _NO_VALUE:
        if value is not None:
            errors[vpath] = _err("此运算符不需要值", "this operator takes no value")
            return None
        return {"field": field, "op": op, "value": None}
    if op in _LISTS:
        if not isinstance(value, list) or not value:
            errors[vpath] = _err("须为非空列表", "must be a non-empty list")
            return None
        if len(value) > MAX_LIST:
            errors[vpath] = _err(f"最多 {MAX_LIST} 项", f"at most {MAX_LIST} items")
            return None
        for j, item in enumerate(value):
            problem = _scalar_error(kind, field, item, refs, "is")
            if problem:
                errors[f"{vpath}[{j}]"] = problem
                return None
        return {"field": field, "op": op, "value": list(dict.fromkeys(value))}
    if value is None:
        errors[vpath] = _err("缺少值", "a value is required")
        return None
    problem = _scalar_error(kind, field, value, refs, op)
    if problem:
        errors[vpath] = problem
        return None
    return {"field": field, "op": op, "value": value.strip() if isinstance(value, str)
            and kind != "custom" else value}


def _check_text(value: object, path: str, limit: int, errors: Errors, *,
                required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        errors[path] = _err("须为非空文字", "must be non-empty text")
        return ""
    if len(value) > limit:
        errors[path] = _err(f"不能超过 {limit} 字", f"longer than {limit} characters")
        return ""
    for name in _PLACEHOLDER_RE.findall(value):
        if name not in PLACEHOLDERS:
            errors[path] = _err(f"未知的占位符 {{{name}}}（可用：{{number}} {{subject}} "
                                "{customer} {link}）",
                                f"unknown placeholder {{{name}}} (use {{number}} {{subject}} "
                                "{customer} {link})")
            return ""
    return value.strip()


_ACTION_KEYS: dict[str, frozenset[str]] = {
    "set_priority": frozenset({"value"}), "set_status": frozenset({"value"}),
    "set_team": frozenset({"team_id"}), "set_assignee": frozenset({"user_id"}),
    "add_tag": frozenset({"tag"}), "remove_tag": frozenset({"tag"}),
    "notify": frozenset({"to", "title", "body"}), "send_reply": frozenset({"body"}),
}


def _check_notify(path: str, act: Mapping[str, Any], refs: Refs, errors: Errors,
                  out: dict[str, Any]) -> None:
    to = act.get("to")
    if not isinstance(to, list) or not to:
        errors[f"{path}.to"] = _err(
            "须为非空列表：用户 id 或 assignee、team_lead、watchers、supervisors",
            "must be a non-empty list of user ids or assignee, team_lead, watchers, "
            "supervisors")
    elif len(to) > MAX_LIST:
        errors[f"{path}.to"] = _err(f"最多 {MAX_LIST} 项", f"at most {MAX_LIST} items")
    else:
        for j, who in enumerate(to):
            if who not in RECIPIENTS and (not isinstance(who, str) or who not in refs.users):
                errors[f"{path}.to[{j}]"] = _err(
                    "不是本工作区的用户，也不是 assignee、team_lead、watchers、supervisors",
                    "not a user of this workspace nor assignee, team_lead, watchers, "
                    "supervisors")
                break
        out["to"] = list(dict.fromkeys(to))
    out["title"] = _check_text(act.get("title"), f"{path}.title", MAX_TITLE, errors)
    out["body"] = _check_text(act.get("body"), f"{path}.body", MAX_BODY, errors,
                              required=False)


def _check_action(i: int, act: object, refs: Refs, errors: Errors) -> dict[str, Any] | None:
    path = f"actions[{i}]"
    if not isinstance(act, Mapping):
        errors[path] = _err("须为对象 {type, …}", "must be an object {type, …}")
        return None
    kind = act.get("type")
    if kind not in ACTION_TYPES:
        errors[f"{path}.type"] = _err(f"须为 {'、'.join(ACTION_TYPES)} 之一",
                                      f"must be one of {', '.join(ACTION_TYPES)}")
        return None
    assert isinstance(kind, str)
    allowed = _ACTION_KEYS[kind]
    extra = sorted(set(act) - allowed - {"type"})
    if extra:
        errors[f"{path}.{extra[0]}"] = _err("未知的键", "unknown key")
        return None
    before = len(errors)
    out: dict[str, Any] = {"type": kind}
    if kind == "set_priority":
        problem = _scalar_error("enum", "priority", act.get("value"), refs, "is")
        if problem:
            errors[f"{path}.value"] = problem
        out["value"] = act.get("value")
    elif kind == "set_status":
        value = act.get("value")
        if value not in STATUSES or value == "new":
            errors[f"{path}.value"] = _err("须为 open、pending、resolved、closed 之一",
                                           "must be one of open, pending, resolved, closed")
        out["value"] = value
    elif kind in ("set_team", "set_assignee"):
        key, field = ("team_id", "team_id") if kind == "set_team" else ("user_id",
                                                                         "assignee_id")
        if key not in act:
            errors[f"{path}.{key}"] = _err("缺少值（null 表示清空）",
                                           "a value is required (null clears it)")
        else:
            value = act.get(key)
            problem = None if value is None else _scalar_error("ref", field, value, refs, "is")
            if problem:
                errors[f"{path}.{key}"] = problem
            out[key] = value
    elif kind in ("add_tag", "remove_tag"):
        tag = act.get("tag")
        problem = _scalar_error("tags", "tags", tag, refs, "is")
        if problem:
            errors[f"{path}.tag"] = problem
        out["tag"] = tag.strip() if isinstance(tag, str) else tag
    elif kind == "notify":
        _check_notify(path, act, refs, errors, out)
    else:  # send_reply
        out["body"] = _check_text(act.get("body"), f"{path}.body", MAX_BODY, errors)
    return out if len(errors) == before else None


@dataclass(frozen=True, slots=True)
class Spec:
    event: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]


def check_spec(session: Session, workspace_id: str, *, event: object, conditions: object,
               actions: object, require_actions: bool = True) -> Spec:
    """The normalised spec, or ``Invalid(code="invalid_trigger", errors={path: message})``
    naming every problem."""
    errors: Errors = {}
    refs = Refs.load(session, workspace_id)
    if event not in EVENTS:
        errors["event"] = _err("须为 create、update 或 time", "must be create, update or time")
    ev = event if isinstance(event, str) and event in EVENTS else ""
    conds: list[dict[str, Any]] = []
    if conditions is None:
        conditions = []
    if not isinstance(conditions, list):
        errors["conditions"] = _err("须为列表", "must be a list")
    elif len(conditions) > MAX_CONDITIONS:
        errors["conditions"] = _err(f"最多 {MAX_CONDITIONS} 个条件",
                                    f"at most {MAX_CONDITIONS} conditions")
    elif ev:
        for i, cond in enumerate(conditions):
            ok = _check_condition(i, cond, ev, refs, errors)
            if ok is not None:
                conds.append(ok)
        if ev == "time" and not errors and not any(
                FIELD_KINDS.get(c["field"]) == "time" for c in conds):
            errors["conditions"] = _err(
                "定时触发器至少需要一个时间条件（hours_since_… 或 minutes_to_breach）",
                "a time trigger needs a time condition (hours_since_… or minutes_to_breach)")
    acts: list[dict[str, Any]] = []
    if actions is None and not require_actions:
        actions = []
    if not isinstance(actions, list):
        errors["actions"] = _err("须为列表", "must be a list")
    elif require_actions and not actions:
        errors["actions"] = _err("至少需要一个动作", "at least one action is required")
    elif len(actions) > MAX_ACTIONS:
        errors["actions"] = _err(f"最多 {MAX_ACTIONS} 个动作", f"at most {MAX_ACTIONS} actions")
    else:
        for i, act in enumerate(actions):
            ok_act = _check_action(i, act, refs, errors)
            if ok_act is not None:
                acts.append(ok_act)
    if errors:
        raise invalid(errors)
    return Spec(ev, conds, acts)


def invalid(errors: Errors) -> Invalid:
    listed = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5])
    return Invalid(f"自动化规则无效 / The trigger is invalid: {listed}", code="invalid_trigger",
                   errors=errors)


# -- evaluation (pure) ---------------------------------------------------------------------------

def ticket_facts(ticket: Ticket, *, tier: str | None, now: datetime) -> dict[str, Any]:
    """What conditions look at, for one ticket at ``now``."""
    def hours(at: datetime | None) -> float | None:
        return None if at is None else (now - at).total_seconds() / 3600

    return {
        "status": ticket.status, "priority": ticket.priority, "source": ticket.source,
        "sla_status": ticket.sla_status, "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id, "template_id": ticket.template_id,
        "tags": list(ticket.tags or []), "subject": ticket.subject or "",
        "description": ticket.description or "", "contact_tier": tier,
        "fields": dict(ticket.fields or {}),
        "hours_since_created": hours(ticket.created_at),
        "hours_since_updated": hours(ticket.updated_at),
        "hours_since_customer_reply": hours(ticket.last_customer_reply_at),
        "minutes_to_breach": (None if ticket.next_breach_at is None else
                              (ticket.next_breach_at - now).total_seconds() / 60),
    }


def _value(facts: Mapping[str, Any], field: str) -> Any:
    if field.startswith("fields."):
        return (facts.get("fields") or {}).get(field[7:])
    return facts.get(field)


def _empty(v: Any) -> bool:
    return v is None or v in ("", [], {})


def _fold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(a, expected) for a in actual)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.strip().casefold() == expected.strip().casefold()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return float(actual) == float(expected)
    if isinstance(actual, (int, float)) and isinstance(expected, str):
        try:
            return float(expected) == float(actual)
        except ValueError:
            return False
    return bool(actual == expected)


def _contains(actual: Any, needle: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(a, needle) for a in actual)
    if isinstance(actual, str) and isinstance(needle, str):
        return needle.strip().casefold() in actual.casefold()
    return False


def _compare(actual: Any, op: str, bound: Any) -> bool:
    if actual is None or isinstance(actual, bool):
        return False
    a: Any
    b: Any
    if isinstance(bound, (int, float)):
        try:
            a, b = float(actual), float(bound)
        except (TypeError, ValueError, OverflowError):
            return False
    elif isinstance(actual, str) and isinstance(bound, str):
        a, b = actual, bound
    else:
        return False
    return bool({"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op])


def _changed(field: str, changes: Mapping[str, Any]) -> tuple[bool, Any, Any]:
    """Whether ``field`` changed in ``changes`` (``{name: [old, new]}``), and old/new."""
    if field.startswith("fields."):
        pair = changes.get("fields")
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return False, None, None
        old = (pair[0] or {}).get(field[7:]) if isinstance(pair[0], dict) else None
        new = (pair[1] or {}).get(field[7:]) if isinstance(pair[1], dict) else None
        return old != new, old, new
    pair = changes.get(field)
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return False, None, None
    return pair[0] != pair[1], pair[0], pair[1]


def condition_holds(cond: Mapping[str, Any], facts: Mapping[str, Any],
                    changes: Mapping[str, Any] | None = None) -> bool:
    field, op = cond["field"], cond["op"]
    expected: Any = cond.get("value")
    if op in ("changed", "changed_to"):
        if changes is None:
            return False
        did, old, new = _changed(field, changes)
        if not did:
            return False
        if op == "changed":
            return True
        if isinstance(new, list):  # tags / multi-select: the value was added
            return _contains(new, expected) and not _contains(old or [], expected)
        return _equal(new, expected)
    actual = _value(facts, field)
    if op == "is":
        return not _empty(actual) and _equal(actual, expected)
    if op == "is_not":
        return _empty(actual) or not _equal(actual, expected)
    if op == "in":
        return not _empty(actual) and any(_equal(actual, e) for e in expected)
    if op == "not_in":
        return _empty(actual) or not any(_equal(actual, e) for e in expected)
    if op == "contains":
        return _contains(actual, expected)
    if op == "not_contains":
        return not _contains(actual, expected)
    if op in _ORDERED:
        return _compare(actual, op, expected)
    if op == "is_empty":
        return _empty(actual)
    if op == "is_not_empty":
        return not _empty(actual)
    return False  # pragma: no cover - validated at save time


def matches(conditions: Sequence[Mapping[str, Any]], facts: Mapping[str, Any],
            changes: Mapping[str, Any] | None = None, *,
            ignore_changes: bool = False) -> bool:
    """All conditions hold (an empty list matches). ``ignore_changes``: the dry run, where
    ``changed`` conditions cannot be known and are treated as met."""
    for cond in conditions:
        if ignore_changes and cond.get("op") in ("changed", "changed_to"):
            continue
        if not condition_holds(cond, facts, changes):
            return False
    return True


def render_text(template: str, values: Mapping[str, str]) -> str:
    """``{number}`` ``{subject}`` ``{customer}`` ``{link}`` filled in; other braces kept."""
    return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# -- candidates (SQL) ----------------------------------------------------------------------------

def _bounds(conditions: Sequence[Mapping[str, Any]], now: datetime) -> list[ColumnElement[bool]]:
    """SQL filters implied by the conditions (a superset of the matches: each one is checked
    exactly in Python afterwards). Time conditions become bounds on indexed columns."""
    out: list[ColumnElement[bool]] = []
    cols: dict[str, Any] = {"status": Ticket.status, "priority": Ticket.priority,
                            "source": Ticket.source, "sla_status": Ticket.sla_status,
                            "team_id": Ticket.team_id, "assignee_id": Ticket.assignee_id,
                            "template_id": Ticket.template_id}
    ago = {"hours_since_created": Ticket.created_at, "hours_since_updated": Ticket.updated_at,
           "hours_since_customer_reply": Ticket.last_customer_reply_at}
    for c in conditions:
        field, op = c["field"], c["op"]
        v: Any = c.get("value")
        if field in cols:
            col = cols[field]
            if op == "is":
                out.append(col == v)
            elif op == "in":
                out.append(col.in_(list(v)))
            elif op == "is_empty" and FIELD_KINDS[field] == "ref":
                out.append(col.is_(None))
            elif op == "is_not_empty" and FIELD_KINDS[field] == "ref":
                out.append(col.is_not(None))
        elif field in ago:
            col = ago[field]
            if op in _ORDERED:
                at = now - timedelta(hours=float(v))
                # hours since > v  <=>  at < now - v
                out.append({"gt": col < at, "gte": col <= at, "lt": col > at,
                            "lte": col >= at}[op])
            elif op == "is_empty":
                out.append(col.is_(None))
            elif op == "is_not_empty":
                out.append(col.is_not(None))
        elif field == "minutes_to_breach":
            col = Ticket.next_breach_at
            if op in _ORDERED:
                at = now + timedelta(minutes=float(v))
                out.append({"gt": col > at, "gte": col >= at, "lt": col < at,
                            "lte": col <= at}[op])
            elif op == "is_empty":
                out.append(col.is_(None))
            elif op == "is_not_empty":
                out.append(col.is_not(None))
    return out


def _tiers(session: Session, tickets: Iterable[Ticket]) -> dict[str, str | None]:
    ids = {t.contact_id for t in tickets if t.contact_id}
    if not ids:
        return {}
    out: dict[str, str | None] = {}
    for cid, attrs in session.execute(select(Contact.id, Contact.attributes).where(
            Contact.id.in_(ids))):
        tier = (attrs or {}).get("tier") if isinstance(attrs, dict) else None
        out[cid] = str(tier) if tier is not None else None
    return out


def _tier(session: Session, ticket: Ticket) -> str | None:
    return _tiers(session, [ticket]).get(ticket.contact_id or "")


def time_candidates(trigger: TicketTrigger, now: datetime, *,
                    limit: int = TIME_BATCH,
                    after: tuple[datetime, str] | None = None) -> Select[Any]:
    """Open tickets of the trigger's workspace that its time conditions may match and that it
    has not fired on yet (uses the ticket indexes and the firing's unique index), oldest
    first; ``after``: the (created_at, id) of the last ticket of the previous page."""
    fired = exists().where(TicketTriggerFiring.trigger_id == trigger.id,
                           TicketTriggerFiring.ticket_id == Ticket.id,
                           TicketTriggerFiring.key == "")
    page: list[ColumnElement[bool]] = []
    if after is not None:
        page.append(or_(Ticket.created_at > after[0],
                        and_(Ticket.created_at == after[0], Ticket.id > after[1])))
    return (select(Ticket)
            .where(Ticket.workspace_id == trigger.workspace_id,
                   Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None),
                   *_bounds(trigger.conditions, now), ~fired, *page)
            .order_by(Ticket.created_at, Ticket.id).limit(limit))


# -- actions -------------------------------------------------------------------------------------

def _recipients(session: Session, ticket: Ticket, to: Sequence[str]) -> list[str]:
    out: list[str] = []
    for who in to:
        if who == "assignee":
            if ticket.assignee_id:
                out.append(ticket.assignee_id)
        elif who == "team_lead":
            if ticket.team_id:
                lead = session.scalar(select(TicketTeamSettings.lead_id).where(
                    TicketTeamSettings.team_id == ticket.team_id))
                if lead:
                    out.append(lead)
        elif who == "watchers":
            out.extend(session.scalars(select(TicketWatcher.user_id).where(
                TicketWatcher.ticket_id == ticket.id).order_by(TicketWatcher.user_id)))
        elif who == "supervisors":
            out.extend(session.scalars(select(User.id).where(
                User.workspace_id == ticket.workspace_id, User.role == "supervisor",
                User.is_active.is_(True)).order_by(User.name, User.id)))
        else:
            out.append(who)
    return list(dict.fromkeys(out))


def placeholder_values(session: Session, ticket: Ticket) -> dict[str, str]:
    customer = ""
    if ticket.contact_id:
        contact = session.get(Contact, ticket.contact_id)
        if contact is not None:
            customer = contact.name or contact.email or contact.phone or ""
    return {"number": str(ticket.number), "subject": ticket.subject, "customer": customer,
            "link": TICKET_LINK.format(id=ticket.id)}


def apply_actions(uow: UnitOfWork, trigger: TicketTrigger, ticket: Ticket, *,
                  key: str) -> None:
    """Do the trigger's actions on the ticket, in order, as the automation."""
    from kefu.accounts.notifications import do_notify
    from kefu.tickets import actions as ticket_actions
    from kefu.tickets.schemas import TicketUpdate

    by = By("automation", trigger.id, label=trigger.name)
    for act in trigger.actions:
        kind = act["type"]
        update: TicketUpdate | None = None
        if kind == "set_priority":
            update = TicketUpdate(priority=act["value"])
        elif kind == "set_status":
            if ticket.status != act["value"]:
                update = TicketUpdate(status=act["value"])
        elif kind == "set_team":
            update = TicketUpdate(team_id=act["team_id"])
        elif kind == "set_assignee":
            update = TicketUpdate(assignee_id=act["user_id"])
        elif kind == "add_tag":
            tags = list(ticket.tags or [])
            if act["tag"] not in tags:
                update = TicketUpdate(tags=[*tags, act["tag"]])
        elif kind == "remove_tag":
            tags = list(ticket.tags or [])
            if act["tag"] in tags:
                update = TicketUpdate(tags=[t for t in tags if t != act["tag"]])
        elif kind == "notify":
            values = placeholder_values(uow.session, ticket)
            do_notify(uow, workspace_id=ticket.workspace_id,
                      user_ids=_recipients(uow.session, ticket, act["to"]),
                      kind="ticket_automation",
                      # one line: the title is the e-mail's Subject header
                      title=" ".join(render_text(act["title"], values).split()),
                      body=render_text(act.get("body") or "", values),
                      link=values["link"], email=True,
                      data={"ticket_id": ticket.id, "trigger_id": trigger.id},
                      key=f"trg:{trigger.id}:{ticket.id}:{key}")
        elif kind == "send_reply":
            values = placeholder_values(uow.session, ticket)
            ticket_actions.do_reply(uow, None, ticket.id,
                                    body=render_text(act["body"], values), public=True, by=by)
        if update is not None:
            ticket_actions.do_update_ticket(uow, None, ticket.id, update, by=by)
        uow.session.flush()


def _claim_firing(uow: UnitOfWork, trigger: TicketTrigger, ticket: Ticket, key: str) -> bool:
    """Insert the firing row; False when it exists (fired already, maybe by another worker)."""
    values = {"id": new_id(), "workspace_id": ticket.workspace_id, "trigger_id": trigger.id,
              "ticket_id": ticket.id, "key": key, "at": uow.clock.now()}
    stmt: Any
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt = postgresql.insert(TicketTriggerFiring).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(TicketTriggerFiring).values(**values).on_conflict_do_nothing()
    res = uow.session.execute(stmt)
    return bool(getattr(res, "rowcount", 0))


def fire(uow: UnitOfWork, trigger: TicketTrigger, ticket: Ticket, *, key: str) -> bool:
    """Record the firing and do the actions, in the caller's transaction. A refused action
    undoes this trigger's actions (a savepoint) and leaves an ``automation_failed`` line."""
    from kefu.tickets.timeline import record

    if not _claim_firing(uow, trigger, ticket, key):
        return False
    emitted = len(uow.events)
    try:
        with uow.session.begin_nested():
            apply_actions(uow, trigger, ticket, key=key)
    except DomainError as exc:
        del uow.events[emitted:]  # what the rolled-back savepoint announced never happened
        uow.session.refresh(ticket)
        log.info("trigger %s on ticket %s refused: %s", trigger.id, ticket.id, exc.code)
        record(uow, ticket, "automation_failed", By("automation", trigger.id,
                                                    label=trigger.name),
               data={"trigger_id": trigger.id, "error": exc.code, "message": exc.message})
    return True


def _active(session: Session, workspace_id: str | None, event: str) -> list[TicketTrigger]:
    stmt = select(TicketTrigger).where(TicketTrigger.event == event,
                                       TicketTrigger.is_active.is_(True))
    if workspace_id is not None:
        stmt = stmt.where(TicketTrigger.workspace_id == workspace_id)
    return list(session.scalars(stmt.order_by(TicketTrigger.workspace_id,
                                              TicketTrigger.position,
                                              TicketTrigger.created_at, TicketTrigger.id)))


def run_event_triggers(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    """Job ``ticket_triggers``: the create or update triggers for one ticket event."""
    event = payload.get("event")
    ticket = uow.session.get(Ticket, payload.get("ticket_id", ""))
    if ticket is None or ticket.workspace_id != payload.get("workspace_id") or \
            event not in ("create", "update"):
        return
    triggers = _active(uow.session, ticket.workspace_id, event)
    if not triggers:
        return
    changes = (payload.get("changes") or {}) if event == "update" else None
    key = "create" if event == "create" else f"u:{payload.get('event_id', '')}"
    tier = _tier(uow.session, ticket)
    for trigger in triggers:
        facts = ticket_facts(ticket, tier=tier, now=uow.clock.now())
        if matches(trigger.conditions, facts, changes):
            fire(uow, trigger, ticket, key=key)


def run_time_triggers(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    """Job ``ticket_time_triggers`` (every 60 s): each active time trigger on the open
    tickets it matches and has not fired on."""
    now = uow.clock.now()
    for trigger in _active(uow.session, None, "time"):
        # page through the candidates: the SQL bounds are a superset, so a page may hold no
        # match at all, and stopping there would starve every newer ticket for good. At most
        # TIME_BATCH firings per trigger and tick (the rest fire on the next tick).
        after: tuple[datetime, str] | None = None
        fired = 0
        while fired < TIME_BATCH:
            tickets: list[Ticket] = list(uow.session.scalars(
                time_candidates(trigger, now, limit=TIME_BATCH, after=after)))
            tiers = _tiers(uow.session, tickets)
            for ticket in tickets:
                facts = ticket_facts(ticket, tier=tiers.get(ticket.contact_id or ""), now=now)
                if fired < TIME_BATCH and matches(trigger.conditions, facts):
                    fired += fire(uow, trigger, ticket, key="")
            if len(tickets) < TIME_BATCH:
                break
            after = (tickets[-1].created_at, tickets[-1].id)


def select_created(event: Event) -> JobSpec | None:
    if not isinstance(event, TicketCreated) or event.actor_type == "automation":
        return None
    return ("ticket_triggers", {"workspace_id": event.workspace_id, "ticket_id": event.ticket_id,
                                "event": "create"}, f"ticket_triggers:create:{event.ticket_id}")


def select_changed(event: Event) -> JobSpec | None:
    """A change by anyone but the automation itself (no loops)."""
    if not isinstance(event, TicketChanged) or event.actor_type == "automation":
        return None
    event_id = new_id()
    return ("ticket_triggers", {"workspace_id": event.workspace_id, "ticket_id": event.ticket_id,
                                "event": "update", "changes": event.changes,
                                "event_id": event_id}, f"ticket_triggers:{event_id}")


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""
    jobs.register("ticket_triggers", run_event_triggers)
    jobs.register("ticket_time_triggers", run_time_triggers)
    jobs.every("ticket_time_triggers", 60)
    bus.subscribe_job("ticket.created", select_created)
    bus.subscribe_job("ticket.changed", select_changed)


# -- managing triggers (ticket.manage; audited) -------------------------------------------------

class TriggerIn(BaseModel):
    """A trigger as sent by the API / the form. Types are loose on purpose: ``check_spec``
    reports every problem with its path."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=1000)
    event: str = Field(max_length=32)
    conditions: list[Any] = Field(default_factory=list)
    actions: list[Any] = Field(default_factory=list)
    is_active: bool = True
    position: int | None = Field(default=None, ge=0, le=1_000_000)


class TriggerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=1000)
    event: str | None = Field(default=None, max_length=32)
    conditions: list[Any] | None = None
    actions: list[Any] | None = None
    is_active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)


def trigger_missing(trigger_id: str) -> NotFound:
    return NotFound("自动化规则不存在 / No such trigger", code="trigger_not_found",
                    id=trigger_id)


def access_trigger(session: Session, actor: Actor, trigger_id: str) -> TicketTrigger:
    actor.require("ticket.manage")
    trigger = session.get(TicketTrigger, trigger_id)
    if trigger is None or trigger.workspace_id != actor.workspace_id:
        raise trigger_missing(trigger_id)
    return trigger


def list_triggers(session: Session, actor: Actor) -> list[TicketTrigger]:
    actor.require("ticket.manage")
    return list(session.scalars(select(TicketTrigger).where(
        TicketTrigger.workspace_id == actor.workspace_id).order_by(
        TicketTrigger.position, TicketTrigger.created_at, TicketTrigger.id)))


def trigger_dict(t: TicketTrigger) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "event": t.event, "conditions": t.conditions,
            "actions": t.actions, "is_active": t.is_active, "position": t.position,
            "created_at": t.created_at.isoformat(), "updated_at": t.updated_at.isoformat()}


def _check_name(session: Session, workspace_id: str, name: object, errors: Errors,
                exclude: str | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        errors["name"] = _err("不能为空", "must not be empty")
        return ""
    clean = name.strip()
    if len(clean) > MAX_NAME:
        errors["name"] = _err(f"不能超过 {MAX_NAME} 字", f"longer than {MAX_NAME} characters")
        return ""
    stmt = select(TicketTrigger.id).where(TicketTrigger.workspace_id == workspace_id,
                                          TicketTrigger.name == clean)
    if exclude:
        stmt = stmt.where(TicketTrigger.id != exclude)
    if session.scalar(stmt) is not None:
        errors["name"] = _err("已有同名的自动化规则", "another trigger has this name")
    return clean


def _validated(session: Session, workspace_id: str, *, name: object, event: object,
               conditions: object, actions: object, exclude: str | None = None
               ) -> tuple[str, Spec]:
    errors: Errors = {}
    clean = _check_name(session, workspace_id, name, errors, exclude)
    try:
        spec = check_spec(session, workspace_id, event=event, conditions=conditions,
                          actions=actions)
    except Invalid as exc:
        errors.update(exc.details.get("errors", {}))
        raise invalid(errors) from None
    if errors:
        raise invalid(errors)
    return clean, spec


def do_create_trigger(uow: UnitOfWork, actor: Actor, data: TriggerIn) -> TicketTrigger:
    actor.require("ticket.manage")
    s = uow.session
    name, spec = _validated(s, actor.workspace_id, name=data.name, event=data.event,
                            conditions=data.conditions, actions=data.actions)
    position = data.position
    if position is None:
        last = s.scalar(select(func.max(TicketTrigger.position)).where(
            TicketTrigger.workspace_id == actor.workspace_id))
        position = 0 if last is None else int(last) + 1
    now = uow.clock.now()
    trigger = TicketTrigger(id=new_id(), workspace_id=actor.workspace_id, name=name,
                            event=spec.event, conditions=spec.conditions, actions=spec.actions,
                            is_active=data.is_active, position=position, created_at=now,
                            updated_at=now)
    s.add(trigger)
    s.flush()
    audit(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
          action="ticket_trigger.create", object_type="ticket_trigger", object_id=trigger.id,
          data={"name": name, "event": spec.event, "conditions": spec.conditions,
                "actions": spec.actions, "is_active": data.is_active})
    return trigger


def do_update_trigger(uow: UnitOfWork, actor: Actor, trigger_id: str,
                      data: TriggerPatch) -> TicketTrigger:
    s = uow.session
    trigger = access_trigger(s, actor, trigger_id)
    sent = data.model_fields_set
    name, spec = _validated(
        s, actor.workspace_id, name=data.name if "name" in sent else trigger.name,
        event=data.event if "event" in sent else trigger.event,
        conditions=data.conditions if "conditions" in sent else trigger.conditions,
        actions=data.actions if "actions" in sent else trigger.actions, exclude=trigger.id)
    before = trigger_dict(trigger)
    trigger.name, trigger.event = name, spec.event
    trigger.conditions, trigger.actions = spec.conditions, spec.actions
    if "is_active" in sent and data.is_active is not None:
        trigger.is_active = data.is_active
    if "position" in sent and data.position is not None:
        trigger.position = data.position
    trigger.updated_at = uow.clock.now()
    after = trigger_dict(trigger)
    changed = {k: [before[k], after[k]] for k in ("name", "event", "conditions", "actions",
                                                  "is_active", "position")
               if before[k] != after[k]}
    if changed:
        audit(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
              action="ticket_trigger.update", object_type="ticket_trigger",
              object_id=trigger.id, data={"changes": changed})
    return trigger


def do_delete_trigger(uow: UnitOfWork, actor: Actor, trigger_id: str) -> None:
    s = uow.session
    trigger = access_trigger(s, actor, trigger_id)
    audit(uow, workspace_id=actor.workspace_id, actor_id=actor.user_id,
          action="ticket_trigger.delete", object_type="ticket_trigger", object_id=trigger.id,
          data=trigger_dict(trigger))
    s.delete(trigger)
    s.flush()


# -- dry run ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Preview:
    matched: int
    scanned: int
    truncated: bool
    #: ``changed`` conditions cannot be evaluated without an event: treated as met
    ignored_conditions: list[int]
    items: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "scanned": self.scanned, "truncated": self.truncated,
                "ignored_conditions": self.ignored_conditions, "items": self.items}


def preview(session: Session, actor: Actor, *, event: object, conditions: object,
            now: datetime, limit: int = PREVIEW_LIMIT) -> Preview:
    """Which open tickets the conditions match now (nothing is changed). Looks at up to
    ``PREVIEW_SCAN`` open tickets, most recently updated first."""
    actor.require("ticket.manage")
    spec = check_spec(session, actor.workspace_id, event=event, conditions=conditions,
                      actions=None, require_actions=False)
    stmt = (select(Ticket).where(Ticket.workspace_id == actor.workspace_id,
                                 Ticket.status.in_(OPEN_STATUSES),
                                 Ticket.merged_into_id.is_(None),
                                 *_bounds(spec.conditions, now))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(PREVIEW_SCAN + 1))
    tickets = list(session.scalars(stmt))
    truncated = len(tickets) > PREVIEW_SCAN
    tickets = tickets[:PREVIEW_SCAN]
    tiers = _tiers(session, tickets)
    items: list[dict[str, Any]] = []
    matched = 0
    for t in tickets:
        facts = ticket_facts(t, tier=tiers.get(t.contact_id or ""), now=now)
        if matches(spec.conditions, facts, ignore_changes=True):
            matched += 1
            if len(items) < limit:
                items.append({"id": t.id, "number": t.number, "subject": t.subject,
                              "status": t.status, "priority": t.priority,
                              "team_id": t.team_id, "assignee_id": t.assignee_id,
                              "sla_status": t.sla_status,
                              "link": TICKET_LINK.format(id=t.id)})
    ignored = [i for i, c in enumerate(spec.conditions) if c["op"] in ("changed", "changed_to")]
    return Preview(matched=matched, scanned=len(tickets), truncated=truncated,
                   ignored_conditions=ignored, items=items)

