"""Documents: Markdown, HTML, PDF and DOCX files imported as articles split into passages.

``parse_document`` is pure (bytes in, sections out) and refuses bad input with
:class:`kefu.core.errors.Invalid` (a machine ``code`` and a zh / en message), never a stack
trace. ``do_import_document`` / ``do_delete_document`` are the writes (audited, emitting
:class:`kefu.kb.events.DocumentChanged`); ``list_documents`` / ``get_document`` the reads.
The passage index the bot answers from is :mod:`kefu.kb.passages`.

Splitting (see docs/subsystems/documents.md): headings (Markdown / HTML h1–h3, DOCX Heading 1–3
styles, PDF lines set in a larger font than the body) start a new section; PDF pages are
boundaries too. A section longer than ``MAX_PASSAGE`` characters is packed into passages of
about ``MIN_PASSAGE``–``MAX_PASSAGE`` characters, cut at paragraph ends when possible, then at
sentence ends (。！？!? and ". "), then at commas, and only as a last resort mid-text.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.core.audit import record
from kefu.core.errors import Invalid
from kefu.core.ids import new_id
from kefu.core.uow import UnitOfWork
from kefu.kb.access import access_document
from kefu.kb.events import DocumentChanged
from kefu.kb.models import Document, Passage

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
#: a DOCX is a zip: refuse one whose parts would inflate beyond this (zip bombs)
MAX_UNZIPPED = 200 * 1024 * 1024
MIN_PASSAGE = 300
MAX_PASSAGE = 600
MAX_PASSAGES = 10_000
MAX_TITLE = 200
MAX_HEADING = 300

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
           ".pdf": "pdf", ".docx": "docx"}

#: leading bytes of the binary formats we can recognise, and what to call them
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP/DOCX"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Word 97-2003 (.doc) / encrypted Office"),
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"\x1f\x8b", "gzip"),
    (b"Rar!", "RAR"),
    (b"7z\xbc\xaf", "7z"),
)
#: dropped with everything inside: code, styling, widgets and site navigation
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
              "canvas", "head", "button", "select", "textarea", "nav")
_BLOCK_TAGS = frozenset((
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h4", "h5", "h6",
    "header", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "ul"))
_HEADINGS = ("h1", "h2", "h3")

_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACES = re.compile(r"[^\S\n]+")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
#: the end of a sentence: Chinese 。！？, ASCII !? , or a full stop followed by a space
_SENTENCE_END = re.compile(r"(?:[。！？!?]+|…+|\.(?=\s))[”’」』）)\"']*")
_SOFT_BREAK = re.compile(r"[，,；;、：:]\s*|\s+")
_HTML_SPACE = re.compile(r"\s+")
_HEADING_STYLE = re.compile(r"^heading ([1-9])$", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedDocument:
    """A parsed file. ``sections`` are the passages to store, in order:
    ``(heading, text)``, each text at most about ``MAX_PASSAGE`` characters."""

    title: str
    format: str
    sections: list[tuple[str, str]]


def _invalid(zh: str, en: str, code: str, **details: Any) -> Invalid:
    return Invalid(f"{zh} / {en}", code=code, **details)


# -- text helpers ---------------------------------------------------------------------------

def clean_text(text: str) -> str:
    """Whitespace-normalise: runs of spaces/tabs become one space, no space between two CJK
    characters (line wraps inside Chinese text), one newline between paragraphs."""
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_CJK_GAP.sub("", _SPACES.sub(" ", line)).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (ends: 。！？!?… and ". "; a newline ends one too)."""
    out: list[str] = []
    for line in text.split("\n"):
        start = 0
        for m in _SENTENCE_END.finditer(line):
            piece = line[start:m.end()].strip()
            if piece:
                out.append(piece)
            start = m.end()
        tail = line[start:].strip()
        if tail:
            out.append(tail)
    return out


def _hard_split(sentence: str, limit: int) -> list[str]:
    """A sentence longer than ``limit``: cut at the last comma/space before it, else at it."""
    out: list[str] = []
    while len(sentence) > limit:
        cut = 0
        for m in _SOFT_BREAK.finditer(sentence, 0, limit):
            if m.end() > limit // 2:
                cut = m.end()
        if cut == 0:
            cut = limit
        out.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        out.append(sentence)
    return out


