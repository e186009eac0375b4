"""Knowledge-center files over HTTP: documents (upload, list, passages, delete, bad files,
size caps), FAQ import (all-or-nothing, partial, dry run; GBK CSV and XLSX) and export (a
round trip changes nothing), the health check, permissions and workspace isolation."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import unquote

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from kefu.kb import actions as kb_actions
from kefu.kb import documents as kb_documents
from kefu.kb import transfer as kb_transfer
from kefu.kb.models import Document, FaqEntry, Passage
from kefu.kb.schemas import EntryCreate
from tests.conftest import T0, login
from tests.web.test_api_errors import assert_error

NOWHERE = "000000000000000000000000"

GUIDE_MD = """# 退货指南

收到商品 7 天内可以申请无理由退货。生鲜商品除外。

## 运费

质量问题由我们承担运费；其他情况运费由买家承担。

## 退款时间

退货入库后 1–3 个工作日原路退款。
"""

FAQ_CSV = ("标准问题,相似问法,答案,分类,标签,状态\r\n"
           "怎么开发票,发票怎么开||可以开发票吗,在订单页申请开票。,财务/发票,发票,已发布\r\n"
           "发什么快递,,默认顺丰。,物流,,草稿\r\n"
           "会员积分怎么用,积分能抵现吗,下单时抵扣现金。,会员,,已发布\r\n")


def _upload(client, name: str, data: bytes, *, title: str | None = None,
            content_type: str = "application/octet-stream"):
    extra = {"title": title} if title is not None else None
    return client.post("/api/v1/kb/documents", files={"file": (name, data, content_type)},
                       data=extra)


def _import(client, name: str, data: bytes, **params: bool):
    return client.post("/api/v1/kb/import", files={"file": (name, data, "text/csv")},
                       params={k: str(v).lower() for k, v in params.items()})


def _count(uows, model, workspace_id: str) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(
            model.workspace_id == workspace_id)) or 0)


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- documents ----------------------------------------------------------------------------

def test_upload_list_get_and_delete_a_document(app_client, uows, world):
    login(app_client, "wang@a.example.com")
    r = _upload(app_client, "退货指南.md", GUIDE_MD.encode(), content_type="text/markdown")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["title"], doc["source_name"], doc["format"], doc["status"]) == (
        "退货指南", "退货指南.md", "markdown", "published")
    assert doc["passage_count"] == 3
    assert "passages" not in doc

    listed = app_client.get("/api/v1/kb/documents").json()
    assert [d["id"] for d in listed] == [doc["id"]]
    assert listed[0]["passage_count"] == 3

    detail = app_client.get(f"/api/v1/kb/documents/{doc['id']}").json()
    assert [(p["ordinal"], p["heading"]) for p in detail["passages"]] == [
        (0, "退货指南"), (1, "运费"), (2, "退款时间")]
    assert "7 天内可以申请无理由退货" in detail["passages"][0]["text"]

    r = app_client.delete(f"/api/v1/kb/documents/{doc['id']}")
    assert r.status_code == 204
    assert_error(app_client.get(f"/api/v1/kb/documents/{doc['id']}"), 404,
                 "document_not_found")
    assert app_client.get("/api/v1/kb/documents").json() == []
    assert _count(uows, Passage, world.ws_a) == 0
    assert_error(app_client.delete(f"/api/v1/kb/documents/{doc['id']}"), 404,
                 "document_not_found")


def test_upload_html_with_a_title_of_ones_own(app_client, world):
    login(app_client, "zhao@a.example.com")  # supervisors write too
    html = ("<html><head><title>页面标题</title><script>alert(1)</script></head><body>"
            "<nav>首页 | 帮助</nav><h1>会员说明</h1><p>积分可以抵扣现金，100 积分抵 1 元。</p>"
            "</body></html>").encode()
    r = _upload(app_client, "help/member.html", html, title="  会员积分规则  ")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["title"], doc["source_name"], doc["format"]) == (
        "会员积分规则", "member.html", "html")
    passages = app_client.get(f"/api/v1/kb/documents/{doc['id']}").json()["passages"]
    text = " ".join(p["text"] for p in passages)
    assert "100 积分抵 1 元" in text
    assert "alert" not in text and "首页" not in text
    # an empty title means "take it from the document"
    r = _upload(app_client, "member2.html", html, title="   ")
    assert r.json()["title"] == "会员说明"


@pytest.mark.parametrize(("name", "data", "code"), [
    ("notes.txt", b"hello", "unsupported_type"),
    ("empty.md", b"  \n ", "empty_file"),
    ("fake.pdf", b"just text, not a PDF", "type_mismatch"),
    ("image.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "type_mismatch"),
    ("nul.md", b"abc\x00def", "bad_encoding"),
    ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "docx_not_zip"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj broken", "pdf_corrupt"),
    ("blank.html", b"<html><body><script>x()</script></body></html>", "no_text"),
])
def test_bad_uploads_answer_the_domain_code(app_client, uows, world, name, data, code):
    login(app_client, "wang@a.example.com")
    err = assert_error(_upload(app_client, name, data), 422, code)
    assert " / " in err["message"]  # "中文 / English"
    assert _count(uows, Document, world.ws_a) == 0


def test_upload_without_a_file_or_with_a_long_title(app_client, world):
    login(app_client, "wang@a.example.com")
    r = app_client.post("/api/v1/kb/documents", data={"title": "no file"})
    assert_error(r, 422, "validation_error")
    r = _upload(app_client, "a.md", GUIDE_MD.encode(), title="长" * 201)
    err = assert_error(r, 422, "too_long")
    assert err["details"]["field"] == "title"


def test_upload_size_caps(app_client, uows, world):
    """Uploads take more than the JSON body cap; over the domain's limit they answer the
    domain's code: 422 just over it, 413 (not read) far over it."""
    login(app_client, "wang@a.example.com")
    json_cap = app_client.app.state.services.settings.max_body_bytes
    # a document larger than the JSON cap is fine
    big = ("# 大文档\n\n" + "这是一段很长的说明文字，用来测试上传上限。\n\n" * 5000).encode()
    assert len(big) > json_cap
    r = _upload(app_client, "big.md", big)
    assert r.status_code == 201, r.text
    # JSON routes keep their cap
    r = app_client.post("/api/v1/kb/entries", json={"question": "q", "answer": "a" * json_cap})
    assert_error(r, 413, "body_too_large")

    just_over = b"#" + b"a" * kb_documents.MAX_BYTES
    err = assert_error(_upload(app_client, "huge.md", just_over), 422, "file_too_large")
    assert err["details"]["max_bytes"] == kb_documents.MAX_BYTES
    far_over = b"a" * (kb_documents.MAX_BYTES + 2 * 1024 * 1024)
    err = assert_error(_upload(app_client, "huge.md", far_over), 413, "file_too_large")
    assert err["details"]["max_bytes"] == kb_documents.MAX_BYTES

    far_over = b"a" * (kb_transfer.MAX_FILE_BYTES + 2 * 1024 * 1024)
    assert_error(_import(app_client, "huge.csv", far_over), 413, "file_too_large")
    just_over = b"question,answer\n" + b"a" * kb_transfer.MAX_FILE_BYTES
    assert_error(_import(app_client, "huge.csv", just_over), 422, "file_too_large")
    assert _count(uows, Document, world.ws_a) == 1
    assert _count(uows, FaqEntry, world.ws_a) == 0


