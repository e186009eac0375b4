"""Knowledge-center file pages: documents (upload, passages under their headings, delete),
import / export (the report with every row error) and the health check; read-only for
agents, CSRF on every form, zh-CN and en, and escaping of whatever users uploaded."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kefu.kb import actions as kb_actions
from kefu.kb.documents import do_import_document
from kefu.kb.models import Document, FaqEntry
from kefu.kb.schemas import EntryCreate
from tests.conftest import T0, World
from tests.web.test_ui_login import ui_login

PAGES = ["/app/kb/documents", "/app/kb/transfer", "/app/kb/health"]
NOWHERE = "000000000000000000000000"

EVIL_MD = """# 售后说明 <script>alert("heading")</script>

退货请联系客服。代码示例：`<script>alert("passage")</script>`

## 第二节

<img src=x onerror=alert(1)> 7 天无理由退货。
"""

CSV_WITH_ERRORS = ("标准问题,答案,状态\r\n"
                   "怎么开发票,在订单页申请开票。,已发布\r\n"
                   "没有答案,,已发布\r\n"
                   "发什么快递,默认顺丰。,上架\r\n").encode("gbk")


def _document(uows, actor, name: str = "guide.md", text: str = "# 退货指南\n\n7 天无理由退货。"):
    with uows() as uow:
        return do_import_document(uow, actor, data=text.encode(), filename=name).id


def _count(uows, model, workspace_id: str) -> int:
    with uows(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(
            model.workspace_id == workspace_id)) or 0)


def _upload(client: TestClient, csrf: str, name: str, data: bytes, **fields: str):
    return client.post("/app/kb/documents", data={"csrf_token": csrf, **fields},
                       files={"file": (name, data, "application/octet-stream")},
                       follow_redirects=False)


def _import(client: TestClient, csrf: str, name: str, data: bytes, **fields: str):
    return client.post("/app/kb/transfer", data={"csrf_token": csrf, **fields},
                       files={"file": (name, data, "text/csv")}, follow_redirects=False)


@pytest.mark.parametrize("path", PAGES)
def test_writers_see_forms_and_the_nav(app_client: TestClient, world: World,
                                       path: str) -> None:
    ui_login(app_client, "wang@a.example.com")
    r = app_client.get(path)
    assert r.status_code == 200
    for link in ("nav-kb-documents", "nav-kb-transfer", "nav-kb-health"):
        assert f'id="{link}"' in r.text
    assert "readonly-badge" not in r.text
    if path != "/app/kb/health":
        assert 'enctype="multipart/form-data"' in r.text
        assert 'name="csrf_token"' in r.text
    assert f'<a href="{path}" class="active"' in r.text


@pytest.mark.parametrize("email", ["li@a.example.com", "sun@a.example.com"])
def test_agents_read_without_forms_and_their_posts_are_403(app_client: TestClient, uows,
                                                           world: World, email: str) -> None:
    doc = _document(uows, world.admin_wang)
    csrf = ui_login(app_client, email)
    for path in [*PAGES, f"/app/kb/documents/{doc}"]:
        r = app_client.get(path)
        assert r.status_code == 200, path
        assert "readonly-badge" in r.text
        assert 'method="post" action="/app/kb' not in r.text, path
    assert "/api/v1/kb/export?format=xlsx" in app_client.get("/app/kb/transfer").text
    assert app_client.get(f"/app/kb/documents/{doc}").text.count("7 天无理由退货") == 1
    for r in (_upload(app_client, csrf, "x.md", b"# hi\n\ntext"),
              _import(app_client, csrf, "x.csv", CSV_WITH_ERRORS, partial="1"),
              app_client.post(f"/app/kb/documents/{doc}/delete", data={"csrf_token": csrf},
                              follow_redirects=False)):
        assert r.status_code == 403
        assert "text/html" in r.headers["content-type"]
    assert _count(uows, Document, world.ws_a) == 1
    assert _count(uows, FaqEntry, world.ws_a) == 0


def test_upload_shows_passages_with_headings_escaped(app_client: TestClient, uows,
                                                     world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = _upload(app_client, csrf, "<img src=x onerror=alert(2)>说明.md", EVIL_MD.encode(),
                title='<script>alert("title")</script>')
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/app/kb/documents/\w+\?notice=created", location)
    page = app_client.get(location)
    assert page.status_code == 200
    assert "已创建" in page.text
    assert "<script>alert" not in page.text
    assert "<img" not in page.text and "onerror=alert(1)" not in page.text
    assert '&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;' in page.text
    assert '&lt;script&gt;alert(&#34;passage&#34;)&lt;/script&gt;' in page.text
    assert "&lt;img src=x onerror=alert(2)&gt;说明.md" in page.text  # the file name
    headings = re.findall(r'<h2 class="kb-doc-heading">(.*?)</h2>', page.text)
    assert headings == ["售后说明", "第二节"]  # markdown's raw <script> is dropped
    listing = app_client.get("/app/kb/documents")
    assert "<script>alert" not in listing.text
    assert "&lt;script&gt;alert(&#34;title&#34;)" in listing.text
    assert "2 个段落" in page.text


def test_upload_errors_are_shown_on_the_page(app_client: TestClient, uows,
                                             world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = _upload(app_client, csrf, "notes.txt", b"hello", title="保留的标题")
    assert r.status_code == 422
    assert 'id="form-error"' in r.text and "不支持的文件类型" in r.text
    assert 'value="保留的标题"' in r.text  # the input is kept
    r = app_client.post("/app/kb/documents", data={"csrf_token": csrf},
                        files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 422 and "请选择要上传的文件" in r.text
    r = app_client.post("/app/kb/documents?lang=en", data={"csrf_token": csrf},
                        files={"file": ("scan.pdf", b"not a pdf", "application/pdf")})
    assert r.status_code == 422
    assert "The file&#39;s content is not a PDF" in r.text
    r = _upload(app_client, "wrong-token", "a.md", b"# a\n\nb")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert _count(uows, Document, world.ws_a) == 0


def test_delete_a_document_through_the_page(app_client: TestClient, uows,
                                            world: World) -> None:
    doc = _document(uows, world.admin_wang)
    csrf = ui_login(app_client, "wang@a.example.com")
    page = app_client.get(f"/app/kb/documents/{doc}")
    assert f'action="/app/kb/documents/{doc}/delete"' in page.text
    r = app_client.post(f"/app/kb/documents/{doc}/delete", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app/kb/documents?notice=deleted")
    assert "已删除" in app_client.get(r.headers["location"]).text
    assert _count(uows, Document, world.ws_a) == 0
    assert app_client.get(f"/app/kb/documents/{doc}").status_code == 404
    r = app_client.post(f"/app/kb/documents/{NOWHERE}/delete", data={"csrf_token": csrf})
    assert r.status_code == 404 and "文档不存在" in r.text


def test_import_report_all_or_nothing_partial_and_dry_run(app_client: TestClient, uows,
                                                          world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = _import(app_client, csrf, "知识库.csv", CSV_WITH_ERRORS)
    assert r.status_code == 422
    assert 'data-outcome="rejected"' in r.text and "未导入任何内容" in r.text
    assert "kb-import-not-saved" in r.text
    lines = re.findall(r'<tr data-line="(\d+)"><td class="mono">\d+</td><td>(.*?)</td>',
                       r.text)
    assert lines == [("3", "答案"), ("4", "状态")]
    assert _count(uows, FaqEntry, world.ws_a) == 0

    r = _import(app_client, csrf, "知识库.csv", CSV_WITH_ERRORS, dry_run="1")
    assert r.status_code == 200
    assert 'data-outcome="dry_run"' in r.text
    assert 'name="dry_run" value="1" checked' in r.text
    assert _count(uows, FaqEntry, world.ws_a) == 0

    r = _import(app_client, csrf, "知识库.csv", CSV_WITH_ERRORS, partial="1")
    assert r.status_code == 200
    assert 'data-outcome="partial"' in r.text
    assert re.search(r'id="count-created">1<', r.text)
    assert re.search(r'id="count-errors">2<', r.text)
    assert "gb18030" in r.text
    assert _count(uows, FaqEntry, world.ws_a) == 1


def test_import_in_english_and_file_errors(app_client: TestClient, world: World) -> None:
    csrf = ui_login(app_client, "wang@a.example.com")
    r = app_client.post("/app/kb/transfer", data={"csrf_token": csrf},
                        files={"file": ("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 8,
                                        "application/vnd.ms-excel")})
    assert r.status_code == 422 and "不支持旧版 .xls" in r.text
    r = app_client.post("/app/kb/transfer", data={"csrf_token": csrf},
                        files={"file": ("bad.csv", "标准问题,分类\n问,类\n".encode(),
                                        "text/csv")})
    assert r.status_code == 422 and "缺少必需的列" in r.text
    r = _import(app_client, "", "kb.csv", CSV_WITH_ERRORS, partial="1")
    assert r.status_code == 403
    r = app_client.post("/app/kb/transfer?lang=en", data={"csrf_token": csrf},
                        files={"file": ("kb.csv", CSV_WITH_ERRORS, "text/csv")})
    assert r.status_code == 422
    assert "nothing was imported" in r.text
    assert re.findall(r'<tr data-line="\d+"><td class="mono">\d+</td><td>(.*?)</td>',
                      r.text) == ["answer", "status"]
    assert "未导入" not in r.text


def test_health_page_links_the_expired_entry(app_client: TestClient, uows,
                                             world: World) -> None:
    with uows() as uow:
        expired = kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="双11活动<规则>", answer="满 300 减 50", status="published",
            valid_from=T0 - timedelta(days=10), valid_until=T0 - timedelta(hours=1))).id
    ui_login(app_client, "li@a.example.com")
    r = app_client.get("/app/kb/health")
    assert r.status_code == 200
    assert 'id="kb-health-expired_published"' in r.text
    assert f'href="/app/kb/entries/{expired}"' in r.text
    assert "双11活动&lt;规则&gt;" in r.text
    assert "已过期仍发布" in r.text and "仍是“已发布”状态" in r.text
    assert re.search(r'data-kind="expired_published">1<', r.text)
    assert "kb-health-clean" not in r.text
    en = app_client.get("/app/kb/health?days=90&lang=en")
    assert "Expired but published" in en.text and "still published" in en.text
    assert '<option value="90" selected>' in en.text
    odd = app_client.get("/app/kb/health?days=abc")
    assert odd.status_code == 200 and '<option value="30" selected>' in odd.text


def test_health_page_when_clean(app_client: TestClient, world: World) -> None:
    ui_login(app_client, "admin@b.example.com")
    r = app_client.get("/app/kb/health")
    assert r.status_code == 200 and 'id="kb-health-clean"' in r.text


def test_logged_out_goes_to_login(app_client: TestClient) -> None:
    for path in PAGES:
        r = app_client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/app/login?next={path}"
    r = app_client.post("/app/kb/documents", files={"file": ("a.md", b"# a", "text/plain")},
                        follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app/login")
