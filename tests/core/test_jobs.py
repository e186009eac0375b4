"""Durable jobs: transactional enqueue, idempotency keys, retries with backoff, leases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kefu.core.events import EventBus
from kefu.core.jobs import Job, JobQueue, JobRunner
from kefu.core.uow import UnitOfWork, UowFactory


class Jobs:
    """A job queue with its own runner, sharing the test's rolled-back transaction."""

    def __init__(self, svc, clock, *, inline: bool = False) -> None:
        self.queue = JobQueue(inline=inline)
        self.uows = UowFactory(svc.sessions, bus=EventBus(), clock=clock, jobs=self.queue)
        self.runner = JobRunner(self.queue, self.uows)
        self.calls: list[dict[str, Any]] = []
        self.failures_left = 0
        self.queue.register("record_call", self._record)
        self.queue.register("flaky_call", self._flaky)

    def _record(self, uow: UnitOfWork, payload: dict[str, Any]) -> None:
        self.calls.append(payload)

    def _flaky(self, uow: UnitOfWork, payload: dict[str, Any]) -> None:
        if self.failures_left != 0:
            self.failures_left -= 1
            raise RuntimeError(f"upstream down ({payload['n']})")
        self.calls.append(payload)

    def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None,
                max_attempts: int = 5) -> None:
        with self.uows() as uow:
            self.queue.enqueue(uow.session, kind, payload, key=key, delay=0,
                               now=uow.clock.now(), max_attempts=max_attempts)

    def rows(self) -> list[Job]:
        with self.uows(readonly=True) as uow:
            return list(uow.session.scalars(select(Job).order_by(Job.created_at, Job.id)))


@pytest.fixture
def jobs(svc, clock) -> Jobs:
    return Jobs(svc, clock)


def test_job_runs_and_is_marked_done(jobs, clock):
    with jobs.uows() as uow:
        uow.enqueue("record_call", {"n": 1})
    assert jobs.calls == []  # not inline: waits for the runner
    assert jobs.runner.drain() == 1
    assert jobs.calls == [{"n": 1}]
    (job,) = jobs.rows()
    assert (job.status, job.attempts, job.last_error) == ("done", 1, None)
    assert job.finished_at == clock.now()
    assert jobs.runner.run_one() is False


def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(jobs):
    def enqueue_then_fail() -> None:
        with jobs.uows() as uow:
            uow.enqueue("record_call", {"n": 1})
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        enqueue_then_fail()
    assert jobs.rows() == []
    assert jobs.runner.drain() == 0
    assert jobs.calls == []


def test_idempotency_key_dedupes(jobs):
    with jobs.uows() as uow:
        uow.enqueue("record_call", {"n": 1}, key="send:42")
        uow.enqueue("record_call", {"n": 2}, key="send:42")
    with jobs.uows() as uow:
        uow.enqueue("record_call", {"n": 3}, key="send:42")
        uow.enqueue("record_call", {"n": 4}, key="send:43")
    rows = jobs.rows()
    assert sorted((r.key, r.payload["n"]) for r in rows) == [("send:42", 1), ("send:43", 4)]
    jobs.runner.drain()
    assert sorted(c["n"] for c in jobs.calls) == [1, 4]


def test_jobs_without_key_are_not_deduped(jobs):
    with jobs.uows() as uow:
        uow.enqueue("record_call", {"n": 1})
        uow.enqueue("record_call", {"n": 1})
    assert len(jobs.rows()) == 2


def test_unknown_kind_is_refused_at_enqueue(jobs):
    with pytest.raises(ValueError, match="no_such_kind"), jobs.uows() as uow:
        uow.enqueue("no_such_kind", {})
    assert jobs.rows() == []


def test_registering_a_kind_twice_is_refused(jobs):
    with pytest.raises(ValueError, match="twice"):
        jobs.queue.register("record_call", lambda uow, p: None)


def test_delay_postpones_the_job(jobs, clock):
    with jobs.uows() as uow:
        uow.enqueue("record_call", {"n": 1}, delay=30)
    assert jobs.runner.drain() == 0
    clock.advance(seconds=29)
    assert jobs.runner.drain() == 0
    clock.advance(seconds=1)
    assert jobs.runner.drain() == 1
    assert jobs.calls == [{"n": 1}]


