"""The knowledge health check (知识体检): what in a workspace's FAQ needs an editor's eye.

Kinds of issue (see ``docs/subsystems/kb-transfer.md``):

``collision``
    a question or phrasing of entry A equals one of entry B after :func:`normalise` (spaces
    ignored), or is near-identical (rapidfuzz ``ratio`` ≥ 92), while the answers differ: the
    bot cannot tell them apart.
``duplicate``
    the same, but the answers are the same too (after normalising): one entry is redundant.
``expired_published``
    published, but ``valid_until`` has passed.
``never_hit``
    published, valid, older than N days and not used by the bot in the last N days.
``negative_feedback``
    at least ``min_feedback`` feedbacks, of which a share ≥ ``negative_ratio`` "unhelpful".

Near-identical texts are found without comparing every pair: a similarity join with a
pigeonhole filter (see :func:`similar_pairs`); 20,000 entries with four phrasings each take
about 1–2 s. Archived entries are left out. Usage comes in as a mapping (from
``kefu.bot.usage.entry_usage``) because the bot sits above the knowledge base.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any, Literal, Protocol

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.kb.models import FaqEntry
from kefu.nlp.normalise import normalise

IssueKind = Literal["collision", "duplicate", "expired_published", "never_hit",
                    "negative_feedback"]
KINDS: tuple[IssueKind, ...] = ("collision", "duplicate", "expired_published", "never_hit",
                                "negative_feedback")
NEAR_RATIO = 92
#: entries sharing one exact text beyond this many are reported as one group, not pairs
MAX_GROUP_PAIRS = 50


class UsageStats(Protocol):
    """What the check needs to know of an entry's use (``bot.usage.EntryUsage`` fits)."""

    @property
    def hits(self) -> int: ...
    @property
    def last_hit(self) -> datetime | None: ...
    @property
    def helpful(self) -> int: ...
    @property
    def unhelpful(self) -> int: ...


@dataclass(frozen=True, slots=True)
class HealthEntry:
    """The fields of an entry the check reads."""

    id: str
    question: str
    phrasings: Sequence[str]
    answer: str
    status: str
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HealthIssue:
    kind: IssueKind
    entry_ids: tuple[str, ...]
    questions: tuple[str, ...]
    detail_zh: str
    detail_en: str
    #: for collisions and duplicates: the similarity (100 = equal after normalising)
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "entry_ids": list(self.entry_ids),
                "questions": list(self.questions), "detail_zh": self.detail_zh,
                "detail_en": self.detail_en, "score": self.score}


@dataclass(slots=True)
class HealthReport:
    workspace_id: str
    generated_at: datetime
    checked: int
    issues: list[HealthIssue] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = Counter(i.kind for i in self.issues)
        return {k: c.get(k, 0) for k in KINDS}

    def of_kind(self, kind: IssueKind) -> list[HealthIssue]:
        return [i for i in self.issues if i.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id,
                "generated_at": self.generated_at.isoformat(), "checked": self.checked,
                "counts": self.counts(), "issues": [i.as_dict() for i in self.issues]}


# -- near-identical texts -----------------------------------------------------------------

def _max_distance(n: int, cutoff: int) -> int:
    """The largest indel distance between a text of length ``n`` and any text at least as
    long that still has ``ratio`` ≥ ``cutoff``: d ≤ a·(n + m)/100 and m ≤ n + d, with
    a = 100 - cutoff, give d ≤ 2a·n / (100 - a)."""
    a = 100 - cutoff
    return (2 * a * n) // (100 - a)


