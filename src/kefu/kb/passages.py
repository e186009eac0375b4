"""The passage index: what the bot quotes when no FAQ entry fits. Pure and in memory.

Retrieval is BM25 (:class:`kefu.kb.engine.Bm25Index`) over two views of each passage (its
heading and text): words and character n-grams, each scaled by its best score and fused 50/50.
The best ``POOL`` passages are then scored with an absolute *coverage*: the IDF-weighted share
of the query's words found in the passage (question words such as 怎么 / 如何 / how count for
``QUESTION_WORD_WEIGHT`` of their IDF); when the share of the query's character bigrams found
there is higher, it is blended in (0.6 × words + 0.4 × bigrams), so a different word cut still
counts but bigrams never lower the score. ``confidence`` is::

    coverage ** 1.5 * (0.85 + 0.15 * fused BM25 relative to the best)

so a question whose key words all occur in one passage scores ≥ 0.6 and a question about
something the documents never mention scores < 0.3 (tests check both). The ``quote`` is the
run of 1–3 consecutive sentences of the passage that covers the most of the query in at most
``MAX_QUOTE`` characters.

Not thread-safe: like ``MatchEngine``, the caller holds a lock around updates and queries.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.kb.documents import split_sentences
from kefu.kb.engine import Bm25Index
from kefu.kb.models import Document, Passage
from kefu.nlp.normalise import normalise
from kefu.nlp.tokenise import Tokeniser

MAX_QUERY_CHARS = 256
_CJK_TEXT = re.compile(r"[\u3400-\u9fff]")
MAX_QUOTE = 200
POOL = 30
WORD_SHARE = 0.6  # with bigrams: max(words, 0.6 × words + 0.4 × bigrams)
QUESTION_WORD_WEIGHT = 0.3
#: words that say "this is a question" rather than what it is about
_QUESTION_TEXT = (
    "怎么 怎样 怎么样 如何 什么 为什么 为何 哪里 哪儿 哪个 哪些 多少 多久 几天 几 能 能否 能不能 "
    "可以 可不可以 是否 有没有 要 需要 会 谁 吗 呢 how what why when where which who can could "
    "should would will does do is are")
QUESTION_WORDS: frozenset[str] = frozenset(_QUESTION_TEXT.split())


@dataclass(frozen=True)
class PassageHit:
    passage_id: str
    document_id: str
    document_title: str
    heading: str
    text: str
    quote: str
    confidence: float


@dataclass
class _Entry:
    passage_id: str
    document_id: str
    document_title: str
    heading: str
    text: str
    words: frozenset[str]
    bigrams: frozenset[str]
    alive: bool = True
    sentences: tuple[tuple[str, ...], tuple[str, ...]] | None = None


def _bigrams(grams: Sequence[str]) -> frozenset[str]:
    return frozenset(g for g in grams if len(g) >= 2)


class PassageIndex:
    """Passages of a workspace's published documents, searchable in memory."""

    def __init__(self, tokeniser: Tokeniser) -> None:
        self.tokeniser = tokeniser
        self._reset()

    def _reset(self) -> None:
        self.words = Bm25Index()
        self.chars = Bm25Index()
        self.entries: list[_Entry] = []
        self.by_passage: dict[str, int] = {}
        self.by_document: dict[str, list[int]] = {}
        self._dead = 0

    def __len__(self) -> int:
        return len(self.by_passage)

    # -- updates ---------------------------------------------------------------------------
    def add(self, passage_id: str, document_id: str, document_title: str, heading: str,
            text: str) -> None:
        """Add one passage (replacing one with the same id)."""
        if passage_id in self.by_passage:
            self._drop(self.by_passage.pop(passage_id))
        norm = normalise(f"{heading}\n{text}")
        w = [sys.intern(t) for t in self.tokeniser.words(norm)] if norm else []
        c = [sys.intern(t) for t in self.tokeniser.chars(norm)] if norm else []
        wi = self.words.add(w)
        ci = self.chars.add(c)
        assert wi == ci == len(self.entries)
        self.entries.append(_Entry(passage_id, document_id, document_title, heading, text,
                                   frozenset(w), _bigrams(c)))
        self.by_passage[passage_id] = wi
        self.by_document.setdefault(document_id, []).append(wi)

    def merge(self) -> None:
        """Turn pending postings into arrays (after a bulk load)."""
        self.words.merge()
        self.chars.merge()

    def remove_document(self, document_id: str) -> None:
        """Remove every passage of a document; an unknown id is ignored."""
        for slot in self.by_document.pop(document_id, []):
            entry = self.entries[slot]
            if entry.alive and self.by_passage.get(entry.passage_id) == slot:
                del self.by_passage[entry.passage_id]
            self._drop(slot)
        if self._dead > max(64, len(self.entries) // 4):
            self._compact()

    def _drop(self, slot: int) -> None:
        entry = self.entries[slot]
        if not entry.alive:
            return
        entry.alive = False
        self.words.remove(slot)
        self.chars.remove(slot)
        self._dead += 1

    def _compact(self) -> None:
        live = [e for e in self.entries if e.alive]
        self._reset()
        for e in live:
            self.add(e.passage_id, e.document_id, e.document_title, e.heading, e.text)
        self.merge()

    # -- queries ---------------------------------------------------------------------------
    def _weight(self, term: str) -> float:
        idf = self.words.idf(term)
        return idf * QUESTION_WORD_WEIGHT if term in QUESTION_WORDS else idf

    def best(self, query: str, k: int = 3) -> list[PassageHit]:
        """The ``k`` passages that best answer ``query``, best first (empty: nothing fits)."""
        qnorm = normalise(query, max_chars=MAX_QUERY_CHARS)
        if not qnorm or k <= 0 or not self.by_passage:
            return []
        qw = self.tokeniser.words(qnorm)
        qc = self.tokeniser.chars(qnorm)
        sw = self.words.score(qw)
        sc = self.chars.score(qc)
        mw = float(sw.max()) if len(sw) else 0.0
        mc = float(sc.max()) if len(sc) else 0.0
        if mw <= 0 and mc <= 0:
            return []
        fused = np.zeros(len(sw), dtype=np.float32)
        if mw > 0:
            fused += 0.5 * sw / mw
        if mc > 0:
            fused += 0.5 * sc / mc
        pool = min(POOL, int(np.count_nonzero(fused)))
        if pool <= 0:
            return []
        top = np.argpartition(-fused, pool - 1)[:pool]
        fmax = float(fused[top].max()) or 1.0
        qwords = list(dict.fromkeys(qw))
        qbig = _bigrams(qc)
        weights = {t: self._weight(t) for t in qwords}
        wtotal = sum(weights.values())
        scored: list[tuple[float, float, int]] = []
        for slot in top.tolist():
            e = self.entries[slot]
            wcov = (sum(v for t, v in weights.items() if t in e.words) / wtotal
                    if wtotal > 0 else 0.0)
            cov = wcov
            if qbig:  # bigrams rescue a query cut into words differently, never penalise
                bcov = len(qbig & e.bigrams) / len(qbig)
                cov = max(wcov, WORD_SHARE * wcov + (1.0 - WORD_SHARE) * bcov)
            rel = float(fused[slot]) / fmax
            conf = min(1.0, max(0.0, cov ** 1.5 * (0.85 + 0.15 * rel)))
            scored.append((conf, rel, slot))
        scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
        out: list[PassageHit] = []
        for conf, _rel, slot in scored[:k]:
            e = self.entries[slot]
            out.append(PassageHit(e.passage_id, e.document_id, e.document_title, e.heading,
                                  e.text, self.quote(e, qwords, qbig), round(conf, 4)))
        return out

    def _sentences(self, entry: _Entry) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The passage's sentences and their canonical normalised forms (spaces removed),
        computed on first use and kept."""
        if entry.sentences is None:
            raw = tuple(split_sentences(entry.text)) or (entry.text,)
            norms = tuple(self.tokeniser.canonicalise(normalise(x)).replace(" ", "")
                          for x in raw)
            entry.sentences = (raw, norms)
        return entry.sentences

    def quote(self, entry: _Entry, qwords: Sequence[str], qbig: frozenset[str]) -> str:
        """The 1–3 consecutive sentences of the passage that cover the query best (at most
        ``MAX_QUOTE`` characters; a longer single sentence is cut around its first match)."""
        sentences, norms = self._sentences(entry)
        weights = {t.replace(" ", ""): self._weight(t) for t in qwords}
        # what each sentence matches: query words (by IDF weight) and query bigrams
        matched = [frozenset([*(t for t in weights if t in n), *(g for g in qbig if g in n)])
                   for n in norms]

        def gain(found: frozenset[str]) -> float:
            return sum(weights.get(x, 0.0) for x in found) + 0.5 * len(found & qbig)

        best_key: tuple[float, int, int] | None = None  # (gain, -length, -start)
        lo_best, hi_best = 0, 1
        for lo in range(len(sentences)):
            found: frozenset[str] = frozenset()
            length = 0
            for hi in range(lo + 1, min(lo + 3, len(sentences)) + 1):
                length += len(sentences[hi - 1])
                if length > MAX_QUOTE and hi > lo + 1:
                    break
                found |= matched[hi - 1]
                key = (gain(found), -length, -lo)
                if best_key is None or key > best_key:
                    best_key, lo_best, hi_best = key, lo, hi
        joiner = "" if _CJK_TEXT.search(entry.text) else " "
        picked = joiner.join(sentences[lo_best:hi_best])
        if len(picked) <= MAX_QUOTE:
            return picked
        return _window(picked, qwords)


def _window(sentence: str, qwords: Sequence[str]) -> str:
    """A ``MAX_QUOTE``-character cut of a long sentence, starting a little before the first
    query word found in it."""
    low = sentence.casefold()
    starts = [i for i in (low.find(t) for t in qwords if t) if i >= 0]
    start = max(0, min(starts) - 40) if starts else 0
    start = min(start, max(0, len(sentence) - (MAX_QUOTE - 2)))
    body = sentence[start:start + MAX_QUOTE - 2]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + len(body) < len(sentence) else ""
    return (prefix + body + suffix)[:MAX_QUOTE]


def load_passage_index(session: Session, workspace_id: str,
                       tokeniser: Tokeniser) -> PassageIndex:
    """The passage index of a workspace's published documents."""
    index = PassageIndex(tokeniser)
    rows = session.execute(
        select(Passage.id, Passage.document_id, Document.title, Passage.heading, Passage.text)
        .join(Document, Document.id == Passage.document_id)
        .where(Document.workspace_id == workspace_id, Document.status == "published")
        .order_by(Document.id, Passage.ordinal))
    for pid, did, title, heading, text in rows:
        index.add(pid, did, title, heading, text)
    index.merge()
    return index