def test_failure_retries_with_backoff_then_succeeds(jobs, clock):
    jobs.failures_left = 2
    jobs.enqueue("flaky_call", {"n": 7})
    t0 = clock.now()

    assert jobs.runner.run_one() is True
    (job,) = jobs.rows()
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error == "RuntimeError: upstream down (7)"
    assert job.run_after == t0 + timedelta(seconds=2)
    assert job.locked_until is None

    assert jobs.runner.run_one() is False  # not due yet
    clock.advance(seconds=2)
    assert jobs.runner.run_one() is True
    (job,) = jobs.rows()
    assert (job.status, job.attempts) == ("queued", 2)
    assert job.run_after == clock.now() + timedelta(seconds=4)

    clock.advance(seconds=3)
    assert jobs.runner.run_one() is False
    clock.advance(seconds=1)
    assert jobs.runner.run_one() is True
    (job,) = jobs.rows()
    assert (job.status, job.attempts, job.last_error) == ("done", 3, None)
    assert jobs.calls == [{"n": 7}]


def test_failure_ends_failed_after_max_attempts(jobs, clock):
    jobs.failures_left = -1  # always fails
    jobs.enqueue("flaky_call", {"n": 1}, max_attempts=3)
    for _ in range(3):
        assert jobs.runner.run_one() is True
        clock.advance(seconds=600)
    (job,) = jobs.rows()
    assert job.status == "failed"
    assert job.attempts == 3
    assert job.last_error == "RuntimeError: upstream down (1)"
    assert job.finished_at is not None
    clock.advance(days=1)
    assert jobs.runner.run_one() is False  # a failed job is never picked again
    assert jobs.calls == []


def test_handler_changes_roll_back_when_it_fails(svc, clock):
    from kefu.accounts.models import Workspace
    from kefu.core.ids import new_id

    j = Jobs(svc, clock)

    def half_done(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        uow.session.add(Workspace(id=new_id(), name="x", slug="half-done",
                                  created_at=uow.clock.now()))
        uow.session.flush()
        raise RuntimeError("then fails")

    j.queue.register("half_done", half_done)
    j.enqueue("half_done", {}, max_attempts=1)
    j.runner.run_one()
    with j.uows(readonly=True) as uow:
        assert uow.session.scalar(select(Workspace).where(Workspace.slug == "half-done")) is None
    assert j.rows()[0].status == "failed"


def test_stale_running_job_is_reclaimed_after_its_lease(jobs, clock):
    jobs.enqueue("record_call", {"n": 5})
    claimed = jobs.runner._claim()  # a worker claims the job, then dies
    assert claimed is not None
    (job,) = jobs.rows()
    assert job.status == "running"
    assert job.locked_until == clock.now() + JobRunner.LEASE

    clock.advance(seconds=JobRunner.LEASE.total_seconds() - 1)
    assert jobs.runner.run_one() is False  # lease still held
    clock.advance(seconds=2)
    assert jobs.runner.run_one() is True
    (job,) = jobs.rows()
    assert (job.status, job.attempts) == ("done", 2)
    assert jobs.calls == [{"n": 5}]


def test_inline_queue_runs_jobs_after_commit(svc, clock):
    j = Jobs(svc, clock, inline=True)
    ran_inside: list[int] = []
    with j.uows() as uow:
        uow.enqueue("record_call", {"n": 1})
        ran_inside.append(len(j.calls))
    assert ran_inside == [0]
    assert j.calls == [{"n": 1}]
    assert j.rows()[0].status == "done"


def test_periodic_job_runs_once_per_bucket_even_with_two_runners(svc, clock):
    jobs = Jobs(svc, clock)
    jobs.queue.every("record_call", 60)
    other = JobRunner(jobs.queue, jobs.uows)  # a second process's runner, same table
    assert jobs.runner.schedule_periodic() == 1
    assert other.schedule_periodic() == 1  # it tries too: the key makes it the same job
    assert jobs.runner.schedule_periodic() == 0  # nothing new within the bucket
    assert jobs.runner.drain() == 1
    assert len(jobs.calls) == 1 and jobs.calls[0]["bucket"] == int(clock.now().timestamp()) // 60
    clock.advance(seconds=60)
    assert other.schedule_periodic() == 1
    assert jobs.runner.schedule_periodic() == 1
    assert jobs.runner.drain() == 1
    assert len(jobs.calls) == 2


def test_periodic_needs_a_registered_kind(svc, clock):
    jobs = Jobs(svc, clock)
    with pytest.raises(ValueError, match="no handler"):
        jobs.queue.every("nope", 60)
