"""Durable jobs: a table of work that survives restarts, with retries and idempotency keys.

``JobQueue.enqueue`` writes a row inside the caller's transaction (so a job exists only if the
work that asked for it committed). A :class:`JobRunner` claims due rows (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite serialises writers), runs the registered handler inside a fresh
unit of work, and retries failures with exponential backoff. In tests the queue runs inline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Index, Integer, String, Text, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from kefu.core.db import Base, IdMixin
from kefu.core.ids import new_id

if TYPE_CHECKING:
    from kefu.core.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

JobHandler = Callable[["UnitOfWork", dict[str, Any]], None]


class Job(IdMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "run_after"),)

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class JobQueue:
    """Registry of job handlers plus the enqueue side of the table."""

    def __init__(self, *, inline: bool = False) -> None:
        self.handlers: dict[str, JobHandler] = {}
        #: how long a claimed job of a kind is its runner's before another may retry it
        self.leases: dict[str, timedelta] = {}
        self.inline = inline
        #: periodic kinds and their interval (seconds): see :meth:`every`
        self.periodic: dict[str, int] = {}
        self.wakeup = threading.Event()
        self.runner: JobRunner | None = None

    def register(self, kind: str, handler: JobHandler, *,
                 lease: timedelta | None = None) -> None:
        """``lease``: how long a run may take before the job counts as abandoned (its runner
        died) and is claimed again; short for work a customer is waiting on."""
        if kind in self.handlers:
            raise ValueError(f"job kind {kind!r} registered twice")
        self.handlers[kind] = handler
        if lease is not None:
            self.leases[kind] = lease

    def every(self, kind: str, seconds: int) -> None:
        """Run ``kind`` (already registered) once per ``seconds``-long bucket of time: each
        runner enqueues it with the key ``kind@<bucket>``, so however many processes run, a
        bucket's job exists once (the handler gets ``{"bucket": n, "at": iso}``)."""
        if kind not in self.handlers:
            raise ValueError(f"no handler for job kind {kind!r}")
        self.periodic[kind] = seconds

    def enqueue(
        self,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        *,
        key: str | None,
        delay: float,
        now: datetime,
        max_attempts: int = 5,
    ) -> None:
        if kind not in self.handlers:
            raise ValueError(f"no handler for job kind {kind!r}")
        values = {
            "id": new_id(),
            "kind": kind,
            "payload": payload,
            "key": key,
            "status": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": now + timedelta(seconds=delay),
            "created_at": now,
        }
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(Job).values(**values).on_conflict_do_nothing()
        else:
            stmt = sqlite.insert(Job).values(**values).on_conflict_do_nothing()
        session.execute(stmt)

    def notify(self) -> None:
        if self.inline and self.runner is not None:
            self.runner.drain()
        else:
            self.wakeup.set()


class JobRunner:
    """Claims and runs due jobs. ``drain()`` runs everything due now (tests, CLI)."""

    LEASE = timedelta(minutes=5)

    def __init__(self, queue: JobQueue, uows: UowFactory, *, poll_seconds: float = 1.0) -> None:
        self.queue = queue
        self.uows = uows
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._draining = threading.Lock()
        self._buckets: dict[str, int] = {}
        queue.runner = self

    @staticmethod
    def _due(now: datetime) -> Any:
        return (
            (Job.status == "queued") & (Job.run_after <= now)
            | (Job.status == "running") & (Job.locked_until < now)
        )

    def _claim(self) -> tuple[str, str, dict[str, Any], int] | None:
        # Look first with a read-only unit: an idle poll must not take the writer lock.
        with self.uows(readonly=True) as uow:
            if uow.session.scalar(select(Job.id).where(self._due(uow.clock.now())).limit(1)) \
                    is None:
                return None
        with self.uows() as uow:
            now = uow.clock.now()
            stmt = select(Job).where(self._due(now)).order_by(Job.run_after).limit(1)
            if uow.session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            job = uow.session.scalars(stmt).first()
            if job is None:
                return None
            job.status = "running"
            job.attempts += 1
            job.locked_until = now + self.queue.leases.get(job.kind, self.LEASE)
            return job.id, job.kind, dict(job.payload), job.attempts

    def run_one(self) -> bool:
        claimed = self._claim()
        if claimed is None:
            return False
        job_id, kind, payload, attempts = claimed
        handler = self.queue.handlers.get(kind)
        error: str | None = None
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            with self.uows() as uow:
                handler(uow, payload)
        except Exception as exc:
            log.exception("job %s (%s) failed on attempt %d", job_id, kind, attempts)
            error = f"{type(exc).__name__}: {exc}"
        with self.uows() as uow:
            now = uow.clock.now()
            job = uow.session.get(Job, job_id)
            if job is None:  # pragma: no cover - deleted by an operator meanwhile
                return True
            if error is None:
                values: dict[str, Any] = {"status": "done", "finished_at": now, "last_error": None}
            elif attempts >= job.max_attempts:
                values = {"status": "failed", "finished_at": now, "last_error": error}
            else:
                backoff = timedelta(seconds=min(2 ** attempts, 600))
                values = {"status": "queued", "run_after": now + backoff, "last_error": error}
            uow.session.execute(
                update(Job).where(Job.id == job_id).values(locked_until=None, **values))
        return True

    def schedule_periodic(self) -> int:
        """Enqueue the periodic jobs whose current bucket this process has not enqueued yet
        (at most one write transaction per interval). Returns how many were enqueued."""
        if not self.queue.periodic:
            return 0
        now = self.uows.clock.now()
        due = {kind: int(now.timestamp()) // secs for kind, secs in self.queue.periodic.items()
               if self._buckets.get(kind) != int(now.timestamp()) // secs}
        if not due:
            return 0
        with self.uows() as uow:
            for kind, bucket in due.items():
                self.queue.enqueue(uow.session, kind, {"bucket": bucket, "at": now.isoformat()},
                                   key=f"{kind}@{bucket}", delay=0, now=now, max_attempts=1)
        self._buckets.update(due)
        return len(due)

    def drain(self, limit: int = 1000) -> int:
        """Run due jobs until none is left (or ``limit``); re-entrant calls return at once."""
        if not self._draining.acquire(blocking=False):
            return 0
        try:
            done = 0
            while done < limit and self.run_one():
                done += 1
            return done
        finally:
            self._draining.release()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kefu-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.schedule_periodic()
                self.drain()
            except Exception:
                log.exception("job runner loop error")
            self.queue.wakeup.wait(self.poll_seconds)
            self.queue.wakeup.clear()
