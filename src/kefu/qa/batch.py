"""Batch re-inspection (``kefu qa run``): every resolved conversation created in a window,
inspected again; idempotent, resumable, and optionally spread over several processes.

A run is one ``QaRun`` row. Conversations are taken in ``(created_at, id)`` order in chunks of
``CHUNK`` (200). A chunk is first *prepared* in a read-only unit of work (messages read, the
engine run: the slow part, outside any write lock), then *stored* in one write transaction.

- **One process** (``run``): the chunk's transaction also moves the run's cursor
  (``cursor_at``/``cursor_id``, ``done``), so a crash loses at most the chunk in flight and
  ``run`` called again resumes after the cursor.
- **Several processes** (``run_parallel``): the calling process reads the chunks in order and
  hands them to a pool of worker processes (``spawn``); each worker stores its chunk. The
  caller moves the cursor over the *contiguous prefix* of finished chunks, so after a crash
  only chunks after the cursor are done again — harmless, as re-inspecting replaces results.
  The workers build their own services through an ``initializer`` given by the caller (the
  CLI: ``kefu.cli.qa_run.init_worker``), since this layer may not import ``kefu.services``.

A conversation the engine refuses (``qa_conversation_too_large``) is skipped, nothing stored,
and reported in the summary.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from kefu.core.errors import DomainError, Invalid, NotFound
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.inbox.models import Conversation
from kefu.qa.inspections import Prepared, prepare_inspection, store_inspection
from kefu.qa.models import QaInspection, QaRun
from kefu.qa.registry import QaRegistry

CHUNK = 200
Progress = Callable[[int, int], None]
Cursor = tuple[datetime, str]


@dataclass
class ChunkResult:
    inspected: int = 0
    hits: int = 0
    score_sum: float = 0.0
    #: (conversation id, error code) of the conversations refused
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: ChunkResult) -> None:
        self.inspected += other.inspected
        self.hits += other.hits
        self.score_sum += other.score_sum
        self.skipped.extend(other.skipped)


@dataclass
class RunSummary:
    run_id: str
    total: int
    done: int
    inspected: int
    hits: int
    average_score: float | None
    skipped: list[tuple[str, str]]
    seconds: float


def _scope(run: QaRun) -> list[Any]:
    where: list[Any] = [Conversation.status == "resolved", Conversation.created_at >= run.since,
                        Conversation.created_at < run.until]
    if run.workspace_id is not None:
        where.append(Conversation.workspace_id == run.workspace_id)
    return where


def start_run(uows: UowFactory, since: datetime, until: datetime, workspace_id: str | None = None,
              rule_key: str | None = None) -> str:
    """Create a run over the resolved conversations created in ``[since, until)`` (of one
    workspace, or all); returns its id. ``total`` is counted now."""
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("时间需要带时区 / since and until must be timezone-aware",
                      code="naive_datetime")
    if until <= since:
        raise Invalid("结束时间须晚于开始时间 / until must be after since", code="bad_window")
    with uows() as uow:
        run = QaRun(id=new_id(), workspace_id=workspace_id, since=since, until=until,
                    rule_key=rule_key, status="running", total=0, done=0,
                    started_at=uow.clock.now())
        run.total = int(uow.session.scalar(
            select(func.count(Conversation.id)).where(*_scope(run))) or 0)
        uow.session.add(run)
        return run.id


def _get_run(session: Session, run_id: str) -> QaRun:
    run = session.get(QaRun, run_id)
    if run is None:
        raise NotFound("没有这个质检任务 / No such inspection run", code="qa_run_not_found",
                       id=run_id)
    return run


def latest_unfinished(uows: UowFactory, workspace_id: str | None = None) -> str | None:
    """The most recent run that did not finish (crashed or failed), for ``--resume``."""
    with uows(readonly=True) as uow:
        stmt = select(QaRun.id).where(QaRun.status.in_(("running", "failed")))
        if workspace_id is not None:
            stmt = stmt.where(QaRun.workspace_id == workspace_id)
        return uow.session.scalar(stmt.order_by(QaRun.started_at.desc(), QaRun.id.desc())
                                  .limit(1))


def _next_chunk(session: Session, run: QaRun, after: Cursor | None,
                size: int) -> list[tuple[str, datetime]]:
    stmt = select(Conversation.id, Conversation.created_at).where(*_scope(run))
    if after is not None:
        at, cid = after
        stmt = stmt.where(or_(Conversation.created_at > at,
                              and_(Conversation.created_at == at, Conversation.id > cid)))
    rows = session.execute(stmt.order_by(Conversation.created_at, Conversation.id)
                           .limit(size)).all()
    return [(r.id, r.created_at) for r in rows]


def chunks(uows: UowFactory, run_id: str, *, size: int = CHUNK) -> Iterator[list[str]]:
    """The run's conversation ids after its cursor, ``size`` at a time, in order."""
    with uows(readonly=True) as uow:
        run = _get_run(uow.session, run_id)
        after: Cursor | None = (run.cursor_at, run.cursor_id) \
            if run.cursor_at is not None and run.cursor_id is not None else None
    while True:
        with uows(readonly=True) as uow:
            got = _next_chunk(uow.session, _get_run(uow.session, run_id), after, size)
        if not got:
            return
        yield [cid for cid, _ in got]
        after = (got[-1][1], got[-1][0])


