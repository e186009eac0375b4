"""A re-ranker learnt from labelled question pairs: the knowledge base's own phrasings, and
optionally extra paraphrase pairs (see docs/subsystems/matching.md, "Learnt re-ranker").

The model scores a (query, phrasing) pair with a linear function of sparse lexical features
built from the engine's two token views:

* ``B:w`` / ``X:w``: word ``w`` is in both texts / in only one of them (learns which words
  matter and which words may differ: ``花呗`` vs ``借呗`` must not, ``怎么`` vs ``如何`` may);
* ``C:u|v``: word ``u`` only in one text and ``v`` only in the other (a learnt association or
  translation table: ``还款|还钱``);
* ``b:g`` / ``x:g``: the same for character n-grams (typos, unknown words);

plus the engine's own ranking score and its components (``kefu.kb.engine.DENSE_FEATURES``)
with learnt weights. It is trained *listwise*: for a
training query the engine retrieves its best candidates and the weights are fitted (softmax
cross-entropy, L2, Adam, numpy only) so that the right entry comes first. Training queries:

* from the knowledge base itself (:func:`kb_groups`): a phrasing of an entry with two or more
  phrasings is a query whose answer is its own entry, matched with that phrasing left out —
  the KB's phrasings are labelled paraphrase examples;
* from labelled pairs (:func:`pair_groups`): union-find over the positive pairs gives entries
  (``sentence1`` sides) and queries (``sentence2`` sides), texts that occur only in negative
  pairs are distractor entries; small engines are built from them and queried.

The model is fixed once trained; ``MatchEngine.upsert``/``remove`` do not change it, so
incremental results still equal a rebuild with the same model. Retrain (e.g. in the background
after many edits) and swap it in with ``engine.reranker = model``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from kefu.kb.engine import EngineConfig, MatchEngine
    from kefu.nlp.tokenise import Tokeniser

MAX_CROSS = 6  # cross (association) features only when both sides differ by ≤ 6 words


def pair_features(qwords: frozenset[str], qgrams: frozenset[str], dwords: Iterable[str],
                  dgrams: Iterable[str]) -> list[str]:
    """The sparse feature names of a (query, phrasing) pair (token sets of both views)."""
    dw = frozenset(dwords)
    dg = frozenset(dgrams)
    feats = ["B:" + w for w in qwords & dw]
    only_q = qwords - dw
    only_d = dw - qwords
    feats.extend("X:" + w for w in only_q)
    feats.extend("X:" + w for w in only_d)
    if only_q and only_d and len(only_q) <= MAX_CROSS and len(only_d) <= MAX_CROSS:
        feats.extend("C:" + (u + "|" + v if u < v else v + "|" + u)
                     for u in only_q for v in only_d)
    feats.extend("b:" + g for g in qgrams & dg)
    feats.extend("x:" + g for g in qgrams ^ dg)
    return feats


@dataclass
class Reranker:
    """Learnt weights: sparse pair feature name → weight, and the weights of the engine's
    dense per-candidate features (``kefu.kb.engine.DENSE_FEATURES``: the ranking score
    first, then its components; a shorter tuple leaves the rest out)."""

    weights: dict[str, float] = field(default_factory=dict)
    dense: tuple[float, ...] = (1.0,)
    n_queries: int = 0  # training queries used (for reports)

    @property
    def engine_weight(self) -> float:
        """The weight of the engine's own ranking score."""
        return self.dense[0] if self.dense else 0.0

    def __post_init__(self) -> None:
        # the weights split by feature kind, keyed by token: scoring builds no strings
        self._kinds: dict[str, dict[str, float]] = {k: {} for k in ("B", "X", "C", "b", "x")}
        for name, w in self.weights.items():
            self._kinds[name[0]][name[2:]] = w

    def pair_score(self, feats: Iterable[str]) -> float:
        get = self.weights.get
        return sum(get(f, 0.0) for f in feats)

    def score(self, qwords: frozenset[str], qgrams: frozenset[str], dwords: Iterable[str],
              dgrams: Iterable[str]) -> float:
        """``pair_score(pair_features(...))``, without building the feature names."""
        k = self._kinds
        dw = frozenset(dwords)
        dg = frozenset(dgrams)
        bw, xw, cw = k["B"].get, k["X"].get, k["C"].get
        bg, xg = k["b"].get, k["x"].get
        s = sum(bw(w, 0.0) for w in qwords & dw)
        only_q = qwords - dw
        only_d = dw - qwords
        s += sum(xw(w, 0.0) for w in only_q) + sum(xw(w, 0.0) for w in only_d)
        if only_q and only_d and len(only_q) <= MAX_CROSS \
                and len(only_d) <= MAX_CROSS:
            s += sum(cw(u + "|" + v if u < v else v + "|" + u, 0.0)
                     for u in only_q for v in only_d)
        s += sum(bg(g, 0.0) for g in qgrams & dg)
        s += sum(xg(g, 0.0) for g in qgrams ^ dg)
        return s