# -- import -------------------------------------------------------------------------------

def test_import_is_all_or_nothing_unless_partial(app_client, uows, world):
    login(app_client, "wang@a.example.com")
    bad = (FAQ_CSV + "没有答案的问题,,,,,已发布\r\n"
           "状态不对,,答案,,,上架\r\n").encode("gbk")

    r = _import(app_client, "知识库.csv", bad)
    err = assert_error(r, 422, "import_rejected")
    details = err["details"]
    assert [(e["line"], e["field"], e["code"]) for e in details["errors"]] == [
        (5, "answer", "required"), (6, "status", "bad_status")]
    assert all(" / " in e["message"] for e in details["errors"])
    assert (details["rows"], details["applied"], details["encoding"]) == (5, False, "gb18030")
    assert _count(uows, FaqEntry, world.ws_a) == 0

    r = _import(app_client, "知识库.csv", bad, dry_run=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], len(report["errors"]), report["applied"], report["dry_run"]) == (
        3, 2, False, True)
    assert _count(uows, FaqEntry, world.ws_a) == 0

    r = _import(app_client, "知识库.csv", bad, partial=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["created"], report["applied"], report["partial"]) == (
        5, 3, True, True)
    assert [e["line"] for e in report["errors"]] == [5, 6]
    entries = app_client.get("/api/v1/kb/entries", params={"q": "开发票"}).json()["items"]
    assert [(e["question"], e["phrasings"], e["status"]) for e in entries] == [
        ("怎么开发票", ["发票怎么开", "可以开发票吗"], "published")]
    paths = {c["path"] for c in app_client.get("/api/v1/kb/categories").json()}
    assert {"财务", "财务/发票", "物流", "会员"} <= paths


