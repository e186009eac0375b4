"""Document import: parsing each format into passages, bad input, and the actions."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from kefu.app import Services
from kefu.core.audit import AuditEntry
from kefu.core.errors import Invalid, NotFound, PermissionDenied
from kefu.core.events import Event
from kefu.core.uow import UowFactory
from kefu.kb import documents as kb_documents
from kefu.kb.documents import (
    MAX_BYTES,
    MAX_PASSAGE,
    MIN_PASSAGE,
    ParsedDocument,
    clean_text,
    decode_text,
    do_delete_document,
    do_import_document,
    get_document,
    list_documents,
    parse_document,
    split_passages,
    split_sentences,
)
from kefu.kb.events import DocumentChanged
from kefu.kb.models import Document, Passage
from kefu.kb.passages import load_passage_index
from kefu.nlp.tokenise import DEFAULT_STOP_WORDS, Tokeniser
from tests.conftest import World

CHROMIUM = "/usr/bin/chromium"

# ~40-character sentences, so a long section has to be packed into several passages
_SENTENCES = [
    "自签收之日起七天内，商品未拆封且不影响二次销售的，可以申请无理由退货。",
    "生鲜、定制类以及已拆封的贴身衣物不支持七天无理由退货，请您下单前确认。",
    "退货时请在订单详情页点击申请售后，填写原因并上传商品照片，等待客服审核。",
    "审核通过后请在三天内寄回商品，并在系统中填写快递单号，逾期申请会自动关闭。",
    "仓库签收退货后会在两个工作日内完成质检，质检合格后系统会自动发起退款流程。",
]
LONG_SECTION = "".join(_SENTENCES * 6)  # ≈ 1,100 characters in one paragraph

MARKDOWN = f"""# 售后服务指南

欢迎阅读 **鲜果优选** 的售后说明 &amp; 常见问题。

## 退货政策

{LONG_SECTION}

## 退款时效

退款审核通过后，款项将在三至五个工作日内原路退回您的支付账户。

<script>alert("md-script")</script>

### 会员退款

VIP 会员的退款优先处理，一般当天到账。

#### 小提示

四级标题不是分段边界。
"""

HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>配送说明页</title>
<style>.x { color: red } STYLE-LEAK</style>
<script>var leak = "SCRIPT-LEAK";</script></head>
<body>
<nav><a href="/">NAV-LEAK</a></nav>
<h1>配送说明</h1>
<p>我们支持全国配送&nbsp;&amp;&nbsp;冷链运输，&lt;生鲜&gt;优先发货。</p>
<script>document.write("SCRIPT-LEAK-2")</script>
<h2>配送范围</h2>
<div><div><p>偏远地区（新疆、西藏）需要额外三天。
   冷链水果会在
   48 小时内送达。</p></div></div>
<noscript>NOSCRIPT-LEAK</noscript>
<h3>运费</h3>
<ul><li>满 99 元包邮</li><li>不满 99 元收取 10 元运费</li></ul>
<!-- COMMENT-LEAK -->
</body></html>
"""

PDF_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>会员积分规则</title></head>
<body>
<h1>会员积分规则</h1>
<h2>积分获取</h2>
<p>每消费一元可获得一个积分，积分在订单完成后七天内到账。</p>
<h2>积分使用</h2>
<p>一百积分可以抵扣一元，每笔订单最多抵扣订单金额的百分之二十。</p>
</body></html>
"""


def _docx_bytes() -> bytes:
    d = docx.Document()
    d.add_heading("发票开具说明", level=0)  # the Title style
    d.add_paragraph("本说明适用于所有线上订单。")
    d.add_heading("电子发票", level=1)
    d.add_paragraph("订单完成后，您可以在订单详情页申请电子发票，一般一个工作日内开具。")
    d.add_heading("纸质发票", level=2)
    d.add_paragraph("纸质增值税专用发票需要联系客服，并提供公司抬头和税号。")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "发票类型"
    table.cell(0, 1).text = "开具时间"
    table.cell(1, 0).text = "电子普票"
    table.cell(1, 1).text = "一个工作日"
    d.add_heading("四级标题", level=4)
    d.add_paragraph("四级标题下的文字。")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def chromium_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A PDF printed from HTML by the real Chromium (missing Chromium fails the test)."""
    tmp = tmp_path_factory.mktemp("pdf")
    src = tmp / "page.html"
    src.write_text(PDF_HTML, encoding="utf-8")
    out = tmp / "page.pdf"
    assert Path(CHROMIUM).exists(), "Chromium is needed to print the PDF fixture"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-pdf-header-footer", f"--print-to-pdf={out}", src.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    return data


