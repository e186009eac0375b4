"""Sentiment accuracy of ``kefu.nlp.sentiment.anger`` on labelled Chinese review sets.

The construction of ``../shared/datasets/README.md`` (read in place, never copied): label 0 =
negative; a fixed 20 % stratified test split (seed 0); accuracy, macro-F1 and negative-class
precision / recall, beside

* ``majority``: always the majority class of the 80 % part;
* ``keywords``: negative when the review contains any of a tiny fixed list
  (``NAIVE_NEGATIVE``), not tuned;
* ``anger ≥ 1.0``: kefu's anger score at the QA engine's default threshold (``ANGRY``);
* ``anger ≥ t*``: the threshold that maximises macro-F1 on the 80 % part (never on the test
  split), among the distinct scores seen there.

* ``dissatisfaction ≥ 1.0`` and ``≥ t*``: kefu's polarity lexicon (dissatisfaction minus
  satisfaction cues, negation-aware; our own word lists, written without looking at these
  sets), at the QA default and at the threshold picked on the 80 % part.

``anger`` is an anger / complaint detector (投诉, 骗子, 差评, 退钱 …), not a general polarity
classifier: a mildly negative review ("味道一般，有点咸") has no anger cue, so its recall of the
negative class is low by design. These figures say how much of each set reads as a complaint.

``python bench/qa_sentiment.py`` prints the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from kefu.nlp.sentiment import ANGRY, DISSATISFIED, anger, dissatisfaction  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
SEED = 0
TEST_SHARE = 0.2
DATASETS = {
    "waimai_10k": "waimai_10k/waimai_10k.csv",
    "chnsenticorp_htl": "chnsenticorp_htl/ChnSentiCorp_htl_all.csv",
    "online_shopping_10_cats": "online_shopping_10_cats/online_shopping_10_cats.csv",
}
#: the naive baseline: negative when any of these occurs (fixed, not tuned)
NAIVE_NEGATIVE = ("差", "不好", "慢", "失望", "难吃", "垃圾")


def load(name: str, data_dir: Path = DATA) -> list[tuple[str, int]]:
    """(review, label) rows; empty reviews dropped, a stray BOM stripped."""
    path = data_dir / DATASETS[name]
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [(r["review"].replace("\ufeff", "").strip(), int(r["label"]))
                for r in csv.DictReader(f) if r.get("review")]
    return [(t, y) for t, y in rows if t]


def stratified_split(labels: Sequence[int], test_share: float = TEST_SHARE,
                     seed: int = SEED) -> tuple[list[int], list[int]]:
    """(train indices, test indices): ``test_share`` of each class, shuffled with ``seed``."""
    rng = random.Random(seed)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(idx)
        k = round(len(idx) * test_share)
        test += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(test)


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    macro_f1: float
    neg_precision: float
    neg_recall: float
    flagged_share: float  # share of test reviews predicted negative


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def metrics(y_true: np.ndarray, pred_neg: np.ndarray) -> Metrics:
    """``y_true``: labels (0 = negative); ``pred_neg``: True where predicted negative."""
    neg = y_true == 0
    tp = int(np.sum(pred_neg & neg))
    fp = int(np.sum(pred_neg & ~neg))
    fn = int(np.sum(~pred_neg & neg))
    tn = int(np.sum(~pred_neg & ~neg))
    p_neg = tp / (tp + fp) if tp + fp else 0.0
    r_neg = tp / (tp + fn) if tp + fn else 0.0
    p_pos = tn / (tn + fn) if tn + fn else 0.0
    r_pos = tn / (tn + fp) if tn + fp else 0.0
    n = len(y_true)
    return Metrics(accuracy=(tp + tn) / n, macro_f1=(_f1(p_neg, r_neg) + _f1(p_pos, r_pos)) / 2,
                   neg_precision=p_neg, neg_recall=r_neg, flagged_share=(tp + fp) / n)


def pick_threshold(scores: np.ndarray, y: np.ndarray, *, positive_only: bool = True) -> float:
    """The threshold maximising macro-F1 on (scores, y) — the 80 % part only. Anger scores are
    tried above 0; dissatisfaction scores (which go below 0 with praise) from -2 up."""
    keep = scores > 0 if positive_only else scores >= -2
    candidates = np.unique(np.round(scores[keep], 4))
    best_t, best_f1 = float(ANGRY), -1.0
    for t in candidates:
        f1 = metrics(y, scores >= t).macro_f1
        if f1 > best_f1:
            best_t, best_f1 = float(t), f1
    return best_t


def evaluate(name: str, data_dir: Path = DATA) -> dict[str, Any]:
    rows = load(name, data_dir)
    texts = [t for t, _ in rows]
    labels = np.array([y for _, y in rows])
    train, test = stratified_split(labels.tolist())
    tr, te = np.array(train), np.array(test)
    t0 = time.perf_counter()
    scores = np.array([anger(t) for t in texts])
    anger_us = (time.perf_counter() - t0) / len(texts) * 1e6
    naive = np.array([any(w in t for w in NAIVE_NEGATIVE) for t in texts])
    t0 = time.perf_counter()
    unhappy = np.array([dissatisfaction(t) for t in texts])
    unhappy_us = (time.perf_counter() - t0) / len(texts) * 1e6
    majority = int(np.bincount(labels[tr]).argmax())
    t_star = pick_threshold(scores[tr], labels[tr])
    u_star = pick_threshold(unhappy[tr], labels[tr], positive_only=False)
    y = labels[te]
    methods: dict[str, Callable[[], np.ndarray]] = {
        f"majority (always {majority})": lambda: np.full(len(te), majority == 0),
        "keywords (" + "/".join(NAIVE_NEGATIVE) + ")": lambda: naive[te],
        f"anger ≥ {ANGRY:g} (QA default)": lambda: scores[te] >= ANGRY,
        f"anger ≥ {t_star:g} (picked on 80 %)": lambda: scores[te] >= t_star,
        f"dissatisfaction ≥ {DISSATISFIED:g} (QA default)":
            lambda: unhappy[te] >= DISSATISFIED,
        f"dissatisfaction ≥ {u_star:g} (picked on 80 %)": lambda: unhappy[te] >= u_star,
    }
    return {
        "dataset": name,
        "rows": len(rows),
        "negative_share": float(np.mean(labels == 0)),
        "train": len(train),
        "test": len(test),
        "test_negatives": int(np.sum(y == 0)),
        "threshold_picked_on_train": t_star,
        "anger_us_per_review": round(anger_us, 1),
        "dissatisfaction_us_per_review": round(unhappy_us, 1),
        "dissatisfaction_threshold_picked_on_train": u_star,
        "methods": {m: asdict(metrics(y, f())) for m, f in methods.items()},
    }


def evaluate_all(data_dir: Path = DATA) -> list[dict[str, Any]]:
    return [evaluate(n, data_dir) for n in DATASETS if (data_dir / DATASETS[n]).exists()]


def print_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(f"\n== {r['dataset']}: {r['rows']} reviews ({r['negative_share']:.0%} negative), "
              f"test {r['test']} ({r['test_negatives']} negative), "
              f"anger {r['anger_us_per_review']:.0f} µs/review")
        print(f"{'method':38} {'acc':>6} {'macroF1':>8} {'negP':>6} {'negR':>6} {'flagged':>8}")
        for m, v in r["methods"].items():
            print(f"{m:38} {v['accuracy']:6.3f} {v['macro_f1']:8.3f} {v['neg_precision']:6.3f} "
                  f"{v['neg_recall']:6.3f} {v['flagged_share']:8.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    results = evaluate_all(args.data)
    if not results:
        print(f"no sentiment data sets under {args.data}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
