"""Bot matching benchmark: accuracy on real data sets, beside a plain BM25 baseline, and speed.

Builds the tasks of ``../shared/datasets/README.md`` (read in place, never copied into the
repo) as temporary ``KB.csv`` / ``QUERIES.csv`` files and runs them through the same code path
as ``kefu bot eval`` (``kefu.kb.offline_eval.run_eval``):

* ``afqmc``: union-find over AFQMC train label-1 pairs; a cluster is an entry whose phrasings
  are its ``sentence1`` texts, its ``sentence2`` texts that are not phrasings are queries;
  1,000 queries sampled (seed 0), KB = their clusters + 1,000 label-0-only distractors;
* ``afqmc+lcqmc-oos``: the same KB and queries + 500 LCQMC test questions (out of scope);
* ``banking77``: train utterances are the phrasings of the entry named by their intent; test
  utterances are the queries.

Columns: ``kefu`` (lexical engine + the learnt re-ranker of ``kefu.kb.learn``, trained at run
time), ``lexical`` (the same engine without the re-ranker) and ``bm25`` (baseline: bm25s over
rjieba tokens of the lower-cased text, max per entry, always answers). The re-ranker is trained
from the KB's own phrasings (Banking77: train utterances of the same intent) and, for the AFQMC
tasks, also from the AFQMC *train* and *dev* pairs that share no text with the evaluation KB, its
queries or the OOS questions (the split is printed and checked); the evaluation queries are
never seen in training.
Thresholds are not tuned here: ``--tune`` sweeps them on a dev construction (AFQMC dev.txt +
LCQMC dev.txt) and prints the best pair, which is what ``kefu.kb.engine.Thresholds`` holds.

Speed: 100k phrasings synthesised from every unique AFQMC sentence (train+dev+test) plus
perturbed copies (one character dropped, or two adjacent characters swapped, seeded), grouped
5 per entry; reports build time, query p50/p99 over 1,000 queries (medians of 3 rounds, with
and without the re-ranker on the same index, each also with the engine's pre-optimisation
scoring, ``before_*``, and how many answers differ between the two), upsert time of one entry
and the resident memory the index (and the re-ranker's training) adds (``gc.freeze()`` after
the build, as a server should do after building its indexes at start). ``--big`` also runs 1M
phrasings.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from kefu.kb import learn  # noqa: E402
from kefu.kb.engine import Candidate, EngineConfig, Entry, MatchEngine  # noqa: E402
from kefu.kb.offline_eval import Report, evaluate, load_kb, load_queries, run_eval  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
SEED = 0

Task = tuple[list[Entry], list[tuple[str, str]]]  # entries, (query, expected id or "OOS")


def _pairs(path: Path) -> list[tuple[str, str, int]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip() in ("0", "1"):
            out.append((parts[0].strip(), parts[1].strip(), int(parts[2])))
    return out


def pair_task(path: Path, n_queries: int = 1000, n_distractors: int = 1000,
              seed: int = SEED) -> Task:
    pairs = _pairs(path)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, y in pairs:
        if y == 1:
            parent[find(a)] = find(b)
    clusters: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"s1": set(), "s2": set()})
    for a, b, y in pairs:
        if y == 1:
            clusters[find(a)]["s1"].add(a)
            clusters[find(a)]["s2"].add(b)
    all_phrasings = {s for c in clusters.values() for s in c["s1"]}
    candidates = sorted((q, root) for root, c in clusters.items() if c["s1"]
                        for q in c["s2"] if q not in all_phrasings)
    rng = random.Random(seed)
    sampled = rng.sample(candidates, min(n_queries, len(candidates)))
    roots = sorted({r for _, r in sampled})
    ids = {r: f"c{i}" for i, r in enumerate(roots)}
    entries = []
    for r in roots:
        ph = sorted(clusters[r]["s1"])
        entries.append(Entry(ids[r], ph[0], tuple(ph[1:]), f"answer {ids[r]}", "faq"))
    positive = set(parent)
    negatives = sorted({s for a, b, y in pairs if y == 0 for s in (a, b)} - positive)
    for i, s in enumerate(rng.sample(negatives, min(n_distractors, len(negatives)))):
        entries.append(Entry(f"d{i}", s, (), f"answer d{i}", "distractor"))
    return entries, [(q, ids[r]) for q, r in sampled]


def oos_questions(path: Path, n: int, exclude: set[str], seed: int = SEED) -> list[str]:
    qs = sorted({a for a, _, _ in _pairs(path)} - exclude)
    return random.Random(seed).sample(qs, n)


def banking77() -> Task:
    def rows(name: str) -> list[tuple[str, str]]:
        with (DATA / "banking77" / name).open(encoding="utf-8", newline="") as f:
            return [(r["text"], r["category"]) for r in csv.DictReader(f)]

    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, cat in rows("train.csv"):
        by_intent[cat].append(text)
    entries = [Entry(cat, ts[0], tuple(ts[1:]), f"answer {cat}", "banking")
               for cat, ts in sorted(by_intent.items())]
    return entries, rows("test.csv")


def write_task(task: Task, folder: Path) -> tuple[Path, Path]:
    kb, qs = folder / "KB.csv", folder / "QUERIES.csv"
    with kb.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "question", "similar_questions", "answer", "category"])
        for e in task[0]:
            w.writerow([e.id, e.question, "\n".join(e.phrasings), e.answer, e.category])
    with qs.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query", "expected_id"])
        w.writerows(task[1])
    return kb, qs


class Bm25Baseline:
    """Plain BM25 (bm25s) over rjieba tokens of the lower-cased text; max per entry."""

    def __init__(self, entries: list[Entry]) -> None:
        import bm25s
        import rjieba

        self._cut = rjieba.cut
        self.doc_entry: list[str] = []
        self.doc_text: list[str] = []
        corpus = []
        for e in entries:
            for t in e.texts():
                self.doc_entry.append(e.id)
                self.doc_text.append(t)
                corpus.append(self._tok(t))
        self.retriever = bm25s.BM25()
        self.retriever.index(corpus, show_progress=False)
        self.vocab = set(self.retriever.vocab_dict)

    def _tok(self, text: str) -> list[str]:
        return [t for t in self._cut(text.lower()) if t.strip()] or ["<empty>"]

    def match(self, query: str, k: int = 5) -> list[Candidate]:
        toks = [t for t in self._tok(query) if t in self.vocab]
        if not toks:
            return []
        n = min(50, len(self.doc_entry))
        docs, scores = self.retriever.retrieve([toks], k=n, show_progress=False)
        out: dict[str, Candidate] = {}
        for d, s in zip(docs[0].tolist(), scores[0].tolist(), strict=True):
            eid = self.doc_entry[d]
            if eid not in out and s > 0:
                out[eid] = Candidate(eid, float(s), 1.0, self.doc_text[d])
        return sorted(out.values(), key=lambda c: -c.score)[:k]


def baseline_eval(kb: Path, qs: Path) -> Report:
    entries = load_kb(kb)
    t0 = time.perf_counter()
    base = Bm25Baseline(entries)
    build = time.perf_counter() - t0
    return evaluate(load_queries(qs), base.match, 0.5, 0.5, build)


def tune(cfg: EngineConfig | None = None) -> None:
    entries, queries = pair_task(DATA / "afqmc" / "dev.txt", n_queries=600, n_distractors=600)
    texts = {t for e in entries for t in e.texts()}
    oos = oos_questions(DATA / "lcqmc" / "dev.txt", 300, texts)
    engine = MatchEngine(entries, config=cfg)
    rows = [(engine.match(q, 5), e) for q, e in queries] + [(engine.match(q, 5), None)
                                                          for q in oos]
    print(f"dev: {len(queries)} in-scope + {len(oos)} OOS queries, {len(entries)} entries")
    best = None
    for th in np.arange(0.30, 0.90, 0.02):
        tp = sum(1 for c, e in rows if e is None and (not c or c[0].confidence < th))
        pred = sum(1 for c, _ in rows if not c or c[0].confidence < th)
        p = tp / pred if pred else 0.0
        r = tp / len(oos)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        ok = sum(1 for c, e in rows if e and c and c[0].confidence >= th and c[0].entry_id == e)
        ans = sum(1 for c, _ in rows if c and c[0].confidence >= th)
        pa = ok / ans if ans else 0.0
        print(f"  answer>={th:.2f}  oos_f1={f1:.3f}  precision_answered={pa:.3f}  "
              f"answered={ans / len(rows):.3f}")
        if best is None or f1 > best[0]:
            best = (f1, th)
    print(f"best answer threshold on dev by OOS F1: {best[1]:.2f} (F1 {best[0]:.3f})"
          if best else "")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _perturb(s: str, rng: random.Random) -> str:
    if len(s) < 3:
        return s + s
    i = rng.randrange(len(s) - 1)
    if rng.random() < 0.5:
        return s[:i] + s[i + 1:]
    return s[:i] + s[i + 1] + s[i] + s[i + 2:]


def _compare_answers(engine: MatchEngine, queries: list[str], fast: list[list[Candidate]],
                     reference: list[list[Candidate]]) -> tuple[int, int]:
    """Queries whose answers (ids, scores, confidences to 1e-5) differ between the optimised and
    the reference scoring: (only because phrasings with equal fused BM25 — identical texts —
    were cut at a different one of them: the pool's scores and the entry scores are the same
    floats, the reference's argpartition leaves the order of equal scores undefined, the
    optimised code takes them by slot; for any other reason)."""
    from kefu.nlp.normalise import normalise

    ties = other = 0
    for q, a, b in zip(queries, fast, reference, strict=True):
        if [c.entry_id for c in a] == [c.entry_id for c in b] and all(
                abs(x.score - y.score) <= 1e-5 and abs(x.confidence - y.confidence) <= 1e-5
                for x, y in zip(a, b, strict=True)):
            continue
        qn = normalise(q, max_chars=256)
        qw, qc = engine.tokeniser.words(qn), engine.tokeniser.chars(qn)
        pf, pr = engine._pool(qw, qc), engine._pool_reference(qw, qc)
        ent = engine.entry_index
        same = (pf is not None and pr is not None and np.array_equal(pf[1], pr[1])
                and np.array_equal(ent.score([*qw, *qc]), ent.score_reference([*qw, *qc])))
        ties, other = (ties + 1, other) if same else (ties, other + 1)
    return ties, other


def speed(n_phrasings: int, rounds: int = 3) -> dict[str, float]:
    sents: set[str] = set()
    for name in ("train.txt", "dev.txt", "test.txt"):
        for line in (DATA / "afqmc" / name).read_text(encoding="utf-8").splitlines():
            sents.update(p.strip() for p in line.split("\t")[:2] if p.strip())
    base = sorted(sents)
    rng = random.Random(SEED)
    texts = list(base)
    while len(texts) < n_phrasings:
        texts.append(_perturb(rng.choice(base), rng))
    texts = texts[:n_phrasings]
    entries = [Entry(f"e{i // 5}", texts[i], tuple(texts[i + 1:i + 5]))
               for i in range(0, len(texts), 5)]
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    engine = MatchEngine(entries)
    build = time.perf_counter() - t0
    rss = _rss_mb() - rss0
    t0 = time.perf_counter()
    engine.reranker = learn.train(engine)  # from the KB's own phrasings (a server: background)
    train = time.perf_counter() - t0
    # a long-lived index: keep the cyclic GC from rescanning its millions of objects (without
    # this, an occasional full collection adds ~0.1 s at 100k and ~1.5 s at 1M to one call)
    gc.freeze()
    rss_model = _rss_mb() - rss0 - rss
    queries = [_perturb(q, rng) for q in rng.sample(base, 1000)]
    model = engine.reranker
    for q in queries[:20]:
        engine.match(q, 5)  # warm the merged postings
    # the lexical engine and the engine + re-ranker on the same index, each also with the
    # pre-optimisation scoring (``reference_scoring``: ``before_*``), alternated: medians over
    # rounds, so a burst of load on the (shared) machine hits every column alike
    figures: dict[str, list[float]] = defaultdict(list)
    answers: dict[bool, list[list[Candidate]]] = {}
    rss_q = _rss_mb()
    for _ in range(rounds):
        for name, m, ref in (("lexical", None, False), ("before_lexical", None, True),
                             ("reranked", model, False), ("before_reranked", model, True)):
            engine.reranker = m
            engine.reference_scoring = ref
            lat = []
            got = []
            for q in queries:
                t = time.perf_counter()
                got.append(engine.match(q, 5))
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            figures[f"{name}_p50_ms"].append(statistics.median(lat))
            figures[f"{name}_p99_ms"].append(lat[int(0.99 * (len(lat) - 1))])
            if m is not None:
                answers[ref] = got
    engine.reranker = model
    engine.reference_scoring = False
    # the BM25 contributions the optimised scoring keeps per queried term (until the next edit):
    # counted, since the RSS hardly moves (the freed temporaries of the reference are reused)
    rss_cache = _rss_mb() - rss_q
    kept = sum(p.cached[1].nbytes for ix in (engine.words, engine.chars, engine.entry_index)
               for p in ix.postings.values() if p.cached is not None) / 2**20
    ties, other = _compare_answers(engine, queries, answers[False], answers[True])
    upd = []
    for i in range(50):
        e = entries[rng.randrange(len(entries))]
        new = Entry(e.id, e.question, (*e.phrasings, f"新问法{i}{e.question}"))
        t = time.perf_counter()
        engine.upsert(new)
        engine.match(e.question, 5)  # includes the lazy merge the edit causes
        upd.append((time.perf_counter() - t) * 1000)
    out = {"phrasings": engine.n_phrasings, "build_s": build, "train_s": train}
    out.update({k: statistics.median(v) for k, v in figures.items()})
    out.update({"worst_round_reranked_p99_ms": max(figures["reranked_p99_ms"]),
                "answers_differ_only_in_ties": ties, "answers_differ_otherwise": other,
                "query_rounds_rss_mb": rss_cache, "kept_contributions_mb": kept,
                "upsert_plus_query_ms_p50": statistics.median(upd), "upsert_ms_max": max(upd),
                "index_rss_mb": rss, "reranker_rss_mb": rss_model,
                "reranker_weights": len(model.weights) if model else 0})
    return out


METRICS = ("top1", "top3", "answered_rate", "precision_answered", "oos_precision",
           "oos_recall", "oos_f1", "latency_p99_ms", "build_seconds", "train_seconds")


def heldout_pairs(path: Path, exclude: set[str]) -> list[tuple[str, str, int]]:
    """Labelled pairs of ``path`` that contain no text of ``exclude`` (the evaluation KB,
    queries and OOS questions): training data that cannot leak an evaluation query."""
    return [(a, b, y) for a, b, y in _pairs(path) if a not in exclude and b not in exclude]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tune", action="store_true", help="sweep thresholds on the dev split")
    ap.add_argument("--big", action="store_true", help="also time 1M phrasings")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data sets not found at {DATA}")
    if args.tune:
        tune()
        return
    afq = pair_task(DATA / "afqmc" / "train.txt")
    texts = {t for e in afq[0] for t in e.texts()} | {q for q, _ in afq[1]}
    oos = oos_questions(DATA / "lcqmc" / "test.txt", 500, texts)
    tasks: dict[str, Task] = {
        "afqmc": afq,
        "afqmc+lcqmc-oos": (afq[0], afq[1] + [(q, "OOS") for q in oos]),
        "banking77": banking77(),
    }
    train_pairs: list[tuple[str, str, int]] = []
    for split in ("train.txt", "dev.txt"):
        kept = heldout_pairs(DATA / "afqmc" / split, texts | set(oos))
        n_all = len(_pairs(DATA / "afqmc" / split))
        print(f"AFQMC training split for the re-ranker: {len(kept)} of {n_all} {split} "
              f"pairs ({sum(y for *_, y in kept)} positive) share no text with the "
              f"evaluation KB ({len(afq[0])} entries), its {len(afq[1])} queries or the "
              f"{len(oos)} OOS questions; the other {n_all - len(kept)} are not used.")
        train_pairs += kept
    leak = {t for a, b, _ in train_pairs for t in (a, b)} & (texts | set(oos))
    assert not leak, f"{len(leak)} evaluation texts in the training pairs"
    with tempfile.TemporaryDirectory() as tmp:
        for name, task in tasks.items():
            folder = Path(tmp) / name
            folder.mkdir()
            kb, qs = write_task(task, folder)
            n_ph = sum(len(e.texts()) for e in task[0])
            pairs = train_pairs if name.startswith("afqmc") else []
            ours = run_eval(kb, qs, pairs=pairs)
            lexical = run_eval(kb, qs, train=False)
            base = baseline_eval(kb, qs)
            print(f"\n== {name}: {len(task[0])} entries, {n_ph} phrasings, "
                  f"{len(task[1])} queries")
            print(f"{'metric':20} {'kefu':>8} {'lexical':>8} {'bm25':>8}")
            mo, ml, mb = ours.metrics(), lexical.metrics(), base.metrics()
            for m in METRICS:
                print(f"{m:20} {mo[m]:8.3f} {ml[m]:8.3f} {mb[m]:8.3f}")
    if not args.no_speed:
        for n in (100_000, 1_000_000) if args.big else (100_000,):
            s = speed(n)
            print(f"\n== speed at {n:,} phrasings (one process)")
            for k, v in s.items():
                print(f"{k:28} {v:10.2f}")


if __name__ == "__main__":
    main()
