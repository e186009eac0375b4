"""Knowledge center tables: categories, FAQ entries and their versions, synonyms, small talk,
documents and passages. Every row carries ``workspace_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin

ENTRY_STATUSES = ("draft", "published", "archived")
CHANNEL_KEYS = ("web", "wechat", "email")


class Category(IdMixin, Base):
    """A node of the category tree (several levels)."""

    __tablename__ = "kb_categories"
    __table_args__ = (UniqueConstraint("workspace_id", "parent_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class FaqEntry(IdMixin, Base):
    """One FAQ entry: a standard question, its similar phrasings and its answers."""

    __tablename__ = "kb_entries"
    __table_args__ = (Index("ix_kb_entries_ws_status", "workspace_id", "status"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    question: Mapped[str] = mapped_column(String(200))
    #: similar phrasings (相似问法), in the order the editor gave them
    phrasings: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the default answer (Markdown); shown escaped-then-formatted, never as raw HTML
    answer: Mapped[str] = mapped_column(Text)
    #: optional per-channel variants: {"web": "...", "wechat": "...", "email": "..."}
    channel_answers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    category_id: Mapped[str | None] = mapped_column(
        ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True)
    #: related questions (关联问题): ids of other entries, shown under the answer
    related_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FaqVersion(IdMixin, Base):
    """An immutable snapshot of an entry after each change (history, diff, rollback)."""

    __tablename__ = "kb_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_id: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class Synonym(IdMixin, Base):
    """A synonym group (快递=物流=发货: the first term is canonical) or, with one term, a
    protected term (a product name kept whole). ``kind='stop'`` lists stop words."""

    __tablename__ = "kb_synonyms"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="synonym")  # synonym | term | stop
    terms: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SmallTalk(IdMixin, Base):
    """Out-of-scope chit-chat (你好 / 谢谢 / 你是机器人吗) with its reply; editable."""

    __tablename__ = "kb_smalltalk"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    phrasings: Mapped[list[str]] = mapped_column(JSON)
    reply: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Document(IdMixin, Base):
    """An imported article (Markdown, HTML, PDF, DOCX), split into passages."""

    __tablename__ = "kb_documents"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(200), default="")
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Passage(IdMixin, Base):
    __tablename__ = "kb_passages"
    __table_args__ = (UniqueConstraint("document_id", "ordinal"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("kb_documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