def _cursor_of(session: Session, conversation_id: str) -> Cursor:
    at = session.scalar(select(Conversation.created_at)
                        .where(Conversation.id == conversation_id))
    assert at is not None
    return at, conversation_id


def _advance(session: Session, run_id: str, ids: Sequence[str]) -> None:
    run = _get_run(session, run_id)
    run.cursor_at, run.cursor_id = _cursor_of(session, ids[-1])
    run.done += len(ids)


def inspect_chunk(uows: UowFactory, registry: QaRegistry, run_id: str, ids: Sequence[str], *,
                  rule_key: str | None = None, advance: bool = True) -> ChunkResult:
    """Inspect ``ids`` (prepared read-only, stored in ONE transaction). With ``advance`` the
    same transaction moves the run's cursor past the chunk."""
    result = ChunkResult()
    prepared: list[Prepared] = []
    with uows(readonly=True) as uow:
        existing: set[str] = set()
        if rule_key is not None:
            existing = set(uow.session.scalars(select(QaInspection.conversation_id).where(
                QaInspection.conversation_id.in_(list(ids)))))
        now = uow.clock.now()
        for cid in ids:
            try:
                prepared.append(prepare_inspection(
                    uow.session, registry, cid, now=now,
                    rule_key=rule_key if cid in existing else None))
            except DomainError as exc:
                result.skipped.append((cid, exc.code))
    with uows() as uow:
        for p in prepared:
            inspection = store_inspection(uow, p, run_id=run_id)
            result.inspected += 1
            result.hits += inspection.hit_count
            result.score_sum += inspection.score
        if advance and ids:
            _advance(uow.session, run_id, ids)
    return result


def _finish(uows: UowFactory, run_id: str, status: str) -> None:
    with uows() as uow:
        run = _get_run(uow.session, run_id)
        run.status = status
        run.finished_at = uow.clock.now() if status == "done" else None


def _summary(uows: UowFactory, run_id: str, acc: ChunkResult, started: float) -> RunSummary:
    with uows(readonly=True) as uow:
        run = _get_run(uow.session, run_id)
        total, done = run.total, run.done
    return RunSummary(run_id=run_id, total=total, done=done, inspected=acc.inspected,
                      hits=acc.hits,
                      average_score=(round(acc.score_sum / acc.inspected, 2)
                                     if acc.inspected else None),
                      skipped=acc.skipped, seconds=round(time.monotonic() - started, 3))