def _segments(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` (start, length) pieces covering ``range(n)``, the longer ones last."""
    base, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        length = base + (1 if i >= parts - extra else 0)
        out.append((start, length))
        start += length
    return out


def similar_pairs(keys: Sequence[str], cutoff: int = NEAR_RATIO
                  ) -> Iterable[tuple[int, int, float]]:
    """``(i, j, ratio)`` for distinct keys with ``fuzz.ratio`` ≥ ``cutoff``.

    A pigeonhole filter (after PassJoin): a text of length n within indel distance τ of a
    longer one is cut into τ + 1 segments; an insertion or deletion touches at most one
    segment, so one segment appears unchanged in the other text, shifted by at most
    τ + (length difference). Texts are indexed by (length, segment number, segment) in order
    of length, and each text looks up its substrings at the allowed places; only those
    candidates are compared with rapidfuzz."""
    a = 100 - cutoff
    order = sorted(range(len(keys)), key=lambda i: (len(keys[i]), i))
    index: dict[tuple[int, int, str], list[int]] = {}
    layouts: dict[int, list[tuple[int, int]]] = {}
    for i in order:
        key = keys[i]
        n = len(key)
        shortest = -(-n * (100 - a) // (100 + a))  # ceil: shorter texts cannot reach cutoff
        found: set[int] = set()
        for m in range(max(shortest, 1), n + 1):
            segs = layouts.get(m)
            if segs is None:
                continue
            tau = _max_distance(m, cutoff)
            for s_no, (p, length) in enumerate(segs):
                lo, hi = max(0, p - tau), min(n - length, p + tau + (n - m))
                for q in range(lo, hi + 1):
                    hits = index.get((m, s_no, key[q:q + length]))
                    if hits:
                        found.update(hits)
        if found:
            cands = list(found)
            for _, score, k in process.extract(key, [keys[j] for j in cands],
                                               scorer=fuzz.ratio, score_cutoff=cutoff,
                                               limit=None):
                yield cands[k], i, float(score)
        segs = layouts.get(n)
        if segs is None:
            segs = layouts[n] = _segments(n, min(n, _max_distance(n, cutoff) + 1))
        for s_no, (p, length) in enumerate(segs):
            index.setdefault((n, s_no, key[p:p + length]), []).append(i)


# -- the check ----------------------------------------------------------------------------

def _answer_key(text: str) -> str:
    return normalise(text).replace(" ", "")


def _text_issue(a: HealthEntry, b: HealthEntry, ta: str, tb: str, score: float,
                same_answer: bool) -> HealthIssue:
    ids, qs = (a.id, b.id), (a.question, b.question)
    exact = score >= 100
    how_zh = "相同" if exact else f"几乎相同（相似度 {score:.0f}）"
    how_en = "are the same" if exact else f"are near-identical (similarity {score:.0f})"
    if not same_answer:
        return HealthIssue("collision", ids, qs,
                           f"问法“{ta}”与“{tb}”{how_zh}，但答案不同，机器人无法区分",
                           f"“{ta}” and “{tb}” {how_en} but the answers differ: the bot "
                           "cannot tell them apart", score)
    if normalise(a.question) == normalise(b.question):
        return HealthIssue("duplicate", ids, qs, "标准问题相同且答案相同，可以合并",
                           "Same question and same answer: merge them", score)
    return HealthIssue("duplicate", ids, qs, f"问法“{ta}”与“{tb}”{how_zh}，且答案相同，可以合并",
                       f"“{ta}” and “{tb}” {how_en} and the answers are the same: merge them",
                       score)


def _text_issues(entries: Sequence[HealthEntry]) -> list[HealthIssue]:
    # key (normalised, spaces removed) → [(entry index, original text)]
    by_key: dict[str, list[tuple[int, str]]] = {}
    for idx, e in enumerate(entries):
        for text in (e.question, *e.phrasings):
            key = normalise(text).replace(" ", "")
            if key:
                by_key.setdefault(key, []).append((idx, text))
    answers = [_answer_key(e.answer) for e in entries]
    best: dict[tuple[int, int], tuple[float, str, str]] = {}
    issues: list[HealthIssue] = []

    def consider(ia: int, ta: str, ib: int, tb: str, score: float) -> None:
        if ia == ib:
            return
        if ia > ib:
            ia, ib, ta, tb = ib, ia, tb, ta
        old = best.get((ia, ib))
        if old is None or score > old[0]:
            best[(ia, ib)] = (score, ta, tb)

    keys = list(by_key)
    for key in keys:
        group = by_key[key]
        distinct = sorted({i for i, _ in group})
        if len(distinct) > MAX_GROUP_PAIRS:
            first = dict(reversed(group))
            same = len({answers[i] for i in distinct}) == 1
            kind: IssueKind = "duplicate" if same else "collision"
            issues.append(HealthIssue(
                kind, tuple(entries[i].id for i in distinct),
                tuple(entries[i].question for i in distinct),
                f"{len(distinct)} 条知识都有问法“{first[distinct[0]]}”",
                f"{len(distinct)} entries share the text “{first[distinct[0]]}”", 100.0))
            continue
        texts = dict(reversed(group))
        for ia, ib in combinations(distinct, 2):
            consider(ia, texts[ia], ib, texts[ib], 100.0)
    for ka, kb, score in similar_pairs(keys):
        ga, gb = by_key[keys[ka]], by_key[keys[kb]]
        if len(ga) * len(gb) > MAX_GROUP_PAIRS ** 2:
            continue
        for ia, ta in ga:
            for ib, tb in gb:
                consider(ia, ta, ib, tb, score)
    for (ia, ib), (score, ta, tb) in best.items():
        issues.append(_text_issue(entries[ia], entries[ib], ta, tb, score,
                                  answers[ia] == answers[ib]))
    return issues


def _valid_at(e: HealthEntry, now: datetime) -> bool:
    return ((e.valid_from is None or e.valid_from <= now)
            and (e.valid_until is None or e.valid_until > now))


def scan(entries: Sequence[HealthEntry], *, now: datetime, usage: Mapping[str, UsageStats],
         never_hit_days: int = 30, min_feedback: int = 3, negative_ratio: float = 0.3
         ) -> list[HealthIssue]:
    """Every issue among ``entries`` (pure: no database, the clock and usage passed in)."""
    issues = _text_issues(entries)
    since = now - timedelta(days=never_hit_days)
    for e in entries:
        one = (e.id,), (e.question,)
        if e.status == "published" and e.valid_until is not None and e.valid_until <= now:
            day = e.valid_until.date().isoformat()
            issues.append(HealthIssue("expired_published", *one,
                                      f"已于 {day} 失效，但仍是“已发布”状态",
                                      f"Expired on {day} but still published"))
        u = usage.get(e.id)
        if (e.status == "published" and e.created_at <= since and _valid_at(e, now)
                and (u is None or u.hits == 0
                     or (u.last_hit is not None and u.last_hit < since))):
            issues.append(HealthIssue("never_hit", *one,
                                      f"发布已超过 {never_hit_days} 天，近 {never_hit_days} 天"
                                      "从未被机器人命中",
                                      f"Published for over {never_hit_days} days and not used "
                                      f"by the bot in the last {never_hit_days} days"))
        if u is not None:
            total = u.helpful + u.unhelpful
            if total >= min_feedback and u.unhelpful / total >= negative_ratio:
                issues.append(HealthIssue(
                    "negative_feedback", *one,
                    f"{total} 次评价中 {u.unhelpful} 次“没有帮助”（{u.unhelpful / total:.0%}）",
                    f"{u.unhelpful} of {total} feedbacks were “not helpful” "
                    f"({u.unhelpful / total:.0%})", round(u.unhelpful / total, 3)))
    order = {k: n for n, k in enumerate(KINDS)}
    issues.sort(key=lambda i: (order[i.kind], -(i.score or 0), i.questions, i.entry_ids))
    return issues


def health_report(session: Session, workspace_id: str, *, now: datetime,
                  usage: Mapping[str, UsageStats], never_hit_days: int = 30,
                  min_feedback: int = 3, negative_ratio: float = 0.3) -> HealthReport:
    """The health check of one workspace's FAQ entries (drafts and published; archived
    entries are left out). ``usage`` maps entry ids to their bot usage since
    ``now - never_hit_days`` (``kefu.bot.usage.entry_usage``)."""
    rows = session.execute(select(
        FaqEntry.id, FaqEntry.question, FaqEntry.phrasings, FaqEntry.answer, FaqEntry.status,
        FaqEntry.valid_from, FaqEntry.valid_until, FaqEntry.created_at,
    ).where(FaqEntry.workspace_id == workspace_id, FaqEntry.status != "archived")
     .order_by(FaqEntry.created_at, FaqEntry.id))
    entries = [HealthEntry(r.id, r.question, list(r.phrasings or []), r.answer, r.status,
                           r.valid_from, r.valid_until, r.created_at) for r in rows]
    issues = scan(entries, now=now, usage=usage, never_hit_days=never_hit_days,
                  min_feedback=min_feedback, negative_ratio=negative_ratio)
    return HealthReport(workspace_id=workspace_id, generated_at=now, checked=len(entries),
                        issues=issues)
