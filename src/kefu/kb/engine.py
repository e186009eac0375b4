"""The matching engine: pure, in memory, updated incrementally.

Pipeline for one query (see docs/subsystems/matching.md):

1. normalise (``kefu.nlp.normalise``) and tokenise into two views: words and character n-grams;
2. BM25 over every standard question and similar phrasing, once per view (terms in more than
   half of the phrasings are skipped), each view scaled by its best score and the two fused;
   the best ``pool`` phrasings are kept;
3. the best ``rerank`` of them get an absolute similarity in [0, 1]: IDF-weighted keyword
   overlap (F1), character-bigram Dice, fuzzy ratio (rapidfuzz) and the fused BM25;
4. aggregation per entry: confidence = the best phrasing's similarity, damped by how much of
   the query the knowledge base's vocabulary covers; the ranking score adds a vote from the
   entry's other phrasings in the pool and a BM25 score against the entry as one document
   (all its phrasings together), so entries with many phrasings use them all;
5. optionally, a learnt re-ranker (:mod:`kefu.kb.learn`, trained from the KB's own phrasings
   and optional labelled pairs, set as ``engine.reranker``) re-scores the best ``learn_top``
   entries: learnt weights × the ranking score and its components (``DENSE_FEATURES``) + a
   linear pair model over word / character n-gram overlap, difference and association
   features. Confidences stay lexical, except that a promoted top entry takes the lexical top's
   confidence if that was higher;
6. :func:`decide` turns the confidence into answer / clarify / none.

The inverted index keeps postings as numpy arrays plus a small list of appended postings that is
merged lazily when a token is next queried; removals mark documents dead and fix the corpus
statistics (document frequency, count, average length) at once, so scores after any sequence of
``upsert``/``remove`` equal those of a fresh build. Dead documents are compacted away (a rebuild)
once they make up a quarter of the index: inside ``remove`` by default, or — with
``EngineConfig(auto_compact=False)`` — by the caller, who checks ``needs_compaction()`` and swaps
in ``compacted()`` built on a background thread.

Scoring keeps each queried term's per-posting BM25 contributions until the next edit (one
scatter-add per term after that) and takes the pool from the few slots at or above a bound found
on a strided sample, not from an argpartition of every slot; the floats are those of the
straightforward computation (``reference_scoring``), equal fused scores are taken by slot.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz

from kefu.kb.learn import Group, Reranker, pair_features
from kefu.nlp.normalise import normalise
from kefu.nlp.tokenise import DEFAULT_STOP_WORDS, Tokeniser

MAX_QUERY_CHARS = 256

#: what the learnt re-ranker gets from the engine for each candidate entry, besides the sparse
#: pair features: the ranking score, the confidence, the best phrasing's keyword / character /
#: fuzzy similarity and relative fused BM25, the vote of its other phrasings and the relative
#: BM25 of the entry as one document (``training_group`` rows and ``Reranker.dense``)
DENSE_FEATURES = ("score", "confidence", "keywords", "chars", "fuzzy", "bm25", "vote", "entry")


@dataclass(frozen=True)
class Entry:
    id: str
    question: str
    phrasings: tuple[str, ...] = ()
    answer: str = ""
    category: str = ""

    def texts(self) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        for t in (self.question, *self.phrasings):
            if t and t not in seen:
                seen.add(t)
                out.append(t)
        return out


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float
    confidence: float
    matched_phrasing: str


@dataclass(frozen=True)
class Decision:
    kind: Literal["answer", "clarify", "none"]
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.36
    clarify: float = 0.28


def decide(candidates: Sequence[Candidate], answer_threshold: float,
           clarify_threshold: float, max_clarify: int = 3) -> Decision:
    """Answer with the top candidate, clarify between the thresholds (up to 3), or none."""
    if not candidates:
        return Decision("none")
    top = candidates[0]
    if top.confidence >= answer_threshold:
        return Decision("answer", (top,))
    if top.confidence >= clarify_threshold:
        picks = tuple(c for c in candidates[:max_clarify] if c.confidence >= clarify_threshold)
        return Decision("clarify", picks)
    return Decision("none")


class _Posting:
    __slots__ = ("cached", "extra_ids", "extra_tf", "ids", "tf")

    def __init__(self) -> None:
        self.ids: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.tf: NDArray[np.float32] = np.empty(0, dtype=np.float32)
        self.extra_ids: list[int] = []
        self.extra_tf: list[float] = []
        # (index version, BM25 contribution of each posting for a query tf of 1, dead ones 0):
        # valid until the next add/remove, which changes the IDF and the average length
        self.cached: tuple[int, NDArray[np.float32]] | None = None

    def arrays(self) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        if self.extra_ids:
            self.ids = np.concatenate([self.ids, np.asarray(self.extra_ids, dtype=np.int64)])
            self.tf = np.concatenate([self.tf, np.asarray(self.extra_tf, dtype=np.float32)])
            self.extra_ids = []
            self.extra_tf = []
        return self.ids, self.tf


class Bm25Index:
    """An incrementally updatable BM25 inverted index (Okapi BM25, Lucene-style IDF).

    Scoring adds each query term's per-posting contributions into one float32 array of the
    slots (``np.add.at``). A term's contributions for a query tf of 1 are kept with the posting
    (dead documents' set to 0) until the next ``add``/``remove`` (which change the IDF and the
    average length), so a repeated term costs one scatter-add, not a gather of the document
    lengths and six array operations; the values are the same floats either way.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.postings: dict[str, _Posting] = {}
        self.df: Counter[str] = Counter()
        self.doc_len = np.zeros(1024, dtype=np.float32)
        self.alive = np.zeros(1024, dtype=bool)
        self.doc_terms: list[tuple[str, ...]] = []
        self.n_docs = 0  # slots used (alive or dead)
        self.n_alive = 0
        self.total_len = 0.0
        self.version = 0  # bumped by every add/remove: invalidates the cached contributions

    def _grow(self, need: int) -> None:
        cap = len(self.doc_len)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        self.doc_len = np.resize(self.doc_len, cap)
        self.doc_len[self.n_docs:] = 0
        alive = np.zeros(cap, dtype=bool)
        alive[: self.n_docs] = self.alive[: self.n_docs]
        self.alive = alive

    def add(self, tokens: Sequence[str]) -> int:
        doc = self.n_docs
        self._grow(doc + 1)
        counts = Counter(tokens)
        for term, tf in counts.items():
            p = self.postings.get(term)
            if p is None:
                p = self.postings[term] = _Posting()
            p.extra_ids.append(doc)
            p.extra_tf.append(float(tf))
        self.df.update(counts.keys())
        self.doc_terms.append(tuple(counts.keys()))
        self.doc_len[doc] = len(tokens)
        self.alive[doc] = True
        self.n_docs += 1
        self.n_alive += 1
        self.total_len += len(tokens)
        self.version += 1
        return doc

    def remove(self, doc: int) -> None:
        if not self.alive[doc]:
            return
        self.alive[doc] = False
        self.df.subtract(self.doc_terms[doc])
        self.n_alive -= 1
        self.total_len -= float(self.doc_len[doc])
        self.version += 1

    def merge(self) -> None:
        """Turn every pending posting list into arrays (after a bulk build)."""
        for p in self.postings.values():
            p.arrays()

    def idf(self, term: str) -> float:
        df = max(self.df.get(term, 0), 0)
        return math.log(1.0 + (self.n_alive - df + 0.5) / (df + 0.5))

    def _terms(self, tokens: Iterable[str], max_df: float
               ) -> list[tuple[str, int, _Posting]]:
        """The query's distinct terms that are scored: (term, query tf, posting)."""
        df_cap = max_df * self.n_alive
        out = []
        for term, qtf in Counter(tokens).items():
            p = self.postings.get(term)
            df = self.df.get(term, 0)
            if p is None or df <= 0 or (df > df_cap and df > 1):
                continue
            out.append((term, qtf, p))
        return out

    def _contribution(self, term: str, qtf: int, p: _Posting
                      ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The posting's document ids and each one's BM25 contribution (dead ones 0)."""
        ids, tf = p.arrays()
        cached = p.cached
        if qtf == 1 and cached is not None and cached[0] == self.version:
            return ids, cached[1]
        avgdl = self.total_len / self.n_alive or 1.0
        k1, b = self.k1, self.b
        # the same float32 operations, in the same order, as :meth:`score_reference`
        norm = k1 * (1.0 - b + b * self.doc_len[ids] / avgdl)
        x = ((self.idf(term) * qtf * (k1 + 1.0)) * tf / (tf + norm)).astype(np.float32,
                                                                          copy=False)
        if self.n_alive < self.n_docs:
            x *= self.alive[ids]
        if qtf == 1:
            p.cached = (self.version, x)
        return ids, x

    def score(self, tokens: Iterable[str], max_df: float = 1.0) -> NDArray[np.float32]:
        """BM25 of every document slot (dead ones 0). Terms in more than ``max_df`` of the
        documents are skipped: they cost the most and separate the least. Equal to
        :meth:`score_reference` (the same float32 sums in the same order)."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        if self.n_alive == 0:
            return scores
        for term, qtf, p in self._terms(tokens, max_df):
            ids, x = self._contribution(term, qtf, p)
            np.add.at(scores, ids, x)  # ids are distinct within a posting: a plain scatter-add
        return scores

    def score_reference(self, tokens: Iterable[str], max_df: float = 1.0
                        ) -> NDArray[np.float32]:
        """:meth:`score` computed the straightforward way (every term's formula over its
        postings, dead slots zeroed at the end): the reference for tests and benchmarks."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        if self.n_alive == 0:
            return scores
        avgdl = self.total_len / self.n_alive or 1.0
        k1, b = self.k1, self.b
        for term, qtf, p in self._terms(tokens, max_df):
            ids, tf = p.arrays()
            norm = k1 * (1.0 - b + b * self.doc_len[ids] / avgdl)
            scores[ids] += (self.idf(term) * qtf * (k1 + 1.0)) * tf / (tf + norm)
        scores *= self.alive[: self.n_docs]
        return scores


@dataclass
class _Doc:
    entry_id: str
    text: str
    norm: str
    words: tuple[str, ...]  # distinct, as tuples: a third of a frozenset's memory
    bigrams: tuple[str, ...]
    alive: bool = True


def _bigrams(grams: Sequence[str]) -> frozenset[str]:
    return frozenset(g for g in grams if len(g) >= 2)


def _distinct(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass
class EngineConfig:
    word_weight: float = 0.5
    pool: int = 200
    rerank: int = 40
    vote_weight: float = 1.0
    vote_k: int = 10
    w_coverage: float = 0.5
    w_entry: float = 1.0
    max_df: float = 0.5
    entry_b: float = 0.75
    w_keywords: float = 0.35
    w_chars: float = 0.25
    w_fuzzy: float = 0.2
    w_bm25: float = 0.2
    compact_ratio: float = 0.25
    #: ``remove`` rebuilds the index itself once dead phrasings pass ``compact_ratio``
    #: (synchronous: seconds at 100k phrasings). A server sets False, polls
    #: :meth:`MatchEngine.needs_compaction` and swaps in :meth:`MatchEngine.compacted`, built on
    #: a background thread.
    auto_compact: bool = True
    learn_top: int = 10  # candidates the learnt re-ranker re-scores (and trains on)
    learn_phrasings: int = 3  # of each, its best phrasings in the pool that it scores
    thresholds: Thresholds = field(default_factory=Thresholds)


def _top(values: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Positions of the ``k`` largest positive ``values`` (fewer if fewer are positive), largest
    first, equal values by position. Touches the full array only twice (one comparison, one
    ``flatnonzero``): the ``k``-th largest value of a strided sample is a lower bound of the whole
    array's, so every one of the ``k`` largest is at or above it (≈ ``k`` × stride candidates).
    ``np.sort``, not ``np.partition``: BM25 scores are mostly 0 and have few distinct values,
    which makes introselect slow (12 ms over 1M such scores, a sort of the sample 0.05 ms)."""
    stride = 32
    bound = 0.0
    if k > 0 and len(values) >= 4 * stride * k:
        bound = float(np.sort(values[::stride])[-k])
    cand = np.flatnonzero(values >= bound) if bound > 0 else np.flatnonzero(values > 0)
    if len(cand) > k:
        v = values[cand]
        kth = np.sort(v)[-k]
        above = cand[v > kth]
        tied = cand[v == kth][: k - len(above)]  # the first by position: cand is ascending
        cand = np.concatenate([above, tied])
    v = values[cand]
    return cand[np.lexsort((cand, -v))]


class MatchEngine:
    """All standard questions and phrasings of a knowledge base, searchable in memory."""

    #: score with the straightforward pre-optimisation code (``Bm25Index.score_reference``,
    #: full-length fusion and argpartition): for the tests and the benchmark's before/after
    reference_scoring = False

    def __init__(self, entries: Iterable[Entry] = (), tokeniser: Tokeniser | None = None,
                 config: EngineConfig | None = None, reranker: Reranker | None = None) -> None:
        self.tokeniser = tokeniser or Tokeniser(stop_words=DEFAULT_STOP_WORDS)
        self.config = config or EngineConfig()
        # the learnt pair model (kefu.kb.learn), fixed until replaced: edits don't change it
        self.reranker = reranker
        self.entries: dict[str, Entry] = {}
        self._reset()
        self._bulk(entries)

    def _bulk(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            self.upsert(e)
        for index in (self.words, self.chars, self.entry_index):
            index.merge()

    def _reset(self) -> None:
        self.words = Bm25Index()
        self.chars = Bm25Index()
        # one document per entry: all its phrasings' words (a centroid view)
        self.entry_index = Bm25Index(b=self.config.entry_b)
        self.entry_doc: dict[str, int] = {}
        self.docs: list[_Doc] = []
        self.entry_docs: dict[str, list[int]] = {}
        self._dead = 0

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def n_phrasings(self) -> int:
        return len(self.docs) - self._dead

    # -- updates ---------------------------------------------------------------------------
    def upsert(self, entry: Entry) -> None:
        """Add or replace one entry (its question and phrasings), without a rebuild."""
        if entry.id in self.entries:
            self._drop(entry.id)
        self.entries[entry.id] = entry
        ids: list[int] = []
        all_words: list[str] = []
        for text in entry.texts():
            norm = normalise(text)
            if not norm:
                continue
            # interned: a million phrasings share one string object per distinct token
            w = [sys.intern(t) for t in self.tokeniser.words(norm)]
            c = [sys.intern(t) for t in self.tokeniser.chars(norm)]
            wi = self.words.add(w)
            ci = self.chars.add(c)
            assert wi == ci == len(self.docs)
            self.docs.append(_Doc(entry.id, text, norm, _distinct(w), tuple(_bigrams(c))))
            ids.append(wi)
            all_words.extend(w)
            all_words.extend(c)
        self.entry_docs[entry.id] = ids
        self.entry_doc[entry.id] = self.entry_index.add(all_words)

    def remove(self, entry_id: str) -> None:
        """Remove one entry; unknown ids are ignored."""
        if entry_id not in self.entries:
            return
        self._drop(entry_id)
        del self.entries[entry_id]
        if self.config.auto_compact and self.needs_compaction():
            self.rebuild()

    @property
    def n_dead(self) -> int:
        """Phrasing slots of removed or replaced entries still in the index."""
        return self._dead

    def needs_compaction(self) -> bool:
        """Whether dead phrasings make up more than ``compact_ratio`` of the index (and more
        than 64): they cost memory and query time, never correctness."""
        return self._dead > max(64, self.config.compact_ratio * len(self.docs))

    def compacted(self) -> MatchEngine:
        """A fresh engine of the live entries with the same tokeniser, config and re-ranker:
        a compaction built off to the side, leaving this engine untouched and serving. The
        entries are snapshotted first (one ``list()`` call); edits made to this engine after
        that must be applied to the copy too before it is swapped in."""
        entries = list(self.entries.values())
        return MatchEngine(entries, tokeniser=self.tokeniser, config=self.config,
                           reranker=self.reranker)

    def _drop(self, entry_id: str) -> None:
        if entry_id in self.entry_doc:
            self.entry_index.remove(self.entry_doc.pop(entry_id))
        for d in self.entry_docs.pop(entry_id, []):
            self.words.remove(d)
            self.chars.remove(d)
            self.docs[d].alive = False
            self._dead += 1

    def rebuild(self) -> None:
        """Rebuild the index from the live entries (compaction)."""
        entries = list(self.entries.values())
        self.entries = {}
        self._reset()
        self._bulk(entries)

    # -- queries ---------------------------------------------------------------------------
    def _similarity(self, qnorm: str, qwords: frozenset[str], qbigrams: frozenset[str],
                    doc: _Doc, rel: float) -> tuple[float, float, float, float]:
        """The similarity in [0, 1] and its keyword, character and fuzzy components."""
        cfg = self.config
        shared = qwords.intersection(doc.words)
        kw = 0.0
        if shared:
            s = sum(self.words.idf(t) for t in shared)
            rec = s / (sum(self.words.idf(t) for t in qwords) or 1.0)
            prec = s / (sum(self.words.idf(t) for t in doc.words) or 1.0)
            kw = 2 * rec * prec / (rec + prec) if rec + prec else 0.0
        ch = 0.0
        if qbigrams and doc.bigrams:
            common = len(qbigrams.intersection(doc.bigrams))
            ch = 2 * common / (len(qbigrams) + len(doc.bigrams))
        fz = fuzz.ratio(qnorm, doc.norm) / 100.0
        sim = cfg.w_keywords * kw + cfg.w_chars * ch + cfg.w_fuzzy * fz + cfg.w_bm25 * rel
        return min(max(sim, 0.0), 1.0), kw, ch, fz

    def coverage(self, query_words: Sequence[str]) -> float:
        """IDF-weighted share of the query's words that occur anywhere in the knowledge base."""
        total = sum(self.words.idf(t) for t in query_words)
        if total <= 0:
            return 0.0
        return sum(self.words.idf(t) for t in query_words if self.words.df.get(t, 0) > 0) / total

    def match(self, query: str, k: int = 5) -> list[Candidate]:
        """The best ``k`` entries for ``query``, best first (empty if nothing matches)."""
        qnorm = normalise(query, max_chars=MAX_QUERY_CHARS)
        if not qnorm or not self.entries or k <= 0:
            return []
        ranked = self._rank(qnorm)
        if ranked is None:
            return []
        cands, pool_docs, qwords, qgrams, dense = ranked
        if self.reranker is not None:
            cands = self._rerank(cands, pool_docs, qwords, qgrams, dense)
        return cands[:k]

    def _rerank(self, cands: list[Candidate], pool_docs: dict[str, list[int]],
                qwords: frozenset[str], qgrams: frozenset[str],
                dense: dict[str, tuple[float, ...]]) -> list[Candidate]:
        """Re-score the best ``learn_top`` candidates with the learnt model: learnt weights ×
        the engine's score and its components (:data:`DENSE_FEATURES`) + the best pair score
        over the entry's first phrasings in the pool. The others keep their order below, with
        the lowest learnt score of the re-scored."""
        model = self.reranker
        assert model is not None
        cfg = self.config
        top = cands[: cfg.learn_top]
        scores: list[float] = []
        for c in top:
            best = -math.inf
            for d in pool_docs[c.entry_id][: cfg.learn_phrasings]:
                doc = self.docs[d]
                best = max(best, model.score(qwords, qgrams, doc.words, doc.bigrams))
            scores.append(best)
        dw = model.dense
        learnt = [s + sum(w * x for w, x in zip(dw[1:], dense[c.entry_id][1:], strict=False))
                  for c, s in zip(top, scores, strict=True)]
        floor = min(learnt) if learnt else 0.0
        ew = model.engine_weight
        out = [Candidate(c.entry_id, ew * c.score + s, c.confidence, c.matched_phrasing)
               for c, s in zip(top, learnt, strict=True)]
        out.extend(Candidate(c.entry_id, ew * c.score + floor, c.confidence, c.matched_phrasing)
                   for c in cands[cfg.learn_top:])
        out.sort(key=lambda c: (-c.score, c.entry_id))
        # the answer/none decision keeps the lexical evidence that the KB can answer: a
        # promoted entry is at least as confident as the lexical top candidate was
        if out and cands and out[0].entry_id != cands[0].entry_id \
                and out[0].confidence < cands[0].confidence:
            c = out[0]
            out[0] = Candidate(c.entry_id, c.score, cands[0].confidence, c.matched_phrasing)
        return out

    def training_group(self, text: str, expected: str) -> Group | None:
        """One training query for :mod:`kefu.kb.learn`: the pair features and engine score of
        the best ``learn_top`` candidates for ``text`` (first pool phrasing of each) and the
        index of ``expected`` among them (None if it is not there)."""
        qnorm = normalise(text, max_chars=MAX_QUERY_CHARS)
        ranked = self._rank(qnorm) if qnorm and self.entries else None
        if ranked is None:
            return None
        cands, pool_docs, qwords, qgrams, dense = ranked
        top = cands[: self.config.learn_top]
        ids = [c.entry_id for c in top]
        if expected not in ids:
            return None
        rows: list[tuple[list[str], Sequence[float] | float]] = []
        for c in top:
            doc = self.docs[pool_docs[c.entry_id][0]]
            rows.append((pair_features(qwords, qgrams, doc.words, doc.bigrams),
                         dense[c.entry_id]))
        return rows, ids.index(expected)

    def pair_tokens(self, text: str) -> tuple[frozenset[str], frozenset[str]]:
        """The token sets (words, character n-grams of ≥ 2) that :func:`pair_features` takes."""
        norm = normalise(text, max_chars=MAX_QUERY_CHARS)
        return (frozenset(self.tokeniser.words(norm)),
                _bigrams(self.tokeniser.chars(norm)))

    def _pool(self, qw: Sequence[str], qc: Sequence[str]
              ) -> tuple[NDArray[np.int64], NDArray[np.float32]] | None:
        """Step 2: the best ``pool`` phrasing slots by fused BM25, best first (equal scores by
        slot), and their fused scores; None if no phrasing shares a term with the query."""
        cfg = self.config
        sw = self.words.score(qw, cfg.max_df)
        sc = self.chars.score(qc, cfg.max_df)
        mw = float(sw.max()) if len(sw) else 0.0
        mc = float(sc.max()) if len(sc) else 0.0
        if mw <= 0 and mc <= 0:
            return None
        # fused = w·sw/mw + (1-w)·sc/mc, in place: the same float32 operations as the reference
        if mw > 0:
            np.multiply(sw, cfg.word_weight, out=sw)
            np.divide(sw, mw, out=sw)
        else:
            sw.fill(0.0)
        if mc > 0:
            np.multiply(sc, 1.0 - cfg.word_weight, out=sc)
            np.divide(sc, mc, out=sc)
            np.add(sw, sc, out=sw)
        top = _top(sw, cfg.pool)
        if not len(top):
            return None
        return top, sw[top]

    def _pool_reference(self, qw: Sequence[str], qc: Sequence[str]
                        ) -> tuple[NDArray[np.int64], NDArray[np.float32]] | None:
        """:meth:`_pool` the straightforward way (the engine's code before it was optimised:
        full-length fusion, argpartition over every slot; equal scores in no defined order):
        used when :attr:`reference_scoring` is set, by the tests and the benchmark's A/B."""
        cfg = self.config
        sw = self.words.score_reference(qw, cfg.max_df)
        sc = self.chars.score_reference(qc, cfg.max_df)
        mw = float(sw.max()) if len(sw) else 0.0
        mc = float(sc.max()) if len(sc) else 0.0
        if mw <= 0 and mc <= 0:
            return None
        fused = np.zeros(len(sw), dtype=np.float32)
        if mw > 0:
            fused += cfg.word_weight * sw / mw
        if mc > 0:
            fused += (1.0 - cfg.word_weight) * sc / mc
        pool = min(cfg.pool, int(np.count_nonzero(fused)))
        if pool <= 0:
            return None
        top = np.argpartition(-fused, pool - 1)[:pool]
        top = top[np.argsort(-fused[top], kind="stable")]
        return top, fused[top]

    def _rank(self, qnorm: str) -> tuple[list[Candidate], dict[str, list[int]], frozenset[str],
                                          frozenset[str], dict[str, tuple[float, ...]]] | None:
        """Steps 2–4 of the pipeline: every re-ranked entry as a candidate, best first, the
        entries' phrasings in the pool (best first), the query's token sets and each entry's
        score components (:data:`DENSE_FEATURES`)."""
        cfg = self.config
        qw = self.tokeniser.words(qnorm)
        qc = self.tokeniser.chars(qnorm)
        found = (self._pool_reference if self.reference_scoring else self._pool)(qw, qc)
        if found is None:
            return None
        top, fused = found
        slots = top.tolist()
        fmax = float(fused[0]) or 1.0
        values = fused.tolist()
        qwords = frozenset(qw)
        qbig = _bigrams(qc)
        # votes: every phrasing in the pool supports its entry with its relative BM25 score
        votes: dict[str, list[float]] = {}
        pool_docs: dict[str, list[int]] = {}
        for d, v in zip(slots, values, strict=True):
            eid = self.docs[d].entry_id
            votes.setdefault(eid, []).append(v / fmax)
            pool_docs.setdefault(eid, []).append(d)
        # full similarity only for the best `rerank` phrasings, best one per entry kept
        best: dict[str, tuple[tuple[float, float, float, float, float], str]] = {}
        for d, v in zip(slots[: cfg.rerank], values, strict=False):
            doc = self.docs[d]
            rel = v / fmax
            sim, kw, ch, fz = self._similarity(qnorm, qwords, qbig, doc, rel)
            if doc.entry_id not in best or sim > best[doc.entry_id][0][0]:
                best[doc.entry_id] = ((sim, kw, ch, fz, rel), doc.text)
        out, dense = self._aggregate(qw, qc, best, votes)
        return out, pool_docs, qwords, qbig, dense

    def _aggregate(self, qw: Sequence[str], qc: Sequence[str],
                   best: dict[str, tuple[tuple[float, float, float, float, float], str]],
                   votes: dict[str, list[float]]
                   ) -> tuple[list[Candidate], dict[str, tuple[float, ...]]]:
        """Step 4: confidence and ranking score per entry, best first, and the components."""
        cfg = self.config
        cov = self.coverage(qw) if cfg.w_coverage else 0.0
        es = None
        if cfg.w_entry:
            index = self.entry_index
            es = (index.score_reference if self.reference_scoring else index.score)([*qw, *qc])
        emax = float(es.max()) if es is not None and len(es) else 0.0
        out: list[Candidate] = []
        dense: dict[str, tuple[float, ...]] = {}
        k_ = cfg.vote_k
        for entry_id, ((sim, kw, ch, fz, rel), text) in best.items():
            conf = sim
            if cfg.w_coverage:
                conf = (1.0 - cfg.w_coverage) * sim + cfg.w_coverage * sim * cov
            support = votes[entry_id][1:1 + k_]
            vote = sum(support) / k_ if k_ > 0 else 0.0
            score = conf + cfg.vote_weight * vote
            ent = 0.0
            if es is not None and emax > 0:
                ent = float(es[self.entry_doc[entry_id]]) / emax
                score += cfg.w_entry * ent
            out.append(Candidate(entry_id, score, conf, text))
            dense[entry_id] = (score, conf, kw, ch, fz, rel, vote, ent)
        out.sort(key=lambda c: (-c.score, c.entry_id))
        return out, dense

    def decide(self, query: str, k: int = 5) -> Decision:
        t = self.config.thresholds
        return decide(self.match(query, k), t.answer, t.clarify)
