"""Custom fields of ticket templates: the field spec and value validation.

A template's ``fields`` is a list of specs::

    {"key": "order_no", "label": "订单号", "type": "text", "required": True,
     "options": [], "help": "", "max_length": 2000, "min": None, "max": None}

``validate_spec`` checks and normalises such a list (an admin saving a template);
``validate_values`` checks a ticket's values against it (every bad field named at once).
Both are pure, except that attachment ids are looked up when a session is given."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from typing import TYPE_CHECKING, Any

from kefu.core.errors import Invalid
from kefu.tickets.models import FIELD_TYPES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_MAX_LENGTH = 2000
MAX_FIELDS = 50
MAX_OPTIONS = 200
MAX_ATTACHMENTS = 10
SELECT_TYPES = ("select", "multiselect")

# messages: "中文 / English"
M_REQUIRED = "必填 / Required"
M_UNKNOWN = "模板中没有此字段 / Not a field of this template"
M_TEXT = "应为文本 / Must be text"
M_NUMBER = "应为数字 / Must be a number"
M_DATE = "应为日期 YYYY-MM-DD / Must be a date (YYYY-MM-DD)"
M_SELECT = "不是可选项之一 / Not one of the options"
M_MULTI = "应为可选项的列表 / Must be a list of options"
M_ATTACH = "应为附件编号的列表 / Must be a list of attachment ids"
M_ATTACH_MISSING = "附件不存在 / Attachment not found"


def _too_long(n: int) -> str:
    return f"不能超过 {n} 个字符 / At most {n} characters"


def _below(n: float) -> str:
    return f"不能小于 {_fmt(n)} / Must be at least {_fmt(n)}"


def _above(n: float) -> str:
    return f"不能大于 {_fmt(n)} / Must be at most {_fmt(n)}"


def _fmt(n: float) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _is_number(v: Any) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float (JSON allows any length)
        return False


# ---------------------------------------------------------------- the spec (admin side)

def _check_field(p: str, raw: Any, seen: set[str],
                 errors: dict[str, str]) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        errors[p] = "应为对象 / Must be an object"
        return None
    unknown = set(raw) - {"key", "label", "type", "required", "options", "help",
                          "max_length", "min", "max"}
    if unknown:
        errors[p] = f"未知属性 / Unknown properties: {', '.join(sorted(unknown))}"
    key = raw.get("key")
    key = key.strip() if isinstance(key, str) else key
    if not isinstance(key, str) or not KEY_RE.match(key):
        errors[f"{p}.key"] = ("应以小写字母开头，只含小写字母、数字和下划线，最长 40 / "
                              "Must start with a-z and hold only a-z, 0-9 and _ "
                              "(at most 40)")
    elif key in seen:
        errors[f"{p}.key"] = f"字段键重复 / Duplicate key: {key}"
    else:
        seen.add(key)
    label = raw.get("label")
    label = label.strip() if isinstance(label, str) else ""
    if not label:
        errors[f"{p}.label"] = "请填写名称 / A label is required"
    elif len(label) > 120:
        errors[f"{p}.label"] = _too_long(120)
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        errors[f"{p}.type"] = (f"类型应为 {' / '.join(FIELD_TYPES)} 之一 / "
                               f"Type must be one of {', '.join(FIELD_TYPES)}")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        errors[f"{p}.required"] = "应为 true/false / Must be true or false"
    help_ = raw.get("help", "") or ""
    if not isinstance(help_, str) or len(help_) > 500:
        errors[f"{p}.help"] = _too_long(500)
        help_ = ""
    spec: dict[str, Any] = {"key": key, "label": label, "type": ftype,
                            "required": bool(required), "help": help_.strip()}
    _check_typed(p, raw, spec, errors)
    return spec


def _check_typed(p: str, raw: dict[str, Any], spec: dict[str, Any],
                 errors: dict[str, str]) -> None:
    """The type-specific parts of a field spec (options, max_length, min/max)."""
    ftype = spec["type"]
    options = raw.get("options") or []
    if ftype in SELECT_TYPES:
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            errors[f"{p}.options"] = "应为文本列表 / Must be a list of text"
        else:
            opts = [o.strip() for o in options if o.strip()]
            if not opts:
                errors[f"{p}.options"] = "至少一个选项 / At least one option"
            elif len(set(opts)) != len(opts):
                dup = sorted({o for o in opts if opts.count(o) > 1})
                errors[f"{p}.options"] = f"选项重复 / Duplicate options: {', '.join(dup)}"
            elif len(opts) > MAX_OPTIONS:
                errors[f"{p}.options"] = (f"最多 {MAX_OPTIONS} 个选项 / "
                                          f"At most {MAX_OPTIONS} options")
            elif any(len(o) > 120 for o in opts):
                errors[f"{p}.options"] = _too_long(120)
            spec["options"] = opts
    else:
        spec["options"] = []
    if ftype == "text":
        ml = raw.get("max_length")
        if ml is None:
            ml = DEFAULT_MAX_LENGTH
        if not isinstance(ml, int) or isinstance(ml, bool) or not 1 <= ml <= 20_000:
            errors[f"{p}.max_length"] = ("应为 1 到 20000 的整数 / "
                                         "Must be a whole number from 1 to 20000")
        spec["max_length"] = ml
    if ftype == "number":
        for bound in ("min", "max"):
            b = raw.get(bound)
            if b is not None and not _is_number(b):
                errors[f"{p}.{bound}"] = M_NUMBER
            spec[bound] = b
        if (_is_number(spec["min"]) and _is_number(spec["max"])
                and spec["min"] > spec["max"]):
            errors[f"{p}.max"] = "最大值小于最小值 / Max is below min"


def validate_spec(fields: Any) -> list[dict[str, Any]]:
    """Check a template's field list; return it normalised (every key present, stripped).
    Raises ``Invalid(code="invalid_template", errors={path: message})`` naming each problem
    (``path`` like ``fields[2].options``)."""
    errors: dict[str, str] = {}
    if not isinstance(fields, list):
        raise Invalid("字段定义应为列表 / Fields must be a list", code="invalid_template",
                      errors={"fields": "应为列表 / Must be a list"})
    if len(fields) > MAX_FIELDS:
        errors["fields"] = f"最多 {MAX_FIELDS} 个字段 / At most {MAX_FIELDS} fields"
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(fields):
        spec = _check_field(f"fields[{i}]", raw, seen, errors)
        if spec is not None:
            out.append(spec)
    if errors:
        raise Invalid("模板字段有误 / The template's fields are invalid",
                      code="invalid_template", errors=errors)
    return out


# ---------------------------------------------------------------- values (ticket side)

def _number(v: Any) -> int | float | None:
    if _is_number(v):
        return v  # type: ignore[no-any-return]
    if isinstance(v, str):
        s = unicodedata.normalize("NFKC", v).strip().replace(",", "")
        if not s:
            return None
        try:
            if re.fullmatch(r"[+-]?\d+", s):
                return int(s)
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _one(spec: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """Normalise one present, non-empty value; (normalised, error message or None)."""
    ftype = spec.get("type")
    if ftype == "text":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None, M_TEXT
        value = value.strip()
        ml = spec.get("max_length") or DEFAULT_MAX_LENGTH
        if len(value) > ml:
            return None, _too_long(ml)
        return value, None
    if ftype == "number":
        n = _number(value)
        if n is None:
            return None, M_NUMBER
        lo, hi = spec.get("min"), spec.get("max")
        if lo is not None and _is_number(lo) and n < lo:
            return None, _below(lo)
        if hi is not None and _is_number(hi) and n > hi:
            return None, _above(hi)
        return n, None
    if ftype == "date":
        if not isinstance(value, str):
            return None, M_DATE
        s = unicodedata.normalize("NFKC", value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            return None, M_DATE
        try:
            return date.fromisoformat(s).isoformat(), None
        except ValueError:
            return None, M_DATE
    if ftype == "select":
        if not isinstance(value, str) or value.strip() not in (spec.get("options") or []):
            return None, M_SELECT
        return value.strip(), None
    if ftype == "multiselect":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, M_MULTI
        opts = spec.get("options") or []
        picked = list(dict.fromkeys(v.strip() for v in value if v.strip()))
        if any(v not in opts for v in picked):
            return None, M_SELECT
        return picked, None
    if ftype == "attachment":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return None, M_ATTACH
        ids = list(dict.fromkeys(value))
        if len(ids) > MAX_ATTACHMENTS:
            return None, f"最多 {MAX_ATTACHMENTS} 个附件 / At most {MAX_ATTACHMENTS} files"
        return ids, None
    return None, "未知字段类型 / Unknown field type"


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate_values(spec: list[dict[str, Any]], values: dict[str, Any] | None, *,
                    partial: bool = False, session: Session | None = None,
                    workspace_id: str | None = None) -> dict[str, Any]:
    """Check ``values`` against a template's field ``spec``; return them normalised.

    Raises ``Invalid(code="invalid_fields", fields={key: message})`` naming every bad field.
    ``partial``: an update; required fields not present are not reported, and a key sent as
    null (or empty) is kept as None so the caller can clear it. Empty optional values are
    dropped otherwise. Attachment ids are checked to exist in ``workspace_id`` when a
    ``session`` is given."""
    values = values or {}
    if not isinstance(values, dict):
        raise Invalid("字段值应为对象 / Field values must be an object", code="invalid_fields",
                      fields={"fields": "应为对象 / Must be an object"})
    by_key = {s["key"]: s for s in spec if isinstance(s, dict) and "key" in s}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in values:
        if key not in by_key:
            errors[str(key)] = M_UNKNOWN
    attachment_ids: dict[str, list[str]] = {}
    for key, fs in by_key.items():
        if key not in values:
            if fs.get("required") and not partial:
                errors[key] = M_REQUIRED
            continue
        value = values[key]
        if _empty(value):
            if fs.get("required"):
                errors[key] = M_REQUIRED
            elif partial:
                out[key] = None
            continue
        norm, err = _one(fs, value)
        if err:
            errors[key] = err
            continue
        out[key] = norm
        if fs.get("type") == "attachment":
            attachment_ids[key] = norm
    if attachment_ids and session is not None:
        from sqlalchemy import select

        from kefu.tickets.models import TicketFile

        wanted = {i for ids in attachment_ids.values() for i in ids}
        stmt = select(TicketFile.id).where(TicketFile.id.in_(wanted))
        if workspace_id is not None:
            stmt = stmt.where(TicketFile.workspace_id == workspace_id)
        found = set(session.scalars(stmt))
        for key, ids in attachment_ids.items():
            if any(i not in found for i in ids):
                errors[key] = M_ATTACH_MISSING
    if errors:
        raise Invalid("字段值有误 / Some field values are invalid", code="invalid_fields",
                      fields=errors)
    return out


def display_value(spec: dict[str, Any] | None, value: Any) -> str:
    """A stored value as text (a removed field's value stays readable: spec None)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def spec_for_display(spec: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{key, label, type, value, text, removed}`` for a ticket page: the template's
    fields in order, then values of fields no longer in the template (label = key)."""
    rows: list[dict[str, Any]] = []
    known = set()
    for fs in spec:
        key = fs.get("key")
        known.add(key)
        if key in values:
            rows.append({"key": key, "label": fs.get("label") or key, "type": fs.get("type"),
                         "value": values[key], "text": display_value(fs, values[key]),
                         "removed": False})
    for key, value in values.items():
        if key not in known:
            rows.append({"key": key, "label": key, "type": None, "value": value,
                         "text": display_value(None, value), "removed": True})
    return rows
