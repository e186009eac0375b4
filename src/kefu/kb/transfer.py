"""Knowledge-base import and export as CSV or XLSX (one row per FAQ entry).

The columns, the separators, the encodings and the error codes are documented in
``docs/subsystems/kb-transfer.md``. In short:

* **Export** writes a header row (``question 标准问题``: English key, then the Chinese label)
  and one row per entry, grouped by category path then question, so two exports of the same
  content are byte-identical apart from the ids. CSV is UTF-8 with a BOM (Excel opens it).
* **Import** reads the same shape back. Headers may be the English key, the Chinese label or
  both. A row whose ``id`` is an entry of the actor's workspace updates that entry (an
  unchanged row records no version); a row with an empty, unknown or foreign ``id`` creates a
  new entry, and the file's ``related`` ids that point at such rows are mapped to the new ids.
  Every row is written through :mod:`kefu.kb.actions` (validation, versions, audit, events)
  inside its own savepoint. A file with any bad row changes nothing unless ``partial=True``.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Workspace
from kefu.core.errors import DomainError, Invalid
from kefu.core.uow import UnitOfWork
from kefu.kb.access import access_entry
from kefu.kb.actions import do_create_entry, do_update_entry, ensure_category_path
from kefu.kb.models import FaqEntry
from kefu.kb.queries import category_tree
from kefu.kb.schemas import PHRASING_SEPARATOR, EntryCreate, EntryUpdate

Format = Literal["csv", "xlsx"]

MAX_FILE_BYTES = 10 * 1024 * 1024
#: an XLSX is a zip: refuse archives that would inflate past this (zip bombs)
MAX_XLSX_UNPACKED = 200 * 1024 * 1024
MAX_ROWS = 100_000

#: (key, Chinese label) in export order
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "编号"),
    ("question", "标准问题"),
    ("phrasings", "相似问法"),
    ("answer", "答案"),
    ("answer_web", "网页答案"),
    ("answer_wechat", "微信答案"),
    ("answer_email", "邮件答案"),
    ("category", "分类"),
    ("tags", "标签"),
    ("keywords", "关键词"),
    ("related", "关联问题"),
    ("status", "状态"),
    ("valid_from", "生效时间"),
    ("valid_until", "失效时间"),
)
LABELS = dict(COLUMNS)
REQUIRED = ("question", "answer")
CHANNEL_COLUMNS = {"answer_web": "web", "answer_wechat": "wechat", "answer_email": "email"}
LIST_SEPARATOR = ","
STATUS_WORDS = {
    "draft": "draft", "草稿": "draft",
    "published": "published", "publish": "published", "已发布": "published",
    "发布": "published", "上线": "published",
    "archived": "archived", "archive": "archived", "已归档": "archived", "归档": "archived",
}
#: cells starting with these are formulas to Excel: CSV export prefixes a ' (import strips it)
_FORMULA_START = ("=", "+", "-", "@")
_SPACES = re.compile(r"\s+")
_LOOSE_DATE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row: the file line (1 = the header), the column key, a code and a message."""

    line: int
    field: str | None
    code: str
    message: str


