"""The matching engine: behaviour, not accuracy."""

from __future__ import annotations

import random

import pytest

from kefu.kb.engine import Candidate, Entry, MatchEngine, decide
from kefu.nlp.tokenise import DEFAULT_STOP_WORDS, Tokeniser

ENTRIES = [
    Entry("refund", "怎么申请退款", ("退款怎么操作", "我要退钱", "如何退货退款"), "在订单页申请"),
    Entry("ship", "什么时候发货", ("多久发货", "快递什么时候到"), "48小时内发货"),
    Entry("invoice", "怎么开发票", ("可以开发票吗", "发票怎么开"), "在订单页开票"),
    Entry("pwd", "忘记密码怎么办", ("密码找回", "重置登录密码"), "点忘记密码"),
    Entry("card", "My card has not arrived", ("When will my card arrive?",), "5 days"),
]


def engine() -> MatchEngine:
    return MatchEngine(ENTRIES)


def test_finds_a_paraphrase() -> None:
    e = engine()
    assert e.match("退款要怎么弄", 3)[0].entry_id == "refund"
    assert e.match("請問什麼時候發貨？", 3)[0].entry_id == "ship"  # traditional, full-width
    assert e.match("my card still hasn't arrived", 3)[0].entry_id == "card"


def test_candidates_are_sorted_and_confidence_bounded() -> None:
    cands = engine().match("怎么申请退款", 5)
    assert cands[0].entry_id == "refund"
    assert cands[0].confidence > 0.9  # the standard question itself
    assert all(0.0 <= c.confidence <= 1.0 for c in cands)
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert cands[0].matched_phrasing == "怎么申请退款"


def test_synonyms_through_the_engine() -> None:
    tok = Tokeniser(synonyms=[["快递", "物流"]], stop_words=DEFAULT_STOP_WORDS)
    e = MatchEngine(ENTRIES, tokeniser=tok)
    assert e.match("物流什么时候到", 1)[0].entry_id == "ship"


@pytest.mark.parametrize("query", ["", "   ", "😀😀😀", "。。。！！？？", "🎉" * 5000])
def test_nothing_to_match_gives_none(query: str) -> None:
    e = engine()
    assert e.match(query, 3) == []
    assert e.decide(query).kind == "none"


def test_huge_query_does_not_crash() -> None:
    e = engine()
    e.match("退款" * 5000, 3)
    e.match("x" * 10_000, 3)
    assert e.match("", 0) == []


def test_empty_engine() -> None:
    assert MatchEngine().match("退款", 3) == []


def cand(conf: float, eid: str = "a") -> Candidate:
    return Candidate(eid, conf, conf, "q")


def test_thresholds_drive_decide() -> None:
    cands = [cand(0.7, "a"), cand(0.5, "b"), cand(0.45, "c"), cand(0.41, "d"), cand(0.2, "e")]
    assert decide(cands, 0.6, 0.4).kind == "answer"
    assert decide(cands, 0.6, 0.4).candidates == (cands[0],)
    clar = decide(cands[1:], 0.6, 0.4)
    assert clar.kind == "clarify"
    assert [c.entry_id for c in clar.candidates] == ["b", "c", "d"]  # at most 3
    assert [c.entry_id for c in decide(cands[1:], 0.6, 0.48).candidates] == ["b"]
    assert decide(cands[4:], 0.6, 0.4).kind == "none"
    assert decide([], 0.6, 0.4).kind == "none"


def test_unrelated_question_is_not_answered() -> None:
    assert engine().decide("今天北京天气怎么样").kind != "answer"


def test_incremental_updates_equal_a_fresh_build() -> None:
    rng = random.Random(7)
    words = ["退款", "发货", "快递", "发票", "密码", "会员", "积分", "优惠券", "订单", "地址",
             "售后", "换货", "价格", "库存"]
    pool = [Entry(f"e{i}", "".join(rng.sample(words, 3)),
                  tuple("".join(rng.sample(words, 2)) for _ in range(3)))
            for i in range(40)]
    inc = MatchEngine(pool[:20])
    live = {e.id: e for e in pool[:20]}
    for step in range(60):
        if step % 3 == 2 and live:
            victim = rng.choice(sorted(live))
            inc.remove(victim)
            del live[victim]
        else:
            e = rng.choice(pool)
            e = Entry(e.id, e.question, (*e.phrasings, "".join(rng.sample(words, 2))))
            inc.upsert(e)
            live[e.id] = e
        if step % 10 == 0:
            inc.match("退款", 3)  # interleave queries with edits (lazy merges)
    fresh = MatchEngine(live.values())
    assert set(inc.entries) == set(fresh.entries)
    assert inc.n_phrasings == fresh.n_phrasings
    queries = ["".join(rng.sample(words, 2)) for _ in range(40)] + words
    for q in queries:
        a, b = inc.match(q, 5), fresh.match(q, 5)
        assert [c.entry_id for c in a] == [c.entry_id for c in b], q
        assert [c.confidence for c in a] == pytest.approx([c.confidence for c in b], abs=1e-5)