def split_passages(text: str, *, min_chars: int = MIN_PASSAGE,
                   max_chars: int = MAX_PASSAGE) -> list[str]:
    """Pack the paragraphs of one section into passages of about ``min_chars``–``max_chars``
    characters: a passage ends at a paragraph end once it is long enough, and never grows
    beyond ``max_chars`` (it is cut at a sentence end, then a comma, then anywhere)."""
    text = clean_text(text)
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    # units: (piece, joiner before it, ends a paragraph)
    units: list[tuple[str, str, bool]] = []
    for para in text.split("\n"):
        pieces = [p for s in split_sentences(para) for p in _hard_split(s, max_chars)]
        for i, piece in enumerate(pieces):
            joiner = "\n" if i == 0 else ("" if _is_cjk_edge(pieces[i - 1], piece) else " ")
            units.append((piece, joiner, i == len(pieces) - 1))
    out: list[str] = []
    cur = ""
    for piece, joiner, para_end in units:
        if cur and len(cur) + len(joiner) + len(piece) > max_chars:
            out.append(cur)
            cur = ""
        cur = piece if not cur else cur + joiner + piece
        if para_end and len(cur) >= min_chars:
            out.append(cur)
            cur = ""
    if cur:
        if out and len(cur) < min_chars and len(out[-1]) + 1 + len(cur) <= max_chars:
            out[-1] = out[-1] + "\n" + cur
        else:
            out.append(cur)
    return out


def _is_cjk_edge(left: str, right: str) -> bool:
    return bool(re.match(f"[{_CJK}]", left[-1:]) or re.match(f"[{_CJK}]", right[:1]))