@dataclass(slots=True)
class ImportReport:
    """What an import did. ``created``/``updated``/``unchanged`` count the rows that were
    valid; ``applied`` says whether their changes were kept (False after a dry run, or when
    any row failed without ``partial``)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False
    dry_run: bool = False
    partial: bool = False
    encoding: str = ""
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# -- export -------------------------------------------------------------------------------

def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _workspace_zone(session: Session, workspace_id: str) -> tzinfo:
    ws = session.get(Workspace, workspace_id)
    return _zone(ws.timezone if ws is not None else None)


def _iso(value: datetime | None, zone: tzinfo) -> str:
    return value.astimezone(zone).isoformat() if value is not None else ""


def _export_rows(session: Session, actor: Actor) -> list[list[str]]:
    paths = {c.id: c.path for c in category_tree(session, actor)}
    zone = _workspace_zone(session, actor.workspace_id)
    entries = list(session.scalars(select(FaqEntry).where(
        FaqEntry.workspace_id == actor.workspace_id)))
    rows: list[tuple[tuple[str, str, str, str], list[str]]] = []
    for e in entries:
        path = paths.get(e.category_id, "") if e.category_id else ""
        row = [
            e.id, e.question, PHRASING_SEPARATOR.join(e.phrasings), e.answer,
            e.channel_answers.get("web", ""), e.channel_answers.get("wechat", ""),
            e.channel_answers.get("email", ""), path, LIST_SEPARATOR.join(e.tags),
            LIST_SEPARATOR.join(e.keywords), PHRASING_SEPARATOR.join(e.related_ids),
            e.status, _iso(e.valid_from, zone), _iso(e.valid_until, zone),
        ]
        rows.append(((path, e.question, e.answer, e.id), row))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def _header() -> list[str]:
    return [key if key == "id" else f"{key} {label}" for key, label in COLUMNS]


def _csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_entries(session: Session, actor: Actor, fmt: Format) -> bytes:
    """Every entry of the actor's workspace as a CSV (UTF-8 with BOM) or XLSX file."""
    actor.require("kb.read")
    rows = _export_rows(session, actor)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(_header())
        writer.writerows([_csv_safe(v) for v in row] for row in rows)
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        return _xlsx(rows)
    raise Invalid("只支持 csv 或 xlsx / The format must be csv or xlsx",
                  code="unsupported_format", format=str(fmt))


def _openpyxl() -> Any:
    """openpyxl, loaded on first use (it has no type hints; an XLSX is rare next to CSV)."""
    module = importlib.import_module("openpyxl")
    importlib.import_module("openpyxl.cell")
    importlib.import_module("openpyxl.styles")
    return module


def _xlsx(rows: list[list[str]]) -> bytes:
    openpyxl = _openpyxl()
    WriteOnlyCell = openpyxl.cell.WriteOnlyCell  # noqa: N806 - a class
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("FAQ")
    ws.freeze_panes = "A2"
    bold = openpyxl.styles.Font(bold=True)
    head = []
    for title in _header():
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(ws, value=_ILLEGAL_XLSX.sub("", value) or None)
            cell.data_type = "s"  # text, even when it starts with "=" (never a formula)
            cells.append(cell)
        ws.append(cells)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# -- reading files ------------------------------------------------------------------------

Cell = str | datetime | date


@dataclass(slots=True)
class _Row:
    line: int
    cells: dict[str, Cell]


@dataclass(slots=True)
class _Table:
    columns: set[str]
    rows: list[_Row]
    encoding: str
    ignored: list[str]


def _header_key(title: str) -> str | None:
    text = _SPACES.sub(" ", str(title).replace("\ufeff", "")).strip().casefold()
    text = text.replace("（", "(").replace("）", ")")
    if not text:
        return None
    for key, label in COLUMNS:
        if text in (key, label, f"{key} {label}", f"{label} {key}", f"{label}({key})",
                    f"{key}({label})"):
            return key
    for part in re.split(r"[ ()/]+", text):
        for key, label in COLUMNS:
            if part in (key, label):
                return key
    return None


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _bad_encoding(line: int) -> Invalid:
    return Invalid(f"第 {line} 行有无法识别的字符，请另存为 UTF-8 或 GBK 编码的 CSV / Line "
                   f"{line} has bytes that are neither UTF-8 nor GBK; save the file as UTF-8 "
                   "CSV", code="bad_encoding", line=line)


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (a
    superset of GBK, what Excel on Chinese Windows saves). A file that is mostly valid UTF-8
    with a few broken bytes is refused, naming the first bad line, rather than read as
    GB18030 mojibake."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"),
                     (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as exc:
                raise _bad_encoding(_line_of(data, exc.start)) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 0x7F) - bad
    if good > 3 * bad:
        raise _bad_encoding(_line_of(data, first_bad))
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        # neither fits: the encoding that read further is the likelier one
        raise _bad_encoding(_line_of(data, max(first_bad, exc.start))) from None


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _columns(header: Sequence[Any]) -> tuple[list[str | None], list[str]]:
    keys: list[str | None] = []
    ignored: list[str] = []
    seen: set[str] = set()
    for raw in header:
        title = "" if raw is None else str(raw)
        key = _header_key(title)
        if key is None:
            if title.strip():
                ignored.append(title.strip())
        elif key in seen:
            raise Invalid(f"表头“{title.strip()}”重复 / Column {title.strip()!r} appears twice",
                          code="duplicate_column", column=key)
        else:
            seen.add(key)
        keys.append(key)
    missing = [k for k in REQUIRED if k not in seen]
    if missing:
        names = "、".join(f"{k} {LABELS[k]}" for k in missing)
        raise Invalid(f"缺少必需的列：{names} / Missing required column(s): "
                      f"{', '.join(missing)}", code="missing_column", columns=missing)
    return keys, ignored


