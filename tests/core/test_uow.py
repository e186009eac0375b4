"""The unit of work: commit, then publish; nothing published on error; read-only units."""

from __future__ import annotations

from typing import Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kefu.accounts.models import Workspace
from kefu.core.events import Event
from kefu.core.ids import new_id


class _Pinged(Event):
    """A test-only event; no default ``type``, so it stays out of ``Event.catalogue``."""

    type: Literal["test.uow_pinged"]
    n: int


def _ping(n: int) -> _Pinged:
    return _Pinged(type="test.uow_pinged", workspace_id="w", n=n)


def _workspace(slug: str, clock) -> Workspace:
    return Workspace(id=new_id(), name=slug, slug=slug, created_at=clock.now())


def _count(uows, slug: str) -> int:
    with uows(readonly=True) as uow:
        return uow.session.scalar(
            select(func.count()).select_from(Workspace).where(Workspace.slug == slug)) or 0


@pytest.fixture
def seen(svc) -> list[Event]:
    got: list[Event] = []
    svc.bus.subscribe("test.uow_pinged", got.append)
    return got


def test_events_are_published_after_commit_only(uows, seen, clock):
    observed_inside: list[int] = []
    with uows() as uow:
        uow.session.add(_workspace("after-commit", clock))
        uow.emit(_ping(1))
        uow.emit(_ping(2))
        observed_inside.append(len(seen))
    assert observed_inside == [0]
    assert [e.n for e in seen] == [1, 2]  # type: ignore[attr-defined]
    assert _count(uows, "after-commit") == 1


def test_listener_sees_committed_rows(svc, uows, clock):
    counts: list[int] = []
    svc.bus.subscribe("test.uow_pinged", lambda _e: counts.append(_count(uows, "visible")))
    with uows() as uow:
        uow.session.add(_workspace("visible", clock))
        uow.emit(_ping(1))
    assert counts == [1]


def test_exception_rolls_back_and_publishes_nothing(uows, seen, clock):
    def work_then_fail() -> None:
        with uows() as uow:
            uow.session.add(_workspace("rolled-back", clock))
            uow.session.flush()
            uow.emit(_ping(1))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        work_then_fail()
    assert seen == []
    assert _count(uows, "rolled-back") == 0


def test_failed_commit_publishes_nothing(uows, seen, clock):
    with uows() as uow:
        uow.session.add(_workspace("dup-slug", clock))

    def commit_duplicate() -> None:
        with uows() as uow:
            uow.emit(_ping(1))
            uow.session.add(_workspace("dup-slug", clock))  # flushed (and refused) at commit

    with pytest.raises(IntegrityError):
        commit_duplicate()
    assert seen == []
    assert _count(uows, "dup-slug") == 1


def test_readonly_unit_does_not_commit(uows, seen, clock):
    with uows(readonly=True) as uow:
        uow.session.add(_workspace("readonly-write", clock))
        uow.session.flush()
        assert uow.readonly
    assert _count(uows, "readonly-write") == 0


def test_readonly_unit_keeps_loaded_objects_readable(uows, clock):
    with uows() as uow:
        uow.session.add(_workspace("readable", clock))
    with uows(readonly=True) as uow:
        ws = uow.session.scalars(select(Workspace).where(Workspace.slug == "readable")).one()
    assert ws.name == "readable"  # no DetachedInstanceError after close


def test_readonly_unit_refuses_events_and_jobs(uows, seen):
    with uows(readonly=True) as uow:
        with pytest.raises(RuntimeError, match="read-only"):
            uow.emit(_ping(1))
        with pytest.raises(RuntimeError, match="read-only"):
            uow.enqueue("any_kind", {})
    assert seen == []