class _Builder:
    """Collects (heading, text) sections while a parser walks a file."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, list[str]]] = []
        self.heading = ""
        self.first_heading = ""
        self.buf: list[str] = []

    def text(self, s: str) -> None:
        self.buf.append(s)

    def paragraph_end(self) -> None:
        if self.buf and self.buf[-1] != "\n":
            self.buf.append("\n")

    def start_section(self, heading: str, *, real: bool = True) -> None:
        """A section boundary; ``real=False``: a page break, not a heading of the file."""
        heading = clean_text(heading).replace("\n", " ")
        self.flush()
        if heading:
            self.heading = heading[:MAX_HEADING]
            if real and not self.first_heading:
                self.first_heading = heading
        self.sections.append((self.heading, []))

    def flush(self) -> None:
        if not self.buf:
            return
        if not self.sections:
            self.sections.append((self.heading, []))
        self.sections[-1][1].append("".join(self.buf))
        self.buf = []

    def result(self) -> list[tuple[str, str]]:
        self.flush()
        out: list[tuple[str, str]] = []
        for heading, parts in self.sections:
            out.extend((heading, p) for p in split_passages("\n".join(parts)))
        return out


# -- decoding and sniffing ------------------------------------------------------------------

def _sniff(data: bytes) -> str | None:
    head = data[:1024]
    if b"%PDF-" in head:
        return "PDF"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, then GB18030; else ``bad_encoding``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise _invalid("无法识别文件编码，请另存为 UTF-8", "The text is neither UTF-8 nor GB18030; "
                   "save it as UTF-8", "bad_encoding")


# -- formats --------------------------------------------------------------------------------

def _parse_html(text: str) -> tuple[str, list[tuple[str, str]]]:
    from bs4 import BeautifulSoup, Tag
    from bs4.element import NavigableString, PreformattedString

    soup = BeautifulSoup(text, "html.parser")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_DROP_TAGS):
        if isinstance(tag, Tag):
            tag.extract()
    b = _Builder()
    # an explicit stack, not recursion: deeply nested markup must not exhaust the stack
    stack: list[Any] = [soup]
    while stack:
        node = stack.pop()
        if node is None:  # end of a block element
            b.paragraph_end()
        elif isinstance(node, Tag):
            name = (node.name or "").lower()
            if name in _HEADINGS:
                b.start_section(node.get_text(" "))
            elif name == "br":
                b.paragraph_end()
            elif name == "pre":  # preformatted: its line breaks are real
                b.paragraph_end()
                for line in node.get_text().split("\n"):
                    b.text(line)
                    b.paragraph_end()
            else:
                if name in _BLOCK_TAGS:
                    b.paragraph_end()
                    stack.append(None)
                stack.extend(reversed(list(node.children)))
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            b.text(_HTML_SPACE.sub(" ", str(node)))  # a source line break is a space in HTML
    return b.first_heading or page_title, b.result()


def _parse_markdown(text: str) -> tuple[str, list[tuple[str, str]]]:
    from markdown_it import MarkdownIt

    # rendered to HTML, then read like any HTML page (entities decoded, raw <script> dropped)
    html = MarkdownIt("commonmark").enable("table").render(text)
    return _parse_html(html)


def _docx_heading_level(paragraph: Any) -> int | None:
    style = paragraph.style
    for _ in range(10):  # custom styles based on a heading style count as that heading
        if style is None:
            return None
        name = str(style.name or "")
        if name.lower() == "title":
            return 0
        m = _HEADING_STYLE.match(name)
        if m:
            return int(m.group(1))
        style = style.base_style
    return None


def _parse_docx(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    if not data.startswith(b"PK\x03\x04"):
        raise _invalid("这不是有效的 DOCX 文件（不是 zip 格式，可能是旧版 .doc 或已加密）",
                       "This is not a DOCX file (not a zip: maybe an old .doc or an encrypted "
                       "file)", "docx_not_zip", found=_sniff(data) or "unknown")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            size = sum(i.file_size for i in zf.infolist())
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _invalid("DOCX 文件已损坏", "The DOCX file is damaged", "docx_corrupt") from exc
    if size > MAX_UNZIPPED:
        raise _invalid("DOCX 解压后过大", "The DOCX file inflates to more than 200 MB",
                       "file_too_large")
    if "word/document.xml" not in names:
        raise _invalid("这个 zip 文件不是 Word 文档", "This zip file is not a Word document",
                       "docx_corrupt")
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        b = _Builder()
        title = ""
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                level = _docx_heading_level(block)
                if level == 0 and not title:
                    title = clean_text(block.text).replace("\n", " ")
                    b.start_section(block.text)
                elif level is not None and level <= 3:
                    b.start_section(block.text)
                else:
                    b.text(block.text)
                    b.paragraph_end()
            elif isinstance(block, Table):
                for row in block.rows:
                    cells: list[str] = []
                    for cell in row.cells:
                        t = clean_text(cell.text).replace("\n", " ")
                        if t and (not cells or cells[-1] != t):  # merged cells repeat
                            cells.append(t)
                    b.text(" | ".join(cells))
                    b.paragraph_end()
        props_title = str(document.core_properties.title or "").strip()
    except Invalid:
        raise
    except Exception as exc:
        log.info("DOCX could not be read: %r", exc)
        raise _invalid("DOCX 文件已损坏", "The DOCX file is damaged", "docx_corrupt") from exc
    return title or b.first_heading or props_title, b.result()


def _pdf_heading_rows(page: Any) -> set[str]:
    """Texts (spaces removed) of the lines set in a font clearly larger than the body's."""
    rows: dict[float, list[Any]] = {}

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, size: float) -> None:
        if not text.strip():
            return
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        eff = float(size) * abs(a * d - b * c) ** 0.5
        row = rows.setdefault(round(y, 0), ["", 0.0])
        row[0] += text
        row[1] = max(row[1], eff)

    page.extract_text(visitor_text=visit)
    if not rows:
        return set()
    weights = [(size, len(t)) for t, size in rows.values()]
    body = statistics.median_high([s for s, n in weights for _ in range(min(n, 200))])
    return {re.sub(r"\s+", "", t) for t, size in rows.values()
            if size >= 1.15 * body and 0 < len(t.strip()) <= 80}