def _table(records: Iterator[tuple[int, Sequence[Any]]], encoding: str) -> _Table:
    header: list[str | None] | None = None
    ignored: list[str] = []
    rows: list[_Row] = []
    for line, values in records:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue  # blank lines (Excel leaves some at the end)
        if header is None:
            header, ignored = _columns(values)
            continue
        if len(rows) >= MAX_ROWS:
            raise Invalid(f"一次最多导入 {MAX_ROWS} 行 / At most {MAX_ROWS} rows per file",
                          code="too_many_rows", max_rows=MAX_ROWS)
        cells: dict[str, Cell] = {}
        for key, value in zip(header, values, strict=False):
            if key is not None:
                cells[key] = _cell(value)
        rows.append(_Row(line, cells))
    if header is None:
        raise Invalid("文件是空的 / The file is empty", code="empty_file")
    return _Table({k for k in header if k}, rows, encoding, ignored)


def _cell(value: Any) -> Cell:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _read_csv(data: bytes) -> _Table:
    text, encoding = decode_text(data)
    if "\x00" in text:
        raise Invalid("这不是文本格式的 CSV 文件 / This is not a text CSV file",
                      code="bad_file")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first))

    def records() -> Iterator[tuple[int, Sequence[Any]]]:
        start = 1
        try:
            for values in reader:
                yield start, values
                start = reader.line_num + 1
        except csv.Error as exc:
            raise Invalid(f"第 {start} 行 CSV 格式错误：{exc} / Line {start}: broken CSV "
                          f"({exc})", code="bad_csv", line=start) from None

    return _table(records(), encoding)


def _read_xlsx(data: bytes) -> _Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile:
        raise _bad_file() from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise Invalid("XLSX 解压后太大 / The XLSX file unpacks to too much data",
                      code="file_too_large", max_unpacked_bytes=MAX_XLSX_UNPACKED)
    try:
        wb = _openpyxl().load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged workbook
        raise _bad_file() from None
    try:
        if not wb.worksheets:
            raise Invalid("文件是空的 / The file is empty", code="empty_file")
        sheet = wb.worksheets[0]
        records = ((i, list(values))
                   for i, values in enumerate(sheet.iter_rows(values_only=True), start=1))
        return _table(records, "xlsx")
    finally:
        wb.close()


def _bad_file() -> Invalid:
    return Invalid("无法读取该 XLSX 文件（文件损坏或不是 Excel 工作簿） / Cannot read this XLSX "
                   "file (damaged, or not an Excel workbook)", code="bad_file")


