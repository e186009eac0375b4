"""The learnt re-ranker: training mechanics and how the engine uses it (not accuracy)."""

from __future__ import annotations

import random

import pytest

from kefu.kb import learn
from kefu.kb.engine import Entry, MatchEngine

ENTRIES = [
    Entry("repay", "花呗怎么还款", ("花呗如何还款", "花呗还钱怎么操作", "怎么还花呗"), "a"),
    Entry("jb_repay", "借呗怎么还款", ("借呗如何还款", "借呗还钱怎么操作", "怎么还借呗"), "b"),
    Entry("limit", "花呗额度怎么提升", ("花呗怎么提额", "怎样提高花呗额度"), "c"),
    Entry("overdue", "花呗逾期了怎么办", ("花呗逾期有什么后果", "花呗晚还了几天"), "d"),
    Entry("close", "怎么关闭花呗", ("花呗可以注销吗", "不想用花呗了怎么关"), "e"),
]


def test_pair_features_views() -> None:
    f = learn.pair_features(frozenset({"花呗", "还款"}), frozenset({"花呗", "还款"}),
                            ("花呗", "还钱"), ("花呗", "还钱"))
    assert "B:花呗" in f
    assert {"X:还款", "X:还钱", "C:还款|还钱"} <= set(f)
    assert "b:花呗" in f and "x:还钱" in f


def test_fit_learns_the_separating_feature() -> None:
    groups: list[learn.Group] = []
    rng = random.Random(0)
    for _ in range(50):
        right = rng.randrange(3)
        cands = [(["B:good"] if i == right else ["B:bad"], 1.0) for i in range(3)]
        groups.append((cands, right))
    model = learn.fit(groups, l2=1e-3)
    assert model.weights["B:good"] > model.weights.get("B:bad", 0.0)
    assert model.n_queries == 50
    assert learn.fit([]).weights == {}


def test_kb_groups_hold_out_the_query() -> None:
    engine = MatchEngine(ENTRIES)
    groups = learn.kb_groups(engine, max_queries=8, seed=1)
    assert 0 < len(groups) <= 8
    for cands, right in groups:
        assert 0 <= right < len(cands)
        # the held-out phrasing is not in the training index: no candidate matches it whole
        assert all(any(f.startswith(("X:", "x:")) for f in feats) for feats, _ in cands)


def test_trained_engine_still_answers() -> None:
    engine = MatchEngine(ENTRIES)
    pairs = [("花呗怎么还", "花呗还款方法", 1), ("花呗怎么还", "借呗怎么还", 0),
             ("花呗提额", "花呗额度提高", 1), ("花呗提额", "花呗逾期", 0)]
    engine.reranker = learn.train(engine, pairs, max_queries=50)
    assert engine.reranker.n_queries > 0
    assert engine.match("花呗要怎么还款", 3)[0].entry_id == "repay"
    assert engine.match("借呗要怎么还款", 3)[0].entry_id == "jb_repay"
    cands = engine.match("花呗额度怎么提升", 5)
    assert cands[0].entry_id == "limit" and cands[0].confidence > 0.9
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert engine.match("😀", 3) == []


def test_incremental_updates_equal_a_fresh_build_with_the_same_model() -> None:
    model = learn.train(MatchEngine(ENTRIES), max_queries=50)
    rng = random.Random(3)
    inc = MatchEngine(ENTRIES[:3], reranker=model)
    inc.upsert(ENTRIES[3])
    inc.upsert(Entry("close", "怎么关闭花呗", ("花呗可以注销吗",), "e"))
    inc.remove("limit")
    inc.upsert(ENTRIES[2])
    inc.upsert(ENTRIES[4])
    fresh = MatchEngine([*ENTRIES[:2], ENTRIES[3], ENTRIES[2], ENTRIES[4]], reranker=model)
    texts = [t for e in ENTRIES for t in e.texts()]
    for q in [*texts, "".join(rng.sample("花呗借呗还款额度逾期关闭", 5))]:
        a, b = inc.match(q, 5), fresh.match(q, 5)
        assert [c.entry_id for c in a] == [c.entry_id for c in b], q
        assert [c.score for c in a] == pytest.approx([c.score for c in b], abs=1e-5)


def test_fast_score_equals_the_feature_sum() -> None:
    model = learn.train(MatchEngine(ENTRIES), max_queries=50)
    q = (frozenset({"花呗", "还款", "怎么"}), frozenset({"花呗", "呗还", "还款"}))
    d = (("花呗", "还钱", "如何"), ("花呗", "呗还", "还钱"))
    assert model.score(*q, *d) == pytest.approx(
        model.pair_score(learn.pair_features(*q, *d)))


def test_fit_learns_a_dense_feature_and_from_labelled_pairs() -> None:
    rng = random.Random(1)
    groups: list[learn.Group] = []
    for _ in range(60):
        right = rng.randrange(3)
        # same engine score everywhere; the second dense value (e.g. keyword overlap) decides
        groups.append(([([], (1.0, 1.0 if i == right else 0.0)) for i in range(3)], right))
    model = learn.fit(groups, l2=1e-3)
    assert len(model.dense) == 2 and model.dense[1] > 0.5
    assert model.engine_weight == model.dense[0]
    labelled = [(["C:还款|还钱"], 1)] * 20 + [(["C:花呗|借呗"], 0)] * 20
    model = learn.fit(groups, l2=1e-3, labelled=labelled)
    assert model.weights["C:还款|还钱"] > 0 > model.weights["C:花呗|借呗"]


def test_training_rows_carry_the_engine_components() -> None:
    from kefu.kb.engine import DENSE_FEATURES

    engine = MatchEngine(ENTRIES)
    group = engine.training_group("花呗要怎么还款", "repay")
    assert group is not None
    rows, right = group
    assert rows[right][0] and all(len(x) == len(DENSE_FEATURES) for _, x in rows)
    cands = engine.match("花呗要怎么还款", len(rows))
    assert [x[0] for _, x in rows] == pytest.approx([c.score for c in cands])
    assert [x[1] for _, x in rows] == pytest.approx([c.confidence for c in cands])