def test_remove_and_compaction() -> None:
    e = MatchEngine([Entry(f"x{i}", f"问题{i}号退款") for i in range(200)] + ENTRIES)
    for i in range(200):
        e.remove(f"x{i}")
    e.remove("unknown")
    assert len(e) == len(ENTRIES)
    assert len(e.docs) < 200  # compacted
    assert e.match("怎么申请退款", 1)[0].entry_id == "refund"


def _churn(auto_compact: bool) -> tuple[MatchEngine, dict[str, Entry], list[str]]:
    """Many upserts and removes (dead phrasings well past the compaction ratio)."""
    from kefu.kb.engine import EngineConfig

    rng = random.Random(11)
    words = ["退款", "发货", "快递", "发票", "密码", "会员", "积分", "优惠券", "订单", "地址",
             "售后", "换货", "价格", "库存", "花呗", "借呗"]
    pool = [Entry(f"e{i}", "".join(rng.sample(words, 3)) + str(i),
                  tuple("".join(rng.sample(words, 2)) for _ in range(3)))
            for i in range(120)]
    eng = MatchEngine(pool, config=EngineConfig(auto_compact=auto_compact))
    live = {e.id: e for e in pool}
    for step in range(300):
        if step % 2:
            e = rng.choice(pool)
            e = Entry(e.id, e.question, (*e.phrasings[:2], "".join(rng.sample(words, 2))))
            eng.upsert(e)
            live[e.id] = e
        elif live:
            victim = rng.choice(sorted(live))
            eng.remove(victim)
            del live[victim]
        if step % 25 == 0:
            eng.match("退款发货", 3)  # queries between edits (lazy merges)
    queries = ["".join(rng.sample(words, 2)) for _ in range(40)] + words
    return eng, live, queries


def _same_answers(a_engine: MatchEngine, b_engine: MatchEngine, queries: list[str]) -> None:
    for q in queries:
        a, b = a_engine.match(q, 5), b_engine.match(q, 5)
        assert [c.entry_id for c in a] == [c.entry_id for c in b], q
        assert [c.confidence for c in a] == pytest.approx([c.confidence for c in b], abs=1e-5)
        assert [c.score for c in a] == pytest.approx([c.score for c in b], abs=1e-5)


@pytest.mark.parametrize("auto_compact", [True, False])
def test_many_removes_equal_a_fresh_build(auto_compact: bool) -> None:
    eng, live, queries = _churn(auto_compact)
    fresh = MatchEngine(live.values())
    assert set(eng.entries) == set(fresh.entries)
    assert eng.n_phrasings == fresh.n_phrasings
    if auto_compact:
        assert not eng.needs_compaction()
    else:
        # never rebuilt by itself: every removed phrasing is still a dead slot
        assert eng.needs_compaction() and eng.n_dead > len(eng.docs) / 2
    _same_answers(eng, fresh, queries)


def test_compacted_copy_equals_a_fresh_build_and_keeps_the_model() -> None:
    from kefu.kb import learn

    eng, live, queries = _churn(auto_compact=False)
    eng.reranker = learn.train(MatchEngine(ENTRIES), max_queries=20)
    n_docs = len(eng.docs)
    copy = eng.compacted()
    # the original is untouched (it keeps serving while the copy is built)
    assert len(eng.docs) == n_docs and eng.needs_compaction()
    assert copy.tokeniser is eng.tokeniser and copy.config is eng.config
    assert copy.reranker is eng.reranker
    assert copy.n_dead == 0 and not copy.needs_compaction()
    assert len(copy.docs) == copy.n_phrasings == eng.n_phrasings
    _same_answers(copy, eng, queries)
    fresh = MatchEngine(live.values(), config=eng.config, reranker=eng.reranker)
    _same_answers(copy, fresh, queries)
    for eid in sorted(live)[1:]:  # the config travels along: remove never rebuilds the copy
        copy.remove(eid)
    assert copy.needs_compaction() and len(copy.docs) == eng.n_phrasings
    assert copy.n_phrasings == len(live[sorted(live)[0]].texts())


# -- the optimised scoring against straightforward references -------------------------------