# One training query: (sparse features of each candidate's best phrasing, the engine's dense
# features of the candidate — ranking score first, or just the score) per candidate, and the
# index of the right candidate.
Group = tuple[list[tuple[list[str], Sequence[float] | float]], int]
# One labelled pair for the pointwise part of the loss: its sparse features, 1 same / 0 not.
Labelled = tuple[list[str], int]


def _sparse(rows: Sequence[list[str]], vocab: dict[str, int]
            ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(feature index, row index) of every non-zero of ``rows``, growing ``vocab``."""
    lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    idx = np.fromiter((vocab.setdefault(f, len(vocab)) for r in rows for f in r),
                      dtype=np.int64, count=int(lens.sum()))
    return idx, np.repeat(np.arange(len(rows)), lens)


def fit(groups: Sequence[Group], l2: float = 1e-2, iters: int = 200, lr: float = 0.05,
        labelled: Sequence[Labelled] = (), labelled_weight: float = 1.0) -> Reranker:
    """Listwise logistic (softmax) regression over the candidates of each training query,
    plus (optionally) pointwise logistic regression of the sparse pair score on labelled
    pairs (``labelled_weight`` × their mean loss; hard negatives the retrieval may miss)."""
    groups = [g for g in groups if len(g[0]) > 1]
    if not groups:
        return Reranker()
    vocab: dict[str, int] = {}
    rows: list[list[str]] = []
    dense_rows: list[Sequence[float]] = []
    sizes: list[int] = []
    y_idx: list[int] = []
    for cands, right in groups:
        y_idx.append(len(rows) + right)
        sizes.append(len(cands))
        for feats, x in cands:
            rows.append(feats)
            dense_rows.append((x,) if isinstance(x, (int, float)) else x)
    n, g_n = len(rows), len(groups)
    idx, row_of = _sparse(rows, vocab)
    k = max(len(x) for x in dense_rows)
    e = np.zeros((n, k))
    for i, x in enumerate(dense_rows):
        e[i, : len(x)] = x
    pidx, prow = _sparse([f for f, _ in labelled], vocab)
    py = np.asarray([y for _, y in labelled], dtype=float)
    p_n = len(labelled)
    d = len(vocab)
    gid = np.repeat(np.arange(g_n), sizes)
    y = np.zeros(n)
    y[y_idx] = 1.0
    # weights: d sparse, k dense (the engine score's starts at 1), one bias (pointwise part)
    w = np.zeros(d + k + 1)
    w[d] = 1.0
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    grad = np.zeros_like(w)
    for t in range(1, iters + 1):
        ws = w[:d]
        z = np.bincount(row_of, weights=ws[idx], minlength=n) + e @ w[d:d + k]
        zmax = np.full(g_n, -np.inf)
        np.maximum.at(zmax, gid, z)
        ez = np.exp(z - zmax[gid])
        p = ez / np.bincount(gid, weights=ez, minlength=g_n)[gid]
        r = (p - y) / g_n
        grad[:d] = np.bincount(idx, weights=r[row_of], minlength=d)
        grad[d:d + k] = r @ e
        grad[-1] = 0.0
        if p_n:
            pz = np.bincount(prow, weights=ws[pidx], minlength=p_n) + w[-1]
            pr = labelled_weight * (1.0 / (1.0 + np.exp(-pz)) - py) / p_n
            grad[:d] += np.bincount(pidx, weights=pr[prow], minlength=d)
            grad[-1] = float(pr.sum())
        grad += l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    names = list(vocab)
    weights = {names[i]: float(w[i]) for i in np.flatnonzero(np.abs(w[:d]) > 1e-4).tolist()}
    return Reranker(weights, tuple(float(x) for x in w[d:d + k]), g_n)


def kb_groups(engine: MatchEngine, max_queries: int = 2000, max_phrasings: int = 20000,
              seed: int = 0) -> list[Group]:
    """Training queries from the KB itself: a sample of entries (up to ``max_phrasings``
    phrasings) is indexed without up to ``max_queries`` held-out phrasings of its entries
    with ≥ 2 phrasings (one is always kept); each held-out phrasing is a query whose answer is
    its own entry."""
    from kefu.kb.engine import Entry, MatchEngine

    rng = random.Random(seed)
    entries = sorted(engine.entries.values(), key=lambda e: e.id)
    rng.shuffle(entries)
    taken: list[Entry] = []
    n = 0
    for e in entries:
        if n >= max_phrasings:
            break
        taken.append(e)
        n += len(e.texts())
    slots = [(i, j) for i, e in enumerate(taken) for j in range(1, len(e.texts()))]
    held = set(rng.sample(slots, min(max_queries, len(slots))))
    if not held:
        return []
    sub: list[Entry] = []
    queries: list[tuple[str, str]] = []
    for i, e in enumerate(taken):
        texts = e.texts()
        rng.shuffle(texts)  # which phrasing stays is random, not always the standard question
        keep = [t for j, t in enumerate(texts) if (i, j) not in held]
        queries.extend((t, e.id) for j, t in enumerate(texts) if (i, j) in held)
        sub.append(Entry(e.id, keep[0], tuple(keep[1:])))
    index = MatchEngine(sub, tokeniser=engine.tokeniser, config=engine.config)
    out: list[Group] = []
    for q, expected in queries:
        g = index.training_group(q, expected)
        if g is not None:
            out.append(g)
    return out


def pair_groups(pairs: Iterable[tuple[str, str, int]], tokeniser: Tokeniser | None = None,
                config: EngineConfig | None = None, chunk: int = 1000, seed: int = 0,
                max_queries: int = 20000) -> list[Group]:
    """Training queries from labelled pairs ``(text_a, text_b, 1 same meaning / 0 not)``:
    union-find clusters of positive pairs become entries (``text_a`` sides) and queries
    (``text_b`` sides not already phrasings); texts only in negative pairs become distractor
    entries. Engines of ``chunk`` clusters + ``chunk`` distractors are built and queried."""
    from kefu.kb.engine import Entry, MatchEngine

    pairs = list(pairs)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, label in pairs:
        if label == 1:
            parent[find(a)] = find(b)
    clusters: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for a, b, label in pairs:
        if label == 1:
            clusters[find(a)][0].add(a)
            clusters[find(a)][1].add(b)
    phrasings = {s for c in clusters.values() for s in c[0]}
    rng = random.Random(seed)
    roots = sorted(clusters)
    rng.shuffle(roots)
    negatives = sorted({s for a, b, label in pairs if label == 0 for s in (a, b)} - set(parent))
    rng.shuffle(negatives)
    out: list[Group] = []
    for n, start in enumerate(range(0, len(roots), chunk)):
        entries = []
        queries: list[tuple[str, str]] = []
        for j, r in enumerate(roots[start:start + chunk]):
            ph = sorted(clusters[r][0])
            entries.append(Entry(f"c{j}", ph[0], tuple(ph[1:])))
            queries.extend((q, f"c{j}") for q in sorted(clusters[r][1]) if q not in phrasings)
        entries.extend(Entry(f"d{j}", s)
                       for j, s in enumerate(negatives[n * chunk:(n + 1) * chunk]))
        engine = MatchEngine(entries, tokeniser=tokeniser, config=config)
        for q, expected in queries:
            g = engine.training_group(q, expected)
            if g is not None:
                out.append(g)
        if len(out) >= max_queries:
            break
    return out


#: a knowledge base needs this many held-out phrasings before the bot trains a re-ranker on it
#: (a model fitted on fewer is noise); the live index and ``kefu bot eval`` use the same rule
MIN_TRAINING_QUERIES = 100


def trainable(engine: MatchEngine) -> bool:
    return sum(len(e.texts()) - 1 for e in engine.entries.values()) >= MIN_TRAINING_QUERIES


def train(engine: MatchEngine, pairs: Iterable[tuple[str, str, int]] = (),
          max_queries: int = 2000, seed: int = 0, l2: float = 1e-2) -> Reranker:
    """Train a re-ranker for ``engine`` from its own phrasings and optional labelled pairs
    (never pairs that contain evaluation queries). Does not attach it: set
    ``engine.reranker``."""
    groups = kb_groups(engine, max_queries=max_queries, seed=seed)
    pairs = list(pairs)
    if pairs:
        groups.extend(pair_groups(pairs, engine.tokeniser, engine.config, seed=seed))
    return fit(groups, l2=l2)