def test_import_xlsx_and_file_level_errors(app_client, uows, world):
    login(app_client, "wang@a.example.com")
    data = _xlsx([["question 标准问题", "answer 答案", "备注"],
                  ["怎么改地址", "发货前可在订单页修改。", "忽略我"],
                  ["几点发货", "下午 4 点前下单当天发。", None]])
    r = _import(app_client, "faq.xlsx", data)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["errors"], report["applied"]) == (2, [], True)
    assert report["ignored_columns"] == ["备注"]

    assert_error(_import(app_client, "old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 32), 422,
                 "unsupported_format")
    err = assert_error(_import(app_client, "x.csv", "标准问题,分类\n问,类\n".encode()), 422,
                       "missing_column")
    assert err["details"]["columns"] == ["answer"]
    assert_error(_import(app_client, "empty.csv", b""), 422, "empty_file")
    assert_error(_import(app_client, "broken.xlsx", b"PK\x03\x04broken"), 422, "bad_file")
    assert _count(uows, FaqEntry, world.ws_a) == 2


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_round_trip_changes_nothing(app_client, world, fmt):
    login(app_client, "wang@a.example.com")
    cat = app_client.post("/api/v1/kb/categories", json={"name": "售后"}).json()
    first = app_client.post("/api/v1/kb/entries", json={
        "question": "怎么申请退货", "answer": "在订单页点“申请售后”。\n选择退货。",
        "phrasings": ["如何退货", "我想退货"], "category_id": cat["id"], "tags": ["双11"],
        "keywords": ["退货"], "status": "published",
        "channel_answers": {"wechat": "微信里点“我的订单”。"},
        "valid_until": "2027-01-01T00:00:00+08:00"}).json()
    app_client.post("/api/v1/kb/entries", json={
        "question": "=SUM(A1) 是什么", "answer": "-1 表示没有库存", "status": "draft",
        "related_ids": [first["id"]]})
    app_client.post("/api/v1/kb/entries", json={"question": "发什么快递", "answer": "顺丰"})
    entries = app_client.get("/api/v1/kb/entries").json()["items"]
    versions = {e["id"]: e["version"] for e in entries}

    r = app_client.get("/api/v1/kb/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(
        "text/csv" if fmt == "csv" else "application/vnd.openxmlformats")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="kb-20261111.{fmt}"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"知识库-20261111.{fmt}"
    if fmt == "csv":
        assert r.content.startswith(b"\xef\xbb\xbf")
        assert "怎么申请退货" in r.content.decode("utf-8-sig")
    else:
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        assert sheet.max_row == 4

    back = _import(app_client, f"export.{fmt}", r.content)
    assert back.status_code == 200, back.text
    report = back.json()
    assert report["errors"] == []
    assert (report["rows"], report["unchanged"], report["created"], report["updated"]) == (
        len(entries), len(entries), 0, 0)
    after = app_client.get("/api/v1/kb/entries").json()["items"]
    assert {e["id"]: e["version"] for e in after} == versions


def test_export_needs_a_known_format(app_client, world):
    login(app_client, "li@a.example.com")
    assert_error(app_client.get("/api/v1/kb/export", params={"format": "xls"}), 422,
                 "validation_error")
    r = app_client.get("/api/v1/kb/export")  # CSV by default
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")


# -- health check -------------------------------------------------------------------------

def test_health_reports_an_expired_published_entry(app_client, uows, world):
    with uows() as uow:
        expired = kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="双11活动规则", answer="满 300 减 50", status="published",
            valid_from=T0 - timedelta(days=10), valid_until=T0 - timedelta(hours=1))).id
        kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="怎么开发票", answer="在订单页申请。", status="published"))
    login(app_client, "li@a.example.com")  # agents may read the check
    r = app_client.get("/api/v1/kb/health")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["workspace_id"], report["checked"], report["days"]) == (world.ws_a, 2, 30)
    assert report["counts"]["expired_published"] == 1
    assert set(report["counts"]) == {"collision", "duplicate", "expired_published",
                                     "never_hit", "negative_feedback"}
    [issue] = [i for i in report["issues"] if i["kind"] == "expired_published"]
    assert (issue["entry_ids"], issue["questions"]) == ([expired], ["双11活动规则"])
    assert issue["detail_zh"] and issue["detail_en"]
    assert app_client.get("/api/v1/kb/health", params={"days": 7}).json()["days"] == 7
    assert_error(app_client.get("/api/v1/kb/health", params={"days": 0}), 422,
                 "validation_error")