def _parse_pdf(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    corrupt = _invalid("PDF 文件已损坏，无法读取", "The PDF file is damaged and cannot be read",
                       "pdf_corrupt")
    encrypted = _invalid("PDF 已加密，请先去除密码再导入", "The PDF is encrypted; remove the "
                         "password before importing", "pdf_encrypted")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise encrypted from exc
            if not ok:
                raise encrypted
        pages = list(reader.pages)
        meta = reader.metadata
        meta_title = str(meta.title or "").strip() if meta is not None else ""
        b = _Builder()
        for number, page in enumerate(pages, start=1):
            text = page.extract_text() or ""
            try:
                headings = _pdf_heading_rows(page)
            except Exception:  # heading detection is a bonus; the page text is what counts
                headings = set()
            b.start_section(b.heading or f"第 {number} 页", real=False)
            _pdf_page(b, text, headings)
    except Invalid:
        raise
    except FileNotDecryptedError as exc:
        raise encrypted from exc
    except Exception as exc:
        log.info("PDF could not be read: %r", exc)
        raise corrupt from exc
    if not pages:
        raise corrupt
    return meta_title or b.first_heading, b.result()


def _pdf_page(b: _Builder, text: str, headings: set[str]) -> None:
    """Lines → paragraphs: a line ends its paragraph after a sentence end or when it is
    clearly shorter than the page's full lines; heading lines start a section."""
    lines = [ln.strip() for ln in text.split("\n")]
    full = max((len(ln) for ln in lines), default=0)
    for line in lines:
        if not line:
            b.paragraph_end()
            continue
        if re.sub(r"\s+", "", line) in headings:
            b.start_section(line)
            continue
        b.text(line + " ")
        if re.search(r"[。！？!?.:：]$", line) or len(line) < 0.6 * full:
            b.paragraph_end()


# -- parse_document --------------------------------------------------------------------------

def parse_document(data: bytes, filename: str) -> ParsedDocument:
    """Parse one uploaded file into a title and passages; bad input raises ``Invalid``."""
    suffix = PurePath(filename).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise _invalid("不支持的文件类型，请上传 Markdown、HTML、PDF 或 DOCX",
                       "Unsupported file type; upload Markdown, HTML, PDF or DOCX",
                       "unsupported_type", suffix=suffix)
    if not data.strip():
        raise _invalid("文件是空的", "The file is empty", "empty_file")
    if len(data) > MAX_BYTES:
        raise _invalid("文件超过 20 MB", "The file is larger than 20 MB", "file_too_large",
                       max_bytes=MAX_BYTES)
    found = _sniff(data)
    if fmt == "pdf":
        if found != "PDF":
            raise _invalid("文件内容不是 PDF", "The file's content is not a PDF",
                           "type_mismatch", expected="pdf", found=found or "text")
        title, sections = _parse_pdf(data)
    elif fmt == "docx":
        title, sections = _parse_docx(data)
    else:
        if found is not None:
            raise _invalid(f"文件内容是 {found}，不是文本", f"The file's content is {found}, "
                           "not text", "type_mismatch", expected=fmt, found=found)
        text = decode_text(data)
        title, sections = (_parse_markdown(text) if fmt == "markdown" else _parse_html(text))
    if not sections:
        if fmt == "pdf":
            raise _invalid("PDF 中没有可提取的文字（可能是扫描件）；暂不支持 OCR 文字识别",
                           "The PDF has no text layer (a scan?); OCR is not supported",
                           "no_text")
        raise _invalid("文件中没有文字", "The document contains no text", "no_text")
    if len(sections) > MAX_PASSAGES:
        raise _invalid(f"文档过长（超过 {MAX_PASSAGES} 段）", f"The document is too long "
                       f"(more than {MAX_PASSAGES} passages)", "too_many_passages")
    title = clean_text(title).replace("\n", " ")[:MAX_TITLE] or _stem(filename)
    return ParsedDocument(title=title, format=fmt, sections=sections)


def _stem(filename: str) -> str:
    name = PurePath(filename.replace("\\", "/")).stem.strip()
    return (name or filename)[:MAX_TITLE]


# -- actions --------------------------------------------------------------------------------

def check_import_document(uow: UnitOfWork, actor: Actor, *, data: bytes, filename: str,
                          title: str | None = None) -> tuple[ParsedDocument, str]:
    """Authorise and parse; returns the parsed document and the title to store."""
    actor.require("kb.write")
    if title is not None:
        title = clean_text(title).replace("\n", " ")
        if len(title) > MAX_TITLE:
            raise _invalid(f"标题不能超过 {MAX_TITLE} 字", f"The title is longer than "
                           f"{MAX_TITLE}", "too_long", field="title", max_length=MAX_TITLE)
    parsed = parse_document(data, filename)
    return parsed, title or parsed.title


def do_import_document(uow: UnitOfWork, actor: Actor, *, data: bytes, filename: str,
                       title: str | None = None) -> Document:
    """Store a document and its passages (published at once), audited; emits
    ``DocumentChanged``."""
    parsed, final_title = check_import_document(uow, actor, data=data, filename=filename,
                                                title=title)
    now = uow.clock.now()
    doc = Document(id=new_id(), workspace_id=actor.workspace_id, title=final_title,
                   source_name=PurePath(filename.replace("\\", "/")).name[:200],
                   format=parsed.format, status="published", created_at=now, updated_at=now)
    uow.session.add(doc)
    uow.session.flush()
    uow.session.add_all(
        Passage(id=new_id(), workspace_id=doc.workspace_id, document_id=doc.id, ordinal=i,
                heading=heading, text=text)
        for i, (heading, text) in enumerate(parsed.sections))
    uow.session.flush()
    record(uow, workspace_id=doc.workspace_id, actor_id=actor.user_id or None,
           action="kb.document_imported", object_type="kb_document", object_id=doc.id,
           data={"title": doc.title, "format": doc.format, "source_name": doc.source_name,
                 "passages": len(parsed.sections), "bytes": len(data)})
    uow.emit(DocumentChanged(workspace_id=doc.workspace_id, document_id=doc.id))
    return doc


def do_delete_document(uow: UnitOfWork, actor: Actor, document_id: str) -> None:
    """Delete a document and its passages, audited; emits ``DocumentChanged(deleted=True)``."""
    actor.require("kb.write")
    doc = access_document(actor, document_id, session=uow.session)
    uow.session.execute(delete(Passage).where(Passage.document_id == doc.id))
    record(uow, workspace_id=doc.workspace_id, actor_id=actor.user_id or None,
           action="kb.document_deleted", object_type="kb_document", object_id=doc.id,
           data={"title": doc.title, "source_name": doc.source_name})
    uow.session.delete(doc)
    uow.session.flush()
    uow.emit(DocumentChanged(workspace_id=doc.workspace_id, document_id=document_id,
                             deleted=True))


# -- reads ----------------------------------------------------------------------------------

class PassageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    ordinal: int
    heading: str
    text: str


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    source_name: str
    format: str
    status: str
    created_at: datetime
    updated_at: datetime
    passage_count: int = 0


class DocumentDetail(DocumentRead):
    passages: list[PassageRead]


def list_documents(session: Session, actor: Actor) -> list[DocumentRead]:
    """The workspace's documents with their passage counts, newest first."""
    actor.require("kb.read")
    counts: dict[str, int] = {}
    for doc_id, n in session.execute(
            select(Passage.document_id, func.count(Passage.id))
            .where(Passage.workspace_id == actor.workspace_id)
            .group_by(Passage.document_id)):
        counts[doc_id] = n
    rows = session.scalars(select(Document).where(Document.workspace_id == actor.workspace_id)
                           .order_by(Document.created_at.desc(), Document.id))
    return [DocumentRead.model_validate(r).model_copy(update={"passage_count": counts.get(r.id, 0)})
            for r in rows]


def get_document(session: Session, actor: Actor, document_id: str) -> DocumentDetail:
    """One document with its passages in order (``NotFound`` for another workspace's)."""
    doc = access_document(actor, document_id, session=session)
    passages = [PassageRead.model_validate(p) for p in _passages(session, doc.id)]
    base = DocumentRead.model_validate(doc).model_dump()
    base["passage_count"] = len(passages)
    return DocumentDetail(**base, passages=passages)


def _passages(session: Session, document_id: str) -> Iterator[Passage]:
    yield from session.scalars(select(Passage).where(Passage.document_id == document_id)
                               .order_by(Passage.ordinal))