def _blank_pdf(password: str | None = None) -> bytes:
    w = PdfWriter()
    w.add_blank_page(width=200, height=200)
    if password is not None:
        w.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _headings(parsed: ParsedDocument) -> list[str]:
    return list(dict.fromkeys(h for h, _ in parsed.sections))


def _all_text(parsed: ParsedDocument) -> str:
    return "\n".join(t for _, t in parsed.sections)


# -- text helpers ---------------------------------------------------------------------------

def test_clean_text_collapses_spaces_and_joins_wrapped_chinese() -> None:
    assert clean_text("  冷链水果会在\n   \n 48  小时内\t送达  ") == "冷链水果会在\n48 小时内送达"
    assert clean_text("退款\u200b 审核 通过") == "退款审核通过"
    assert clean_text("hello   world\r\nnext") == "hello world\nnext"


def test_split_sentences_on_chinese_and_english_ends() -> None:
    assert split_sentences("第一句。第二句！第三句？“第四句。”Then one. And 3.5 kg") == [
        "第一句。", "第二句！", "第三句？", "“第四句。”", "Then one.", "And 3.5 kg"]


def test_split_passages_packs_sentences_between_bounds() -> None:
    parts = split_passages(LONG_SECTION)
    assert len(parts) >= 2
    assert "".join(parts) == LONG_SECTION  # nothing lost, nothing duplicated
    assert all(len(p) <= MAX_PASSAGE for p in parts)
    assert all(len(p) >= MIN_PASSAGE for p in parts)
    assert all(p.endswith("。") for p in parts)  # cut at sentence ends


def test_split_passages_prefers_paragraph_ends() -> None:
    para = "".join(_SENTENCES[:4]) + "这一段到这里结束。"  # ≈ 160 characters
    text = "\n".join([para * 2, para * 2, para * 2])
    parts = split_passages(text)
    assert parts == [para * 2, para * 2, para * 2]


def test_split_passages_cuts_a_sentence_without_ends() -> None:
    run_on = "，".join(["退货地址在上海市浦东新区某某路一号仓库"] * 60)  # no 。 at all
    parts = split_passages(run_on)
    assert len(parts) > 1
    assert all(len(p) <= MAX_PASSAGE for p in parts)
    assert all(p.endswith("，") for p in parts[:-1])  # at a comma, not mid-word


def test_split_passages_short_text_is_one_passage() -> None:
    assert split_passages("  只有一句话。 ") == ["只有一句话。"]
    assert split_passages("   \n ") == []


# -- formats --------------------------------------------------------------------------------

def test_markdown_headings_and_passages() -> None:
    parsed = parse_document(MARKDOWN.encode(), "guide.md")
    assert parsed.format == "markdown"
    assert parsed.title == "售后服务指南"
    assert _headings(parsed) == ["售后服务指南", "退货政策", "退款时效", "会员退款"]
    intro = parsed.sections[0]
    assert intro == ("售后服务指南", "欢迎阅读鲜果优选的售后说明 & 常见问题。")
    policy = [t for h, t in parsed.sections if h == "退货政策"]
    assert len(policy) >= 2
    assert all(len(t) <= MAX_PASSAGE for t in policy)
    assert "".join(policy) == LONG_SECTION
    member = [t for h, t in parsed.sections if h == "会员退款"]
    assert member == ["VIP 会员的退款优先处理，一般当天到账。\n小提示\n四级标题不是分段边界。"]
    assert "md-script" not in _all_text(parsed)
    assert "<" not in _all_text(parsed)


def test_markdown_title_falls_back_to_file_name() -> None:
    parsed = parse_document("没有标题的说明。\n\n第二段。".encode(), "docs/退换货 须知.markdown")
    assert parsed.title == "退换货 须知"
    assert parsed.sections == [("", "没有标题的说明。\n第二段。")]


