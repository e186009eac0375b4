"""Offline evaluation of a knowledge base: ``kefu bot eval --kb KB.csv QUERIES.csv``.

No database, no server: read the two CSV files, build the same engine and thresholds the bot
uses, train its re-ranker from the KB's own phrasings (``kefu.kb.learn``; optionally also from
labelled pairs that contain no evaluation query), run every query and compute the metrics.
``bench/bot_eval.py`` calls the same functions.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kefu.kb import learn
from kefu.kb.engine import Candidate, Entry, MatchEngine, decide

KB_HEADER = ("id", "question", "similar_questions", "answer", "category")
QUERIES_HEADER = ("query", "expected_id")
OOS_LABELS = frozenset({"", "oos"})


class CsvError(ValueError):
    """A CSV file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Query:
    text: str
    expected_id: str | None  # None: out of scope


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CsvError(f"{path}: cannot read ({exc.strerror})") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvError(f"{path}:{line}: not UTF-8 or GBK text") from exc


def _rows(path: Path, header: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the line number is where the row starts in the file."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        first = next(reader, None)
        if first is None:
            raise CsvError(f"{path}:1: empty file (expected header {','.join(header)})")
        names = [h.strip().lower() for h in first]
        missing = [h for h in header if h not in names]
        if missing:
            raise CsvError(f"{path}:1: header lacks {', '.join(missing)} "
                           f"(expected {','.join(header)})")
        out: list[tuple[int, dict[str, str]]] = []
        start = reader.line_num + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                if len(row) != len(names):
                    raise CsvError(f"{path}:{start}: expected {len(names)} fields, "
                                   f"found {len(row)}")
                out.append((start, dict(zip(names, row, strict=True))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CsvError(f"{path}:{reader.line_num}: {exc}") from exc
    return out


def load_kb(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, KB_HEADER):
        eid = row["id"].strip()
        question = row["question"].strip()
        if not eid:
            raise CsvError(f"{path}:{line}: empty id")
        if not question:
            raise CsvError(f"{path}:{line}: empty question")
        if eid in seen:
            raise CsvError(f"{path}:{line}: duplicate id {eid!r} (first on line {seen[eid]})")
        seen[eid] = line
        similar = tuple(s.strip() for s in row["similar_questions"].splitlines() if s.strip())
        entries.append(Entry(eid, question, similar, row["answer"], row["category"].strip()))
    return entries


def load_queries(path: Path, known_ids: set[str] | None = None) -> list[Query]:
    out: list[Query] = []
    for line, row in _rows(path, QUERIES_HEADER):
        expected = row["expected_id"].strip()
        if expected.lower() in OOS_LABELS:
            out.append(Query(row["query"], None))
            continue
        if known_ids is not None and expected not in known_ids:
            raise CsvError(f"{path}:{line}: expected_id {expected!r} is not in the KB")
        out.append(Query(row["query"], expected))
    return out


@dataclass
class Report:
    top1: float
    top3: float
    answered_rate: float
    precision_answered: float
    oos_precision: float
    oos_recall: float
    oos_f1: float
    latency_p50_ms: float
    latency_p99_ms: float
    build_seconds: float
    n_queries: int
    train_seconds: float = 0.0
    worst_entries: list[tuple[str, int]] = field(default_factory=list)

    def metrics(self) -> dict[str, float | int]:
        return {k: v for k, v in self.__dict__.items() if k != "worst_entries"}


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


Matcher = Callable[[str, int], list[Candidate]]


def evaluate(queries: Sequence[Query], match: Matcher, answer_threshold: float,
             clarify_threshold: float, build_seconds: float = 0.0,
             progress: Callable[[int], None] | None = None) -> Report:
    top1 = top3 = answered = answered_ok = 0
    oos_tp = oos_pred = oos_total = 0
    latencies: list[float] = []
    misses: Counter[str] = Counter()
    in_scope = 0
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        cands = match(q.text, 5)
        decision = decide(cands, answer_threshold, clarify_threshold)
        latencies.append((time.perf_counter() - t0) * 1000)
        ids = [c.entry_id for c in cands]
        did_answer = decision.kind == "answer"
        answered += did_answer
        if q.expected_id is None:
            oos_total += 1
            oos_tp += not did_answer
        else:
            in_scope += 1
            ok1 = bool(ids) and ids[0] == q.expected_id
            top1 += ok1
            top3 += q.expected_id in ids[:3]
            if not ok1:
                misses[q.expected_id] += 1
        oos_pred += not did_answer
        if did_answer and q.expected_id is not None and ids[0] == q.expected_id:
            answered_ok += 1
        if progress is not None:
            progress(i + 1)
    prec = _ratio(oos_tp, oos_pred)
    rec = _ratio(oos_tp, oos_total)
    return Report(
        top1=_ratio(top1, in_scope), top3=_ratio(top3, in_scope),
        answered_rate=_ratio(answered, len(queries)),
        precision_answered=_ratio(answered_ok, answered),
        oos_precision=prec, oos_recall=rec,
        oos_f1=2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        latency_p50_ms=statistics.median(latencies) if latencies else 0.0,
        latency_p99_ms=_pct(latencies, 0.99), build_seconds=build_seconds,
        n_queries=len(queries), worst_entries=misses.most_common(10))


def build_engine(entries: Sequence[Entry]) -> tuple[MatchEngine, float]:
    t0 = time.perf_counter()
    engine = MatchEngine(entries)
    return engine, time.perf_counter() - t0


def train_engine(engine: MatchEngine,
                 pairs: Sequence[tuple[str, str, int]] = ()) -> float:
    """Train and attach the learnt re-ranker; returns the seconds it took."""
    t0 = time.perf_counter()
    engine.reranker = learn.train(engine, pairs)
    return time.perf_counter() - t0


def run_eval(kb_path: Path, queries_path: Path,
             progress: Callable[[int], None] | None = None, *, train: bool = True,
             pairs: Sequence[tuple[str, str, int]] = ()) -> Report:
    """The whole ``kefu bot eval`` path: load, build, train, evaluate (raises CsvError).
    ``pairs``: extra labelled training pairs ``(a, b, 1/0)``, never containing a query."""
    entries = load_kb(kb_path)
    queries = load_queries(queries_path, {e.id for e in entries})
    engine, build = build_engine(entries)
    # what the bot serves: trained only when the knowledge base is big enough (or pairs given)
    trained = train_engine(engine, pairs) if train and (pairs or learn.trainable(engine)) \
        else 0.0
    t = engine.config.thresholds
    report = evaluate(queries, engine.match, t.answer, t.clarify, build, progress)
    report.train_seconds = trained
    return report