def _run_info(uows: UowFactory, run_id: str) -> tuple[str | None, int, int]:
    with uows(readonly=True) as uow:
        run = _get_run(uow.session, run_id)
        if run.status == "done":
            raise Invalid("该质检任务已完成 / This run has already finished",
                          code="qa_run_finished", id=run_id)
        return run.rule_key, run.total, run.done


def run(uows: UowFactory, registry: QaRegistry, run_id: str, *,
        progress: Progress | None = None, chunk_size: int = CHUNK) -> RunSummary:
    """Process the run in this process from its cursor to the end (so calling it again after
    a crash resumes). ``progress(done, total)`` after each chunk."""
    started = time.monotonic()
    rule_key, total, done = _run_info(uows, run_id)
    acc = ChunkResult()
    if progress is not None:
        progress(done, total)
    try:
        for ids in chunks(uows, run_id, size=chunk_size):
            acc.add(inspect_chunk(uows, registry, run_id, ids, rule_key=rule_key))
            done += len(ids)
            if progress is not None:
                progress(done, max(total, done))
    except Exception:
        _finish(uows, run_id, "failed")
        raise
    _finish(uows, run_id, "done")
    return _summary(uows, run_id, acc, started)


resume = run


# ------------------------------------------------------------------------- worker processes

#: this worker process's services (set by ``set_worker``)
_WORKER: dict[str, tuple[UowFactory, QaRegistry]] = {}


def set_worker(uows: UowFactory, registry: QaRegistry) -> None:
    """Called by a worker process's initializer with the services it built."""
    _WORKER["services"] = (uows, registry)


def worker_chunk(run_id: str, ids: list[str], rule_key: str | None) -> ChunkResult:
    """Run in a worker process: store one chunk (the parent moves the cursor)."""
    if "services" not in _WORKER:  # pragma: no cover - a pool without the initializer
        raise RuntimeError("worker services are not set (initializer missing)")
    uows, registry = _WORKER["services"]
    return inspect_chunk(uows, registry, run_id, ids, rule_key=rule_key, advance=False)


def run_parallel(uows: UowFactory, run_id: str, *, workers: int,
                 initializer: Callable[..., None], initargs: tuple[Any, ...] = (),
                 progress: Progress | None = None, chunk_size: int = CHUNK) -> RunSummary:
    """Process the run with ``workers`` spawned processes. ``initializer(*initargs)`` runs
    in each worker and must call ``set_worker``. The cursor moves over the contiguous prefix
    of finished chunks, in this process."""
    started = time.monotonic()
    rule_key, total, done = _run_info(uows, run_id)
    acc = ChunkResult()
    if progress is not None:
        progress(done, total)
    source = chunks(uows, run_id, size=chunk_size)
    pending: dict[Future[ChunkResult], int] = {}
    finished: dict[int, tuple[list[str], ChunkResult]] = {}
    sent: dict[int, list[str]] = {}
    next_seq = 0
    prefix = 0
    exhausted = False
    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer,
                                 initargs=initargs) as pool:
            while True:
                while not exhausted and len(pending) < workers * 2:
                    ids = next(source, None)
                    if ids is None:
                        exhausted = True
                        break
                    sent[next_seq] = ids
                    pending[pool.submit(worker_chunk, run_id, ids, rule_key)] = next_seq
                    next_seq += 1
                if not pending:
                    break
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    seq = pending.pop(fut)
                    finished[seq] = (sent.pop(seq), fut.result())
                while prefix in finished:
                    ids, res = finished.pop(prefix)
                    with uows() as uow:
                        _advance(uow.session, run_id, ids)
                    acc.add(res)
                    done += len(ids)
                    prefix += 1
                    if progress is not None:
                        progress(done, max(total, done))
    except BaseException:
        _finish(uows, run_id, "failed")
        raise
    _finish(uows, run_id, "done")
    return _summary(uows, run_id, acc, started)