def test_html_drops_scripts_and_styles_and_decodes_entities() -> None:
    parsed = parse_document(HTML.encode(), "delivery.HTML")
    assert parsed.format == "html"
    assert parsed.title == "配送说明"
    assert _headings(parsed) == ["配送说明", "配送范围", "运费"]
    text = _all_text(parsed)
    for leak in ("SCRIPT-LEAK", "STYLE-LEAK", "NOSCRIPT-LEAK", "COMMENT-LEAK", "color: red",
                 "document.write", "NAV-LEAK"):
        assert leak not in text
    assert dict(parsed.sections)["配送说明"] == "我们支持全国配送 & 冷链运输，<生鲜>优先发货。"
    assert dict(parsed.sections)["配送范围"] == (
        "偏远地区（新疆、西藏）需要额外三天。冷链水果会在 48 小时内送达。")
    assert dict(parsed.sections)["运费"] == "满 99 元包邮\n不满 99 元收取 10 元运费"


def test_html_title_from_title_tag_when_no_heading() -> None:
    parsed = parse_document("<html><head><title>标 题</title></head><body><p>正文。</p></body>"
                            "</html>".encode(), "x.htm")
    assert parsed.title == "标题"
    assert parsed.sections == [("", "正文。")]


def test_deeply_nested_html_does_not_overflow() -> None:
    html = "<div>" * 5000 + "<p>深处的文字。</p>" + "</div>" * 5000
    parsed = parse_document(html.encode(), "deep.html")
    assert parsed.sections == [("", "深处的文字。")]


def test_gb18030_text_is_decoded() -> None:
    parsed = parse_document("# 退货政策\n\n七天无理由退货。".encode("gb18030"), "gbk.md")
    assert parsed.title == "退货政策"
    assert parsed.sections == [("退货政策", "七天无理由退货。")]


def test_utf8_bom_and_utf16_are_decoded() -> None:
    assert decode_text("\ufeff你好".encode()) == "你好"
    assert decode_text("你好".encode("utf-16")) == "你好"


def test_docx_heading_styles_and_tables() -> None:
    parsed = parse_document(_docx_bytes(), "invoice.docx")
    assert parsed.format == "docx"
    assert parsed.title == "发票开具说明"
    assert _headings(parsed) == ["发票开具说明", "电子发票", "纸质发票"]
    sections = dict(parsed.sections)
    assert sections["发票开具说明"] == "本说明适用于所有线上订单。"
    assert sections["电子发票"] == (
        "订单完成后，您可以在订单详情页申请电子发票，一般一个工作日内开具。")
    assert sections["纸质发票"] == (
        "纸质增值税专用发票需要联系客服，并提供公司抬头和税号。\n"
        "发票类型 | 开具时间\n电子普票 | 一个工作日\n四级标题\n四级标题下的文字。")


def test_pdf_printed_by_chromium(chromium_pdf: bytes) -> None:
    parsed = parse_document(chromium_pdf, "points.pdf")
    assert parsed.format == "pdf"
    assert parsed.title == "会员积分规则"
    # the larger font of h1/h2 marks the headings (the h1 has no text of its own)
    assert _headings(parsed) == ["积分获取", "积分使用"]
    sections = dict(parsed.sections)
    assert sections["积分获取"] == "每消费一元可获得一个积分，积分在订单完成后七天内到账。"
    assert sections["积分使用"] == "一百积分可以抵扣一元，每笔订单最多抵扣订单金额的百分之二十。"


# -- bad input ------------------------------------------------------------------------------

def _zip_without_document() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("hello.txt", "not a word file")
    return out.getvalue()


BAD_INPUT = [
    pytest.param(b"hello", "notes.txt", "unsupported_type", id="unsupported"),
    pytest.param(b"MZ\x90\x00", "setup.exe", "unsupported_type", id="exe"),
    pytest.param(b"", "empty.md", "empty_file", id="empty"),
    pytest.param(b"  \n\t ", "blank.html", "empty_file", id="whitespace-only"),
    pytest.param(b"\x89PNG\r\n\x1a\n....", "image.md", "type_mismatch", id="png-as-md"),
    pytest.param(b"# just text", "fake.pdf", "type_mismatch", id="text-as-pdf"),
    pytest.param(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage \x00\x01", "broken.pdf",
                 "pdf_corrupt", id="corrupt-pdf"),
    pytest.param(b"%PDF-1.4\n%%EOF", "stub.pdf", "pdf_corrupt", id="stub-pdf"),
    pytest.param("这不是 zip".encode(), "text.docx", "docx_not_zip", id="docx-not-zip"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.docx", "docx_not_zip",
                 id="doc-97"),
    pytest.param(_zip_without_document(), "other.docx", "docx_corrupt", id="zip-not-docx"),
    pytest.param(b"PK\x03\x04" + b"\x00" * 40, "truncated.docx", "docx_corrupt",
                 id="broken-zip"),
    pytest.param(b"\x80\x80\xff\xfe\xfd", "binary.md", "bad_encoding", id="undecodable"),
    pytest.param(b"<html><script>x()</script><style>p{}</style></html>", "nothing.html",
                 "no_text", id="html-without-text"),
    pytest.param(b"# \n\n---\n", "nothing.md", "no_text", id="markdown-without-text"),
]


