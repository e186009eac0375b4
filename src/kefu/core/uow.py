"""The unit of work: one transaction, the events it produced, the jobs it enqueued.

The edge owns it (``with uow_factory() as uow:`` in a route, command or job). Actions never
commit; on a clean exit the unit of work commits, then publishes its events to the bus.
"""

from __future__ import annotations

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
    ) -> None:
        self.session = session
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
        if exc_type is not None:
            return
        published = bool(self.events)
        if published:
            events, self.events = self.events, []
            self.bus.publish(events)
        # Wake the runner for jobs enqueued here, or by job listeners of the events, even
        # when the unit emitted no event.
        if self.jobs is not None and (self.enqueued or published):
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
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.clock: Clock = clock or SystemClock()
        self.jobs = jobs

    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(
            self.sessions(), bus=self.bus, clock=self.clock, jobs=self.jobs, readonly=readonly
        )
