"""Lexical matching fused with a dense sentence encoder (optional; see ``kefu.kb.dense``).

``HybridMatcher.match`` has the contract of :meth:`MatchEngine.match`: for one query,

1. the lexical engine's candidates (every entry it re-ranks, up to ``lexical_k``) and the dense
   index's best ``dense_k`` entries (cosine of the query's vector with the entry's best phrasing)
   are united; an entry missing from one side gets its cosine from the index, or a lexical score
   and confidence of 0;
2. ranking score = lexical score + ``w_dense`` × cosine;
3. confidence = max(lexical confidence, calibrated cosine). The calibration is linear and maps
   ``cos_answer`` onto the answer threshold (0.36) and ``cos_clarify`` onto the clarify threshold
   (0.28), so ``Thresholds(0.36, 0.28)`` and ``decide`` keep working unchanged: a query the
   lexical engine answers is still answered, and the encoder adds answers only where its cosine
   alone is at least ``cos_answer``. ``w_dense`` comes from a sweep on an 80/20 split of
   Banking77 *train* (``bench/dense_eval.py --tune``); the cosine anchors (0.6 / 0.5) are set
   by hand for all-MiniLM-L6-v2 and are not calibrated on out-of-scope queries (Banking77 has
   none; see docs/subsystems/matching.md): check them with ``kefu bot eval`` on real data.

``upsert`` encodes first, then updates both sides, so an encoder failure leaves them in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kefu.kb.dense import DenseIndex, Encoder, build_index
from kefu.kb.engine import MAX_QUERY_CHARS, Candidate, Entry, MatchEngine, Thresholds
from kefu.nlp.normalise import normalise


@dataclass(frozen=True)
class HybridConfig:
    lexical_k: int = 40
    dense_k: int = 20
    w_dense: float = 2.0
    cos_answer: float = 0.6
    cos_clarify: float = 0.5
    thresholds: Thresholds = field(default_factory=Thresholds)

    def calibrate(self, cosine: float) -> float:
        """The confidence that a cosine alone stands for (linear through the two anchors)."""
        t = self.thresholds
        slope = (t.answer - t.clarify) / (self.cos_answer - self.cos_clarify)
        return min(1.0, max(0.0, t.answer + (cosine - self.cos_answer) * slope))


class HybridMatcher:
    """A :class:`MatchEngine` and a :class:`DenseIndex` over the same entries, queried together."""

    def __init__(self, engine: MatchEngine, encoder: Encoder, index: DenseIndex | None = None,
                 config: HybridConfig | None = None) -> None:
        self.engine = engine
        self.encoder = encoder
        self.index = index if index is not None else build_index(encoder,
                                                                 engine.entries.values())
        self.config = config or HybridConfig()

    # -- updates ---------------------------------------------------------------------------
    def upsert(self, entry: Entry) -> None:
        texts = entry.texts()
        vectors = self.encoder.encode(texts)
        self.engine.upsert(entry)
        self.index.upsert(entry.id, texts, vectors)

    def remove(self, entry_id: str) -> None:
        self.engine.remove(entry_id)
        self.index.remove(entry_id)

    # -- queries ---------------------------------------------------------------------------
    def match(self, query: str, k: int = 5) -> list[Candidate]:
        """The best ``k`` entries for ``query``, best first (empty if nothing matches)."""
        if k <= 0 or not normalise(query, max_chars=MAX_QUERY_CHARS) or not self.engine.entries:
            return []
        cfg = self.config
        lexical = {c.entry_id: c for c in self.engine.match(query, k=max(k, cfg.lexical_k))}
        qvec = self.encoder.encode([query[:MAX_QUERY_CHARS]])[0]
        sims = self.index.similarities(qvec)
        dense = {eid: (cos, text) for eid, cos, text in
                 self.index.top_entries(sims, max(k, cfg.dense_k))}
        out: list[Candidate] = []
        for eid in lexical.keys() | dense.keys():
            lex = lexical.get(eid)
            got = dense.get(eid) or self.index.best_of(sims, eid)
            cos, dtext = got if got is not None else (0.0, "")
            lex_score = lex.score if lex else 0.0
            lex_conf = lex.confidence if lex else 0.0
            dconf = cfg.calibrate(cos) if got is not None else 0.0
            text = lex.matched_phrasing if lex and lex_conf >= dconf else dtext
            out.append(Candidate(eid, lex_score + cfg.w_dense * cos, max(lex_conf, dconf), text))
        out.sort(key=lambda c: (-c.score, c.entry_id))
        return out[:k]
