"""Knowledge-base import/export (CSV + XLSX) through the real actions and database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from kefu.accounts.actor import Actor
from kefu.core.errors import Invalid, PermissionDenied
from kefu.core.uow import UowFactory
from kefu.kb import actions
from kefu.kb.models import Category, FaqEntry, FaqVersion
from kefu.kb.schemas import EntryCreate
from kefu.kb.transfer import (
    COLUMNS,
    MAX_FILE_BYTES,
    ImportReport,
    decode_text,
    export_entries,
    import_entries,
)
from tests.conftest import World

HEADER = "id,question 标准问题,phrasings 相似问法,answer 答案,category 分类,status 状态"


def seed(uows: UowFactory, actor: Actor) -> dict[str, str]:
    """Three entries: categories, phrasings, channel answers, tags, related, validity."""
    with uows() as uow:
        refund_cat = actions.ensure_category_path(uow, actor, "售后/退款")
        ship_cat = actions.ensure_category_path(uow, actor, "物流")
        ship = actions.do_create_entry(uow, actor, EntryCreate(
            question="什么时候发货", phrasings=["多久发货", "快递什么时候到"],
            answer="付款后 48 小时内发货。", category_id=ship_cat, tags=["物流", "发货"],
            keywords=["发货"], status="published"))
        refund = actions.do_create_entry(uow, actor, EntryCreate(
            question="怎么申请退款", phrasings=["我要退钱", "退款怎么操作"],
            answer="在订单页点“申请退款”。\n\n- 未发货：立即退\n- 已发货：先退货",
            channel_answers={"wechat": "回复“退款”+订单号", "email": "请回复订单号"},
            category_id=refund_cat, tags=["售后"], related_ids=[ship.id],
            status="published",
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            valid_until=datetime(2027, 1, 1, 16, 0, tzinfo=UTC)))
        formula = actions.do_create_entry(uow, actor, EntryCreate(
            question="=1+1 是什么", answer="-5 度以下请注意保暖", status="draft"))
        return {"ship": ship.id, "refund": refund.id, "formula": formula.id}


def count(uows: UowFactory, model: type, ws: str) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(
            model.workspace_id == ws)) or 0)


def export(uows: UowFactory, actor: Actor, fmt: str) -> bytes:
    with uows(readonly=True) as uow:
        return export_entries(uow.session, actor, fmt)  # type: ignore[arg-type]


def run_import(uows: UowFactory, actor: Actor, data: bytes, filename: str = "kb.csv",
               **kw: bool) -> ImportReport:
    with uows() as uow:
        return import_entries(uow, actor, data, filename=filename, **kw)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_rows(data: bytes) -> list[dict[str, str]]:
    ws = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = [["" if v is None else str(v) for v in r] for r in ws.iter_rows(values_only=True)]
    width = len(rows[0])  # read-only sheets drop trailing empty cells
    return [dict(zip(rows[0], r + [""] * (width - len(r)), strict=True)) for r in rows[1:]]


def content(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows without ids; related ids replaced by the related questions."""
    question_of = {r["id"]: r["question 标准问题"] for r in rows}
    out = []
    for r in rows:
        related = r["related 关联问题"].split("||") if r["related 关联问题"] else []
        out.append({**{k: v for k, v in r.items() if k != "id"},
                    "related 关联问题": "||".join(question_of[i] for i in related)})
    return out


# -- export -------------------------------------------------------------------------------