# -- permissions and isolation ------------------------------------------------------------

@pytest.mark.parametrize("email", ["li@a.example.com", "sun@a.example.com"])
def test_readers_cannot_write(app_client, uows, world, email):
    login(app_client, "wang@a.example.com")
    doc = _upload(app_client, "guide.md", GUIDE_MD.encode()).json()
    app_client.post("/api/v1/auth/logout")
    login(app_client, email)
    assert app_client.get("/api/v1/kb/documents").status_code == 200
    assert app_client.get(f"/api/v1/kb/documents/{doc['id']}").status_code == 200
    assert app_client.get("/api/v1/kb/export").status_code == 200
    assert app_client.get("/api/v1/kb/health").status_code == 200
    assert_error(_upload(app_client, "x.md", GUIDE_MD.encode()), 403, "permission_denied")
    assert_error(app_client.delete(f"/api/v1/kb/documents/{doc['id']}"), 403,
                 "permission_denied")
    assert_error(_import(app_client, "x.csv", FAQ_CSV.encode()), 403, "permission_denied")
    assert_error(_import(app_client, "x.csv", FAQ_CSV.encode(), dry_run=True), 403,
                 "permission_denied")
    assert _count(uows, Document, world.ws_a) == 1
    assert _count(uows, FaqEntry, world.ws_a) == 0


def test_anonymous_and_csrf(app_client, world):
    for method, path in [("GET", "/api/v1/kb/documents"), ("GET", "/api/v1/kb/export"),
                         ("GET", "/api/v1/kb/health"), ("POST", "/api/v1/kb/import"),
                         ("POST", "/api/v1/kb/documents")]:
        assert_error(app_client.request(method, path), 401, "unauthenticated")
    login(app_client, "wang@a.example.com")
    del app_client.headers["X-CSRF-Token"]
    assert_error(_upload(app_client, "guide.md", GUIDE_MD.encode()), 403, "csrf_failed")


def test_other_workspaces_documents_are_404(app_client, uows, world):
    login(app_client, "wang@a.example.com")
    doc = _upload(app_client, "guide.md", GUIDE_MD.encode()).json()
    _import(app_client, "faq.csv", FAQ_CSV.encode())
    app_client.post("/api/v1/auth/logout")
    login(app_client, "admin@b.example.com")
    for path in (f"/api/v1/kb/documents/{doc['id']}", f"/api/v1/kb/documents/{NOWHERE}"):
        assert_error(app_client.get(path), 404, "document_not_found")
        assert_error(app_client.delete(path), 404, "document_not_found")
    assert app_client.get("/api/v1/kb/documents").json() == []
    exported = app_client.get("/api/v1/kb/export").content.decode("utf-8-sig")
    assert "怎么开发票" not in exported
    assert exported.count("\n") == 1  # the header only
    health = app_client.get("/api/v1/kb/health").json()
    assert (health["workspace_id"], health["checked"], health["issues"]) == (world.ws_b, 0, [])
    # B's import lands in B, whatever ids the file names
    r = _import(app_client, "faq.csv", FAQ_CSV.encode())
    assert r.json()["created"] == 3
    assert _count(uows, FaqEntry, world.ws_a) == 3
    assert _count(uows, FaqEntry, world.ws_b) == 3
    assert _count(uows, Document, world.ws_a) == 1