def read_table(data: bytes, filename: str) -> _Table:
    """Parse an uploaded file (type from the name's suffix, checked against the content)."""
    if len(data) > MAX_FILE_BYTES:
        raise Invalid(f"文件不能超过 {MAX_FILE_BYTES // (1024 * 1024)} MB / The file is larger "
                      f"than {MAX_FILE_BYTES // (1024 * 1024)} MB", code="file_too_large",
                      max_bytes=MAX_FILE_BYTES)
    suffix = filename.rsplit(".", 1)[-1].casefold() if "." in filename else ""
    is_zip = data.startswith(b"PK\x03\x04")
    if suffix == "xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Invalid("不支持旧版 .xls，请另存为 .xlsx 或 CSV / Old .xls files are not "
                      "supported; save as .xlsx or CSV", code="unsupported_format")
    if suffix not in ("csv", "txt", "tsv", "xlsx", ""):
        raise Invalid("只支持 CSV 或 XLSX 文件 / Only CSV and XLSX files can be imported",
                      code="unsupported_format", filename=filename)
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise Invalid("文件是空的 / The file is empty", code="empty_file")
    if suffix == "xlsx" or is_zip:
        if not is_zip:
            raise _bad_file()
        return _read_xlsx(data)
    return _read_csv(data)


# -- values of one row --------------------------------------------------------------------

def _text(cells: dict[str, Cell], key: str) -> str:
    value = cells.get(key, "")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value[:1] == "'" and value[1:2] in _FORMULA_START:
        value = value[1:]
    return value.strip()


def _split(text: str, separators: str) -> list[str]:
    parts = re.split(separators, text) if text else []
    return [p.strip() for p in parts if p.strip()]


def _label(key: str) -> str:
    return f"{LABELS.get(key, key)}（{key}）"