def test_csv_export_has_bom_header_and_every_field(uows: UowFactory, world: World) -> None:
    ids = seed(uows, world.admin_wang)
    data = export(uows, world.admin_wang, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = csv_rows(data)
    assert list(rows[0]) == [k if k == "id" else f"{k} {label}" for k, label in COLUMNS]
    by_id = {r["id"]: r for r in rows}
    refund = by_id[ids["refund"]]
    assert refund["phrasings 相似问法"] == "我要退钱||退款怎么操作"
    assert refund["category 分类"] == "售后/退款"
    assert refund["tags 标签"] == "售后"
    assert refund["related 关联问题"] == ids["ship"]
    assert refund["answer_wechat 微信答案"] == "回复“退款”+订单号"
    assert refund["answer_web 网页答案"] == ""
    assert refund["status 状态"] == "published"
    # in the workspace's time zone (Asia/Shanghai), with the offset
    assert refund["valid_from 生效时间"] == "2026-01-01T08:00:00+08:00"
    assert refund["valid_until 失效时间"] == "2027-01-02T00:00:00+08:00"
    assert "\n- 未发货" in refund["answer 答案"]
    # a formula-looking cell is escaped for Excel
    assert by_id[ids["formula"]]["question 标准问题"] == "'=1+1 是什么"
    assert by_id[ids["formula"]]["answer 答案"] == "'-5 度以下请注意保暖"


def test_export_shows_only_own_workspace(uows: UowFactory, world: World) -> None:
    seed(uows, world.admin_wang)
    assert csv_rows(export(uows, world.admin_b, "csv")) == []
    assert len(csv_rows(export(uows, world.agent_li, "csv"))) == 3  # agents may read


def test_export_unknown_format_is_refused(uows: UowFactory, world: World) -> None:
    with pytest.raises(Invalid) as exc:
        export(uows, world.admin_wang, "pdf")
    assert exc.value.code == "unsupported_format"


# -- round trips --------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "read"), [("csv", csv_rows), ("xlsx", xlsx_rows)])
def test_round_trip_same_workspace_changes_nothing(uows: UowFactory, world: World, fmt: str,
                                                   read: object) -> None:
    seed(uows, world.admin_wang)
    versions = count(uows, FaqVersion, world.ws_a)
    data = export(uows, world.admin_wang, fmt)
    report = run_import(uows, world.admin_wang, data, f"kb.{fmt}")
    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert report.applied
    assert count(uows, FaqVersion, world.ws_a) == versions
    assert count(uows, FaqEntry, world.ws_a) == 3
    assert export(uows, world.admin_wang, fmt) == data or fmt == "xlsx"
    assert read(export(uows, world.admin_wang, fmt)) == read(data)  # type: ignore[operator]


@pytest.mark.parametrize(("fmt", "read"), [("csv", csv_rows), ("xlsx", xlsx_rows)])
def test_round_trip_into_empty_workspace(uows: UowFactory, world: World, fmt: str,
                                         read: object) -> None:
    seed(uows, world.admin_wang)
    data = export(uows, world.admin_wang, fmt)
    report = run_import(uows, world.admin_b, data, f"kb.{fmt}")
    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    again = read(export(uows, world.admin_b, fmt))  # type: ignore[operator]
    first = read(data)  # type: ignore[operator]
    assert content(again) == content(first)
    assert {r["id"] for r in again}.isdisjoint({r["id"] for r in first})
    with uows(readonly=True) as uow:  # related ids point inside workspace B
        refund = uow.session.scalar(select(FaqEntry).where(
            FaqEntry.workspace_id == world.ws_b, FaqEntry.question == "怎么申请退款"))
        assert refund is not None
        assert refund.related_ids
        related = uow.session.get(FaqEntry, refund.related_ids[0])
        assert related is not None
        assert related.workspace_id == world.ws_b
        assert related.question == "什么时候发货"
        assert refund.owner_id is None or refund.owner_id == world.admin_b.user_id
    # importing into B again from B's own export is a no-op
    own = export(uows, world.admin_b, fmt)
    assert run_import(uows, world.admin_b, own, f"kb.{fmt}").unchanged == 3


def test_forward_related_reference_is_linked_after_creation(uows: UowFactory,
                                                            world: World) -> None:
    text = ("id,question,answer,related\n"
            "x1,问题一,答案一,x2\n"
            "x2,问题二,答案二,x1\n")
    report = run_import(uows, world.admin_b, text.encode())
    assert report.errors == []
    assert report.created == 2
    with uows(readonly=True) as uow:
        rows = {e.question: e for e in uow.session.scalars(select(FaqEntry).where(
            FaqEntry.workspace_id == world.ws_b))}
        assert rows["问题一"].related_ids == [rows["问题二"].id]
        assert rows["问题二"].related_ids == [rows["问题一"].id]


def test_reimport_is_idempotent_and_edits_update(uows: UowFactory, world: World) -> None:
    ids = seed(uows, world.admin_wang)
    rows = csv_rows(export(uows, world.admin_wang, "csv"))
    for r in rows:
        if r["id"] == ids["ship"]:
            r["answer 答案"] = "付款后 24 小时内发货。"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    report = run_import(uows, world.admin_wang, data)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    versions = count(uows, FaqVersion, world.ws_a)
    again = run_import(uows, world.admin_wang, data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert count(uows, FaqVersion, world.ws_a) == versions
    with uows(readonly=True) as uow:
        ship = uow.session.get(FaqEntry, ids["ship"])
        assert ship is not None
        assert ship.answer == "付款后 24 小时内发货。"
        assert ship.version == 2


def test_ids_of_another_workspace_create_new_entries(uows: UowFactory, world: World) -> None:
    ids = seed(uows, world.admin_wang)
    data = (f"id,question,answer\n{ids['ship']},B 的问题,B 的答案\n").encode()
    report = run_import(uows, world.admin_b, data)
    assert report.created == 1
    with uows(readonly=True) as uow:
        ship = uow.session.get(FaqEntry, ids["ship"])
        assert ship is not None
        assert ship.question == "什么时候发货"  # workspace A's entry untouched


# -- encodings and headers ----------------------------------------------------------------

def test_gbk_csv_with_chinese_headers(uows: UowFactory, world: World) -> None:
    text = ("标准问题,相似问法,答案,分类,标签,状态,失效时间\r\n"
            "怎么开发票,发票怎么开||可以开发票吗,在订单页申请开票，电子发票 1 天内发出。,"
            "财务/发票,\"发票,财务\",已发布,2027/1/1 00:00\r\n")
    report = run_import(uows, world.admin_wang, text.encode("gbk"))
    assert report.errors == []
    assert report.encoding == "gb18030"
    assert report.created == 1
    with uows(readonly=True) as uow:
        entry = uow.session.scalar(select(FaqEntry).where(
            FaqEntry.workspace_id == world.ws_a))
        assert entry is not None
        assert entry.question == "怎么开发票"
        assert entry.phrasings == ["发票怎么开", "可以开发票吗"]
        assert entry.tags == ["发票", "财务"]
        assert entry.status == "published"
        # no offset: the workspace's time zone (Asia/Shanghai)
        assert entry.valid_until == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
        cats = {c.name for c in uow.session.scalars(select(Category).where(
            Category.workspace_id == world.ws_a))}
        assert {"财务", "发票"} <= cats


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_encodings_are_detected(encoding: str) -> None:
    text = "question,answer\n退款要多久,三个工作日内原路退回\n"
    decoded, _ = decode_text(text.encode(encoding))
    assert decoded.lstrip("\ufeff") == text


def test_broken_utf8_names_the_line(uows: UowFactory, world: World) -> None:
    data = "question,answer\n退款要多久,三个工作日\n发货,两天\n".encode() + b"\xff\xfe\xfd,x\n"
    with pytest.raises(Invalid) as exc:
        run_import(uows, world.admin_wang, data)
    assert exc.value.code == "bad_encoding"
    assert exc.value.details["line"] == 4
    assert "4" in exc.value.message


def test_headers_by_key_label_or_both_and_unknown_ignored(uows: UowFactory,
                                                          world: World) -> None:
    data = "Question,答案,备注\n怎么改地址,发货前可在订单页修改,内部\n".encode()
    report = run_import(uows, world.admin_wang, data)
    assert report.created == 1
    assert report.ignored_columns == ["备注"]


# -- file-level errors --------------------------------------------------------------------

@pytest.mark.parametrize(("data", "filename", "code"), [
    (b"", "kb.csv", "empty_file"),
    (b"\xef\xbb\xbf\r\n\r\n", "kb.csv", "empty_file"),
    ("答案,分类\n退款,售后\n".encode(), "kb.csv", "missing_column"),
    ("question,answer,标准问题\n".encode(), "kb.csv", "duplicate_column"),
    (b"%PDF-1.7 binary", "kb.pdf", "unsupported_format"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old excel", "kb.xls", "unsupported_format"),
    (b"this is not a zip", "kb.xlsx", "bad_file"),
    (b"PK\x03\x04 broken zip", "kb.xlsx", "bad_file"),
    (b"question,answer\n\x00\x01\x02,\x00", "kb.csv", "bad_file"),
    (b"x" * (MAX_FILE_BYTES + 1), "kb.csv", "file_too_large"),
])
def test_file_level_errors(uows: UowFactory, world: World, data: bytes, filename: str,
                           code: str) -> None:
    with pytest.raises(Invalid) as exc:
        run_import(uows, world.admin_wang, data, filename)
    assert exc.value.code == code
    assert " / " in exc.value.message  # zh / en
    assert count(uows, FaqEntry, world.ws_a) == 0


def test_header_only_file_imports_nothing(uows: UowFactory, world: World) -> None:
    report = run_import(uows, world.admin_wang, (HEADER + "\n").encode())
    assert report.rows == 0
    assert report.ok
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)


def test_agents_may_not_import(uows: UowFactory, world: World) -> None:
    with pytest.raises(PermissionDenied):
        run_import(uows, world.agent_li, b"question,answer\nq,a\n")


# -- bad rows -----------------------------------------------------------------------------

BROKEN = (
    "question 标准问题,answer 答案,category 分类,status 状态,valid_from,valid_until\n"
    "怎么申请退款,在订单页申请,售后/退款,published,,\n"           # 2 ok
    ",没有问题的答案,,,,\n"                                          # 3 empty question
    "😀🎉👍,只有表情,,,,\n"                                         # 4 only emoji
    "优惠券怎么用,结算时勾选,,,明天早上,\n"                         # 5 bad date
    "活动什么时候结束,11 月 12 日,,,2026-11-12,2026-11-11\n"        # 6 until before from
    "会员有什么权益,积分翻倍,全新分类/子类,,,\n"                    # 7 ok, new category
    "能开专票吗,可以,,maybe,,\n"                                     # 8 bad status
    "\"多行\n问题\",\"多行\n答案\",,,,\n"                            # 9-11 ok, one record
    "没有答案的问题,,,,,\n"                                          # 12 empty answer
)


def test_each_bad_row_is_reported_and_nothing_is_imported(uows: UowFactory,
                                                          world: World) -> None:
    report = run_import(uows, world.admin_wang, BROKEN.encode())
    got = {(e.line, e.field, e.code) for e in report.errors}
    assert got == {
        (3, "question", "required"),
        (4, "question", "no_words"),
        (5, "valid_from", "bad_datetime"),
        (6, "valid_until", "bad_validity"),
        (8, "status", "bad_status"),
        (12, "answer", "required"),
    }
    assert all(" / " in e.message for e in report.errors)
    assert report.created == 3  # what the valid rows would do
    assert not report.applied
    assert count(uows, FaqEntry, world.ws_a) == 0
    assert count(uows, Category, world.ws_a) == 0


def test_partial_keeps_the_valid_rows(uows: UowFactory, world: World) -> None:
    report = run_import(uows, world.admin_wang, BROKEN.encode(), partial=True)
    assert report.applied
    assert len(report.errors) == 6
    assert report.created == 3
    with uows(readonly=True) as uow:
        questions = set(uow.session.scalars(select(FaqEntry.question).where(
            FaqEntry.workspace_id == world.ws_a)))
        assert questions == {"怎么申请退款", "会员有什么权益", "多行 问题"}
        paths = {c.name for c in uow.session.scalars(select(Category).where(
            Category.workspace_id == world.ws_a))}
        assert paths == {"售后", "退款", "全新分类", "子类"}
        multi = uow.session.scalar(select(FaqEntry).where(FaqEntry.question == "多行 问题"))
        assert multi is not None
        assert multi.answer == "多行\n答案"


def test_rolled_back_rows_emit_no_events(uows: UowFactory, world: World) -> None:
    with uows() as uow:
        report = import_entries(uow, world.admin_wang, BROKEN.encode(), filename="kb.csv",
                                partial=True)
        assert len(uow.events) == report.created
    with uows() as uow:
        import_entries(uow, world.admin_wang, BROKEN.encode(), filename="kb.csv")
        assert uow.events == []


def test_dry_run_changes_nothing(uows: UowFactory, world: World) -> None:
    data = b"question,answer\nq1 question,a1\nq2 question,a2\n"
    report = run_import(uows, world.admin_wang, data, dry_run=True)
    assert report.created == 2
    assert not report.applied
    assert count(uows, FaqEntry, world.ws_a) == 0


def test_duplicate_ids_and_unknown_related(uows: UowFactory, world: World) -> None:
    data = ("id,question,answer,related\n"
            "a,问题一,答案一,\n"
            "a,问题二,答案二,\n"
            "b,问题三,答案三,nope\n").encode()
    report = run_import(uows, world.admin_wang, data, partial=True)
    assert {(e.line, e.code) for e in report.errors} == {(3, "duplicate_id"),
                                                        (4, "related_not_found")}
    assert report.created == 1


# -- XLSX specifics -----------------------------------------------------------------------

def test_xlsx_with_datetime_cells_and_numbers(uows: UowFactory, world: World) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["标准问题", "答案", "生效时间", "失效时间", "标签"])
    naive = datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None)  # Excel has no zones
    ws.append(["双11活动", "全场满减", naive, naive + timedelta(days=11), 2026])
    ws.append([None, None, None, None, None])  # blank rows are skipped
    buf = io.BytesIO()
    wb.save(buf)
    report = run_import(uows, world.admin_wang, buf.getvalue(), "kb.xlsx")
    assert report.errors == []
    assert report.created == 1
    with uows(readonly=True) as uow:
        entry = uow.session.scalar(select(FaqEntry).where(
            FaqEntry.workspace_id == world.ws_a))
        assert entry is not None
        assert entry.valid_from == datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=8)
        assert entry.tags == ["2026"]


def test_xlsx_bad_row_reports_sheet_row(uows: UowFactory, world: World) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["question", "answer"])
    ws.append(["正常的问题", "正常的答案"])
    ws.append(["", "缺问题"])
    buf = io.BytesIO()
    wb.save(buf)
    report = run_import(uows, world.admin_wang, buf.getvalue(), "kb.xlsx")
    assert [(e.line, e.field, e.code) for e in report.errors] == [(3, "question", "required")]
