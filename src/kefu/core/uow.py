"""The unit of work: one transaction, the events it produced, the jobs it enqueued.

The edge owns it (``with uow_factory() as uow:`` in a route, command or job). Actions never
commit; on a clean exit the unit of work commits, then publishes its events to the bus.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from kefu.core.clock import Clock, SystemClock
from kefu.core.events import Event, EventBus

if TYPE_CHECKING:
    from kefu.core.jobs import JobQueue


class UnitOfWork:
    def __init__(
        self,
        session: Session,
        *,
        bus: EventBus,
        clock: Clock,
        jobs: JobQueue | None = None,
        readonly: bool = False,
        write_lock: threading.RLock | None = None,
    ) -> None:
        self.session = session
        self.write_lock = None if readonly else write_lock
        self._locked = False
        self.bus = bus
        self.clock = clock
        self.jobs = jobs
        self.readonly = readonly
        self.events: list[Event] = []
        self.after_commit: list[Any] = []
        self.enqueued = 0

    def emit(self, event: Event) -> None:
        if self.readonly:
            # a read-only unit never commits, so its events would announce nothing
            raise RuntimeError(f"read-only unit of work cannot emit {event.type!r}")
        self.events.append(event)
        for kind, payload, key in self.bus.jobs_for(event):
            self.enqueue(kind, payload, key=key)

    def enqueue(
        self, kind: str, payload: dict[str, Any], *, key: str | None = None, delay: float = 0
    ) -> None:
        if self.jobs is None:
            raise RuntimeError("this unit of work has no job queue")
        if self.readonly:
            raise RuntimeError(f"read-only unit of work cannot enqueue {kind!r}")
        self.jobs.enqueue(self.session, kind, payload, key=key, delay=delay, now=self.clock.now())
        self.enqueued += 1

    def __enter__(self) -> UnitOfWork:
        if self.write_lock is not None:
            self.write_lock.acquire()
            self._locked = True
        if self.readonly:
            self.session.connection(execution_options={"kefu_readonly": True})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                self.session.rollback()
            elif not self.readonly:
                self.session.commit()
            # a read-only unit closes without rollback so loaded objects stay readable
        finally:
            self.session.close()
            if self._locked and self.write_lock is not None:
                self._locked = False
                self.write_lock.release()
        if exc_type is not None:
            return
        if self.events:
            events, self.events = self.events, []
            self.bus.publish(events)
        # Wake the runner only for jobs enqueued here (waking it for every event would cost a
        # write transaction per message: it looks for due jobs under the writer lock).
        if self.jobs is not None and self.enqueued:
            self.enqueued = 0
            self.jobs.notify()


class UowFactory:
    """Makes units of work bound to one session factory, bus, clock and job queue."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        bus: EventBus,
        clock: Clock | None = None,
        jobs: JobQueue | None = None,
        serialize_writes: bool = False,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.clock: Clock = clock or SystemClock()
        self.jobs = jobs
        #: SQLite has one writer. Queuing writers on a lock in this process hands the write
        #: lock over at once, where SQLite's own busy handler would sleep and retry (tens of
        #: milliseconds per retry under load).
        self.write_lock: threading.RLock | None = threading.RLock() if serialize_writes else None

    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(
            self.sessions(), bus=self.bus, clock=self.clock, jobs=self.jobs, readonly=readonly,
            write_lock=self.write_lock,
        )