@pytest.mark.parametrize(("data", "filename", "code"), BAD_INPUT)
def test_bad_input_has_a_code_and_a_bilingual_message(data: bytes, filename: str,
                                                      code: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_document(data, filename)
    assert info.value.code == code
    zh, _, en = info.value.message.partition(" / ")
    assert zh and en, info.value.message
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    assert en.isascii()


def test_too_large() -> None:
    with pytest.raises(Invalid) as info:
        parse_document(b"a" * (MAX_BYTES + 1), "huge.md")
    assert info.value.code == "file_too_large"


def test_truncated_chromium_pdf_is_corrupt(chromium_pdf: bytes) -> None:
    with pytest.raises(Invalid) as info:
        parse_document(chromium_pdf[: len(chromium_pdf) // 3], "cut.pdf")
    assert info.value.code == "pdf_corrupt"


def test_encrypted_pdf() -> None:
    with pytest.raises(Invalid) as info:
        parse_document(_blank_pdf(password="s3cret"), "locked.pdf")
    assert info.value.code == "pdf_encrypted"


def test_scanned_pdf_without_text_says_ocr_is_not_supported() -> None:
    with pytest.raises(Invalid) as info:
        parse_document(_blank_pdf(), "scan.pdf")
    assert info.value.code == "no_text"
    assert "OCR" in info.value.message


def test_too_many_passages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb_documents, "MAX_PASSAGES", 2)
    with pytest.raises(Invalid) as info:
        parse_document(b"# a\n\none\n\n# b\n\ntwo\n\n# c\n\nthree", "many.md")
    assert info.value.code == "too_many_passages"


# -- actions and reads -----------------------------------------------------------------------

def _events(svc: Services) -> list[Event]:
    seen: list[Event] = []
    svc.bus.subscribe("kb.document_changed", seen.append)
    return seen


def test_import_stores_passages_audits_and_emits(svc: Services, uows: UowFactory,
                                                 world: World) -> None:
    seen = _events(svc)
    with uows() as uow:
        doc = do_import_document(uow, world.admin_wang, data=MARKDOWN.encode(),
                                 filename="C:\\docs\\guide.md")
        doc_id = doc.id
    assert [(e.document_id, e.deleted) for e in seen if isinstance(e, DocumentChanged)] == [
        (doc_id, False)]
    assert len(seen) == 1
    parsed = parse_document(MARKDOWN.encode(), "guide.md")
    with uows(readonly=True) as uow:
        row = uow.session.get(Document, doc_id)
        assert row is not None
        assert (row.title, row.format, row.source_name, row.status, row.workspace_id) == (
            "售后服务指南", "markdown", "guide.md", "published", world.ws_a)
        passages = list(uow.session.scalars(select(Passage).where(Passage.document_id == doc_id)
                                            .order_by(Passage.ordinal)))
        assert [(p.ordinal, p.heading, p.text) for p in passages] == [
            (i, h, t) for i, (h, t) in enumerate(parsed.sections)]
        audit = list(uow.session.scalars(select(AuditEntry).where(
            AuditEntry.object_id == doc_id)))
        assert [(a.action, a.actor_id, a.data["passages"]) for a in audit] == [
            ("kb.document_imported", world.admin_wang.user_id, len(parsed.sections))]


def test_import_with_a_given_title(uows: UowFactory, world: World) -> None:
    with uows() as uow:
        doc = do_import_document(uow, world.supervisor_zhao, data=_docx_bytes(),
                                 filename="invoice.docx", title="  发票 FAQ  ")
        assert doc.title == "发票 FAQ"
    with uows() as uow, pytest.raises(Invalid) as info:
        do_import_document(uow, world.admin_wang, data=_docx_bytes(), filename="i.docx",
                           title="长" * 201)
    assert info.value.code == "too_long"


def test_agent_cannot_import(uows: UowFactory, world: World) -> None:
    with uows() as uow, pytest.raises(PermissionDenied):
        do_import_document(uow, world.agent_li, data=MARKDOWN.encode(), filename="g.md")


def test_bad_file_stores_nothing(uows: UowFactory, world: World) -> None:
    with uows() as uow, pytest.raises(Invalid):
        do_import_document(uow, world.admin_wang, data=_blank_pdf(), filename="scan.pdf")
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(func.count(Document.id)).where(
            Document.workspace_id == world.ws_a)) == 0


def test_list_and_get_documents(uows: UowFactory, world: World) -> None:
    with uows() as uow:
        a = do_import_document(uow, world.admin_wang, data=MARKDOWN.encode(), filename="g.md")
        b = do_import_document(uow, world.admin_wang, data=HTML.encode(), filename="d.html")
        ids = (a.id, b.id)
    with uows() as uow:
        do_import_document(uow, world.admin_b, data=HTML.encode(), filename="other.html")
    with uows(readonly=True) as uow:
        listed = list_documents(uow.session, world.agent_li)
        assert {d.id for d in listed} == set(ids)
        counts = {d.id: d.passage_count for d in listed}
        assert counts[ids[1]] == len(parse_document(HTML.encode(), "d.html").sections)
        detail = get_document(uow.session, world.agent_li, ids[1])
        assert detail.title == "配送说明"
        assert [p.ordinal for p in detail.passages] == list(range(detail.passage_count))
        assert detail.passages[1].heading == "配送范围"
        assert all("SCRIPT-LEAK" not in p.text for p in detail.passages)
        with pytest.raises(NotFound):
            get_document(uow.session, world.admin_b, ids[0])


def test_delete_removes_passages(svc: Services, uows: UowFactory, world: World) -> None:
    with uows() as uow:
        doc_id = do_import_document(uow, world.admin_wang, data=MARKDOWN.encode(),
                                    filename="g.md").id
    seen = _events(svc)
    with uows() as uow, pytest.raises(NotFound):
        do_delete_document(uow, world.admin_b, doc_id)  # another workspace's document
    with uows() as uow, pytest.raises(PermissionDenied):
        do_delete_document(uow, world.agent_li, doc_id)
    with uows() as uow:
        do_delete_document(uow, world.admin_wang, doc_id)
    assert [(e.document_id, e.deleted) for e in seen if isinstance(e, DocumentChanged)] == [
        (doc_id, True)]
    assert len(seen) == 1
    with uows(readonly=True) as uow:
        assert uow.session.get(Document, doc_id) is None
        assert uow.session.scalar(select(func.count(Passage.id)).where(
            Passage.document_id == doc_id)) == 0
        actions = list(uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == doc_id).order_by(AuditEntry.at, AuditEntry.action)))
        assert sorted(actions) == ["kb.document_deleted", "kb.document_imported"]


def test_load_passage_index_reads_published_documents_of_one_workspace(
        uows: UowFactory, world: World) -> None:
    with uows() as uow:
        shown = do_import_document(uow, world.admin_wang, data=HTML.encode(),
                                   filename="d.html").id
        hidden = do_import_document(uow, world.admin_wang, data=_docx_bytes(),
                                    filename="i.docx")
        hidden.status = "archived"
        do_import_document(uow, world.admin_b, data=_docx_bytes(), filename="b.docx")
    tok = Tokeniser(stop_words=DEFAULT_STOP_WORDS)
    with uows(readonly=True) as uow:
        index = load_passage_index(uow.session, world.ws_a, tok)
    assert len(index) == len(parse_document(HTML.encode(), "d.html").sections)
    hits = index.best("偏远地区配送要几天")
    assert hits[0].document_id == shown
    assert hits[0].heading == "配送范围"
    assert hits[0].document_title == "配送说明"
    assert index.best("电子发票怎么开") == [] or all(
        h.document_id == shown for h in index.best("电子发票怎么开"))