def _naive_bm25(live: dict[int, list[str]], n_slots: int, query: list[str], max_df: float,
                k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 of every slot from the live documents' token lists, document by document."""
    import math
    from collections import Counter

    n = len(live)
    out = [0.0] * n_slots
    if not n:
        return out
    avgdl = sum(len(t) for t in live.values()) / n or 1.0
    df = Counter(t for toks in live.values() for t in set(toks))
    for slot, toks in live.items():
        tf = Counter(toks)
        for term, qtf in Counter(query).items():
            if df[term] == 0 or (df[term] > max_df * n and df[term] > 1) or term not in tf:
                continue
            idf = math.log(1.0 + (n - df[term] + 0.5) / (df[term] + 0.5))
            norm = k1 * (1.0 - b + b * len(toks) / avgdl)
            out[slot] += idf * qtf * (k1 + 1.0) * tf[term] / (tf[term] + norm)
    return out


def test_bm25_scores_equal_a_reference_under_adds_and_removes() -> None:
    import numpy as np

    from kefu.kb.engine import Bm25Index

    rng = random.Random(5)
    vocab = [f"t{i}" for i in range(24)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]  # a few very common terms
    idx = Bm25Index()
    live: dict[int, list[str]] = {}
    for step in range(500):
        r = rng.random()
        if r < 0.3 and live:
            slot = rng.choice(sorted(live))
            idx.remove(slot)
            del live[slot]
            idx.remove(slot)  # twice: a no-op
        else:
            toks = rng.choices(vocab, weights, k=rng.randint(0, 8))
            live[idx.add(toks)] = toks
        if step % 50 == 0:
            idx.merge()
        for _ in range(2):  # the second query of the same terms uses the kept contributions
            q = rng.choices(vocab, k=rng.randint(1, 6))  # repeated terms: query tf > 1
            for max_df in (1.0, 0.5):
                fast = idx.score(q, max_df)
                assert np.array_equal(fast, idx.score_reference(q, max_df))
                assert np.array_equal(fast, idx.score(q, max_df))
                want = _naive_bm25(live, idx.n_docs, q, max_df)
                assert fast.tolist() == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_top_equals_a_full_sort() -> None:
    import numpy as np

    from kefu.kb.engine import _top

    rs = np.random.default_rng(0)
    for trial in range(60):
        n = int(rs.choice([0, 1, 50, 3_000, 40_000]))
        k = int(rs.choice([1, 3, 200]))
        levels = rs.integers(1, 20) if trial % 2 else 1_000_000  # many ties, or few
        v = (rs.integers(0, levels, n) / levels).astype(np.float32)
        v[rs.random(n) < rs.random()] = 0  # mostly zeros in a BM25 score array
        if trial % 5 == 0 and n:
            v[::32] = 0  # the best values all off the sampling stride
        order = np.lexsort((np.arange(n), -v))
        want = order[v[order] > 0][:k]
        got = _top(v, k)
        assert got.tolist() == want.tolist()


def _reference_pool(engine: MatchEngine, query: str) -> tuple[list[int], list[float]]:
    """The pool the straightforward way: full-length fusion, a full sort (equal by slot)."""
    import numpy as np

    from kefu.nlp.normalise import normalise

    cfg = engine.config
    qn = normalise(query)
    sw = engine.words.score_reference(engine.tokeniser.words(qn), cfg.max_df)
    sc = engine.chars.score_reference(engine.tokeniser.chars(qn), cfg.max_df)
    fused = np.zeros(len(sw), dtype=np.float32)
    if sw.max() > 0:
        fused += cfg.word_weight * sw / float(sw.max())
    if sc.max() > 0:
        fused += (1.0 - cfg.word_weight) * sc / float(sc.max())
    order = np.lexsort((np.arange(len(fused)), -fused))
    order = order[fused[order] > 0][: cfg.pool]
    return order.tolist(), fused[order].tolist()


@pytest.mark.parametrize("pool", [200, 3])
def test_fast_pool_equals_the_reference_after_edits(pool: int) -> None:
    from kefu.kb.engine import EngineConfig
    from kefu.nlp.normalise import normalise

    eng, _, queries = _churn(auto_compact=False)
    eng.config = EngineConfig(auto_compact=False, pool=pool)  # 3: the strided-sample bound
    assert len(eng.docs) > 4 * 32 * 3 and eng.n_dead > 0
    for q in [*queries, "怎么申请退款", "xyz"]:
        for _ in range(2):  # again: the kept contributions
            qn = normalise(q)
            found = eng._pool(eng.tokeniser.words(qn), eng.tokeniser.chars(qn))
            slots, values = _reference_pool(eng, q)
            if found is None:
                assert slots == []
                continue
            assert found[0].tolist() == slots, q
            assert found[1].tolist() == values, q


def test_match_equals_the_reference_scoring() -> None:
    eng, _, queries = _churn(auto_compact=False)
    for q in queries:
        eng.reference_scoring = False
        a = eng.match(q, 5)
        eng.reference_scoring = True
        b = eng.match(q, 5)
        assert [c.entry_id for c in a] == [c.entry_id for c in b], q
        assert [c.score for c in a] == pytest.approx([c.score for c in b], abs=1e-6)
        assert [c.confidence for c in a] == pytest.approx([c.confidence for c in b], abs=1e-6)
