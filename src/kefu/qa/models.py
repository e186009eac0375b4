"""Quality-inspection tables: rules, word packs and scorecards (versioned), inspection results
and their hits, live alerts, appeals and batch runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdMixin

HIT_REVIEW = ("open", "confirmed", "overruled")
INSPECTION_STATUS = ("auto", "reviewed", "appealed", "final")
APPEAL_STATUS = ("open", "accepted", "rejected")
RUN_STATUS = ("running", "done", "failed")


class QaRule(IdMixin, Base):
    """One inspection rule of a workspace. ``definition`` is ``kefu.qa.spec.rule_to_dict`` of
    the rule (its ``id`` field is ``key``); ``inbox_ids`` empty = every inbox. Every change
    bumps ``version`` and writes a ``QaRuleVersion``; a deleted rule keeps its row
    (``deleted_at``) so old results still name it."""

    __tablename__ = "qa_rules"
    __table_args__ = (UniqueConstraint("workspace_id", "key", name="uq_qa_rules_ws_key"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    inbox_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class QaRuleVersion(IdMixin, Base):
    """A snapshot of a rule after each change (who, when, the full definition)."""

    __tablename__ = "qa_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version", name="uq_qa_rule_versions"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("qa_rules.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    #: {"name", "enabled", "inbox_ids", "definition"} as saved
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[str | None] = mapped_column(String(24))
    at: Mapped[datetime]


class QaWordPack(IdMixin, Base):
    """A workspace's word pack; one named like a built-in pack replaces it."""

    __tablename__ = "qa_word_packs"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_qa_word_packs_ws_name"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclusions: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str | None] = mapped_column(String(24))
    updated_at: Mapped[datetime]


class QaScorecard(IdMixin, Base):
    """Base score, group weights and per-rule item overrides
    (``{rule_key: {deduction, per_hit, cap, fatal, group}}``; a rule not listed scores with its
    own fields). ``inbox_ids`` empty + ``is_default``: the workspace's default card."""

    __tablename__ = "qa_scorecards"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    base: Mapped[float] = mapped_column(Float, default=100.0)
    group_weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    items: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inbox_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    team_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class QaInspection(IdMixin, Base):
    """The inspection of one conversation (re-inspecting replaces it: one row per
    conversation). ``score`` is recomputed when hits are overruled on review or appeal."""

    __tablename__ = "qa_inspections"
    __table_args__ = (Index("ix_qa_inspections_ws_time", "workspace_id", "inspected_at"),
                      Index("ix_qa_inspections_ws_agent", "workspace_id", "agent_id"))

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    inbox_id: Mapped[str] = mapped_column(String(24))
    team_id: Mapped[str | None] = mapped_column(String(24))
    #: the agent judged (the conversation's assignee when inspected)
    agent_id: Mapped[str | None] = mapped_column(String(24))
    scorecard_id: Mapped[str | None] = mapped_column(String(24))
    #: the scorecard as used: {"base", "group_weights", "items": {rule_key: ScoreItem fields}}
    #: (the items of the rules that hit), so review and appeal re-score with the same card
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    base: Mapped[float] = mapped_column(Float, default=100.0)
    score: Mapped[float] = mapped_column(Float)
    fatal: Mapped[bool] = mapped_column(Boolean, default=False)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    #: hash of the rule set + scorecard used
    rules_version: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="auto")
    #: why it is in the review queue (fatal / low_score / low_csat / random), or None
    sampled: Mapped[str | None] = mapped_column(String(16))
    reviewed_by: Mapped[str | None] = mapped_column(String(24))
    reviewed_at: Mapped[datetime | None]
    appeal_deadline: Mapped[datetime | None]
    run_id: Mapped[str | None] = mapped_column(String(24))
    conversation_at: Mapped[datetime]
    inspected_at: Mapped[datetime]


class QaHit(IdMixin, Base):
    """One rule hit of an inspection; ``span`` is into the message's content."""

    __tablename__ = "qa_hits"
    __table_args__ = (Index("ix_qa_hits_ws_rule", "workspace_id", "rule_key"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    inspection_id: Mapped[str] = mapped_column(
        ForeignKey("qa_inspections.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[str] = mapped_column(String(24), index=True)
    message_id: Mapped[str | None] = mapped_column(String(24))
    message_index: Mapped[int | None] = mapped_column(Integer)
    rule_key: Mapped[str] = mapped_column(String(64))
    rule_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    span_start: Mapped[int | None] = mapped_column(Integer)
    span_end: Mapped[int | None] = mapped_column(Integer)
    deduction: Mapped[float] = mapped_column(Float, default=0.0)
    fatal: Mapped[bool] = mapped_column(Boolean, default=False)
    group: Mapped[str] = mapped_column(String(64), default="")
    review: Mapped[str] = mapped_column(String(16), default="open")
    review_comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str | None] = mapped_column(String(24))
    reviewed_at: Mapped[datetime | None]


class QaAlert(IdMixin, Base):
    """A live alert: a message hit an alerting rule (or an agent overrode a block).
    Unique per (message, rule), so a retried check never alerts twice."""

    __tablename__ = "qa_alerts"
    __table_args__ = (UniqueConstraint("message_id", "rule_key", name="uq_qa_alerts_msg_rule"),
                      Index("ix_qa_alerts_ws_time", "workspace_id", "created_at"))

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(24))
    rule_key: Mapped[str] = mapped_column(String(64))
    rule_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    #: "alert", "anger" or "override" (an agent sent a blocked message anyway)
    reason: Mapped[str] = mapped_column(String(16), default="alert")
    sender_type: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str | None] = mapped_column(String(24))
    #: [[start, end], …] into ``excerpt``
    spans: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    excerpt: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(24))
    acknowledged_at: Mapped[datetime | None]


class QaAppeal(IdMixin, Base):
    """An agent's appeal against an inspection (optionally one hit); a supervisor decides."""

    __tablename__ = "qa_appeals"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    inspection_id: Mapped[str] = mapped_column(
        ForeignKey("qa_inspections.id", ondelete="CASCADE"), index=True)
    hit_id: Mapped[str | None] = mapped_column(String(24))
    agent_id: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(24))
    decided_at: Mapped[datetime | None]
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class QaRun(IdMixin, Base):
    """A batch re-inspection (``kefu qa run``): resumable from ``cursor`` (the last
    conversation done, in (created_at, id) order)."""

    __tablename__ = "qa_runs"

    workspace_id: Mapped[str | None] = mapped_column(String(24), index=True)
    since: Mapped[datetime]
    until: Mapped[datetime]
    rule_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    cursor_at: Mapped[datetime | None]
    cursor_id: Mapped[str | None] = mapped_column(String(24))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