def parse_datetime(value: Cell, zone: tzinfo) -> datetime | None:
    """An ISO-8601 time (``2026-11-11T10:00:00+08:00``), also ``2026/11/11 10:00``, a date
    alone, or a spreadsheet datetime. Times without an offset are in ``zone``."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone)
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        m = _LOOSE_DATE.match(text)
        if m is None:
            raise ValueError(text) from None
        y, mo, d, h, mi, s, frac, off = m.groups()
        off = "" if off is None else ("+00:00" if off == "Z" else off)
        parsed = datetime.fromisoformat(
            f"{int(y):04d}-{int(mo):02d}-{int(d):02d}T{int(h or 0):02d}:{int(mi or 0):02d}:"
            f"{int(s or 0):02d}{'.' + frac.ljust(6, '0') if frac else ''}{off}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


@dataclass(slots=True)
class _Parsed:
    values: dict[str, Any]
    category: str | None  # a path, "" to clear, None when the column is absent
    related: list[str] | None


def _parse_row(row: _Row, columns: set[str], zone: tzinfo, *, creating: bool
               ) -> tuple[_Parsed | None, list[RowError]]:
    """Cells → values for EntryCreate / EntryUpdate (only the columns in the file)."""
    c = row.cells
    errors: list[RowError] = []
    values: dict[str, Any] = {}

    def err(key: str, code: str, zh: str, en: str) -> None:
        errors.append(RowError(row.line, key, code, f"“{_label(key)}”{zh} / {key}: {en}"))

    question = _text(c, "question")
    if not question:
        err("question", "required", "不能为空", "required")
    values["question"] = question
    answer = _text(c, "answer")
    if not answer:
        err("answer", "required", "不能为空", "required")
    values["answer"] = answer
    if "phrasings" in columns:
        values["phrasings"] = _split(_text(c, "phrasings"), r"\|\||\n")
    channels = {ch: _text(c, key) for key, ch in CHANNEL_COLUMNS.items() if key in columns}
    if channels:
        values["channel_answers"] = channels
    for key in ("tags", "keywords"):
        if key in columns:
            values[key] = _split(_text(c, key), r"[,，]")
    if "status" in columns:
        raw = _text(c, "status")
        status = STATUS_WORDS.get(raw.casefold())
        if raw and status is None:
            err("status", "bad_status", "只能是 draft/published/archived（草稿/已发布/已归档）",
                "must be draft, published or archived")
        elif status is not None:
            values["status"] = status
        elif creating:
            values["status"] = "draft"
    for key in ("valid_from", "valid_until"):
        if key in columns:
            try:
                values[key] = parse_datetime(c.get(key, ""), zone)
            except (ValueError, OverflowError):
                err(key, "bad_datetime", "不是有效的时间（例：2026-11-11T10:00:00+08:00）",
                    "not a valid time (e.g. 2026-11-11T10:00:00+08:00)")
    category = _text(c, "category") if "category" in columns else None
    related = _split(_text(c, "related"), r"\|\||[,\s]+") if "related" in columns else None
    if errors:
        return None, errors
    return _Parsed(values, category, related), []


_ACTION_FIELDS = {"category_id": "category", "related_ids": "related", "name": "category"}


def _column_of(field_name: str | None) -> str | None:
    if not field_name:
        return None
    base = re.split(r"[\[.]", field_name, maxsplit=1)[0]
    if base == "channel_answers" and "." in field_name:
        return f"answer_{field_name.split('.', 1)[1]}"
    return _ACTION_FIELDS.get(base, base)


def _domain_error(line: int, exc: DomainError) -> RowError:
    return RowError(line, _column_of(exc.details.get("field")), exc.code, exc.message)


def _validation_errors(line: int, exc: ValidationError) -> list[RowError]:
    out = []
    for e in exc.errors():
        key = _column_of(str(e["loc"][0])) if e["loc"] else None
        code = "too_long" if e["type"] in ("string_too_long", "too_long") else "invalid"
        out.append(RowError(line, key, code,
                            f"“{_label(key or '?')}”不符合要求 / {key}: {e['msg']}"))
    return out


# -- import -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Pending:
    line: int
    entry_id: str
    related: list[str]


class _Importer:
    def __init__(self, uow: UnitOfWork, actor: Actor, table: _Table, report: ImportReport
                 ) -> None:
        self.uow = uow
        self.actor = actor
        self.table = table
        self.report = report
        self.zone = _workspace_zone(uow.session, actor.workspace_id)
        self.existing: set[str] = set(uow.session.scalars(select(FaqEntry.id).where(
            FaqEntry.workspace_id == actor.workspace_id)))
        #: file id → id in this workspace, for rows done so far (updates map to themselves)
        self.mapped: dict[str, str] = {}
        #: file ids of rows that will create entries, with their line
        self.to_create: dict[str, int] = {}
        self.failed_lines: set[int] = set()
        self.pending: list[_Pending] = []

    def run(self) -> None:
        seen: dict[str, int] = {}
        duplicates: set[int] = set()
        for row in self.table.rows:
            fid = _text(row.cells, "id")
            if not fid:
                continue
            if fid in seen:
                duplicates.add(row.line)
                self.report.errors.append(RowError(
                    row.line, "id", "duplicate_id",
                    f"编号 {fid} 与第 {seen[fid]} 行重复 / id {fid} repeats line {seen[fid]}"))
                continue
            seen[fid] = row.line
            if fid in self.existing:
                self.mapped[fid] = fid
            else:
                self.to_create[fid] = row.line
        for row in self.table.rows:
            if row.line not in duplicates:
                self._savepoint(row.line, partial(self._row, row))
        for p in self.pending:
            self._savepoint(p.line, partial(self._link, p))

    def _savepoint(self, line: int, work: Callable[[], list[RowError]]) -> None:
        events = len(self.uow.events)
        sp = self.uow.session.begin_nested()
        try:
            errors: list[RowError] = work()
        except DomainError as exc:
            errors = [_domain_error(line, exc)]
        except ValidationError as exc:
            errors = _validation_errors(line, exc)
        if errors:
            sp.rollback()
            del self.uow.events[events:]  # the rolled-back row announces nothing
            self.report.errors.extend(errors)
            self.failed_lines.add(line)
        else:
            sp.commit()

    def _related_now(self, line: int, ids: list[str]) -> tuple[list[str] | None, list[RowError]]:
        """The row's related ids in this workspace, or None when some point at rows not
        created yet (linked after all rows are in)."""
        out: list[str] = []
        later = False
        for rid in ids:
            if rid in self.mapped:
                out.append(self.mapped[rid])
            elif rid in self.to_create:
                later = True
            elif rid in self.existing:
                out.append(rid)
            else:
                return None, [RowError(line, "related", "related_not_found",
                                       f"关联问题 {rid} 不存在 / Related entry {rid} not found")]
        return (None if later else out), []

    def _row(self, row: _Row) -> list[RowError]:
        fid = _text(row.cells, "id")
        target = fid if fid in self.existing else None
        parsed, errors = _parse_row(row, self.table.columns, self.zone, creating=target is None)
        if parsed is None:
            return errors
        values = parsed.values
        related: list[str] | None = None
        if parsed.related is not None:
            related, errors = self._related_now(row.line, parsed.related)
            if errors:
                return errors
        if parsed.category is not None:
            values["category_id"] = (ensure_category_path(self.uow, self.actor, parsed.category)
                                     if parsed.category else None)
        if related is not None:
            values["related_ids"] = related
        uow, actor = self.uow, self.actor
        if target is None:
            if "channel_answers" in values:
                values["channel_answers"] = {k: v for k, v in values["channel_answers"].items()
                                             if v}
            entry = do_create_entry(uow, actor, EntryCreate(**values),
                                    note="导入 / imported")
            self.report.created += 1
        else:
            current = access_entry(actor, target, session=uow.session)
            before = current.version
            if "channel_answers" in values:
                merged = {**current.channel_answers, **values["channel_answers"]}
                values["channel_answers"] = {k: v for k, v in merged.items() if v}
            entry = do_update_entry(uow, actor, target, EntryUpdate(
                **values, note="导入 / imported"))
            if entry.version == before:
                self.report.unchanged += 1
            else:
                self.report.updated += 1
        if fid:
            self.mapped[fid] = entry.id
        if parsed.related is not None and related is None:
            self.pending.append(_Pending(row.line, entry.id, parsed.related))
        return []

    def _link(self, p: _Pending) -> list[RowError]:
        ids: list[str] = []
        for rid in p.related:
            if rid in self.mapped:
                ids.append(self.mapped[rid])
            elif rid in self.existing:
                ids.append(rid)
            else:
                other = self.to_create.get(rid)
                return [RowError(p.line, "related", "related_failed",
                                 f"关联问题 {rid}（第 {other} 行）未能导入 / Related entry {rid} "
                                 f"(line {other}) was not imported")]
        do_update_entry(self.uow, self.actor, p.entry_id, EntryUpdate(
            related_ids=ids, note="导入：关联问题 / imported: related questions"))
        return []


def import_entries(uow: UnitOfWork, actor: Actor, data: bytes, *, filename: str,
                   partial: bool = False, dry_run: bool = False) -> ImportReport:
    """Import a CSV or XLSX file into the actor's workspace through the kb actions.

    File-level problems (empty file, wrong type, too large, bad encoding, missing column)
    raise :class:`Invalid`. Row problems are collected in ``report.errors`` with their line.
    With any row error and ``partial=False`` nothing is kept; with ``partial=True`` the
    valid rows are kept. ``dry_run=True`` validates everything and keeps nothing. The caller
    owns the transaction (this never commits); it only uses savepoints."""
    actor.require("kb.write")
    table = read_table(data, filename)
    report = ImportReport(rows=len(table.rows), dry_run=dry_run, partial=partial,
                          encoding=table.encoding, ignored_columns=table.ignored)
    events = len(uow.events)
    outer = uow.session.begin_nested()
    try:
        _Importer(uow, actor, table, report).run()
    except BaseException:
        outer.rollback()
        del uow.events[events:]
        raise
    report.errors.sort(key=lambda e: e.line)
    keep = not dry_run and (partial or not report.errors)
    if keep:
        outer.commit()
    else:
        outer.rollback()
        del uow.events[events:]
    report.applied = keep
    return report
