"""Batch re-inspection: a run over stored conversations, idempotent reruns, a crash half-way
then resume, and worker processes giving the same results as one process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.engine import make_url

from kefu.accounts import actions as account_actions
from kefu.app import Services, build_services
from kefu.config import Settings
from kefu.core.clock import Clock, FixedClock
from kefu.core.db import make_engine
from kefu.core.errors import Invalid
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.models import Conversation
from kefu.inbox.schemas import InboxCreate
from kefu.qa import batch
from kefu.qa.models import QaHit, QaInspection, QaRun
from tests.conftest import T0, _user, customer_says, reset_database

#: what agents answer, in turn: clean, absolute + promise, personal data, abusive (fatal)
REPLIES = ("您好，请问有什么可以帮您？", "这是全网最好的，保证明天送到",
           "您的手机号是13812345678吗", "爱买不买", "好的，马上为您处理")


def seed(uows: UowFactory, clock: FixedClock | Clock, n: int, *, ws_slug: str = "shop-a",
         advance: bool = True) -> tuple[str, list[str]]:
    """A workspace with an agent and ``n`` resolved conversations (created one minute apart
    when the clock is a FixedClock). Returns (workspace id, conversation ids in order)."""
    with uows() as uow:
        ws = account_actions.do_create_workspace(uow, name="鲜果优选", slug=ws_slug).id
    admin = _user(uows, ws, f"admin@{ws_slug}.example.com", "王店长", "admin")
    agent = _user(uows, ws, f"li@{ws_slug}.example.com", "李晓月", "agent")
    with uows() as uow:
        inbox = inbox_actions.do_create_inbox(uow, admin, workspace_id=ws,
                                              data=InboxCreate(name="官网客服")).id
    ids = []
    for i in range(n):
        conv_id, _ = customer_says(uows, inbox, "你好，我的订单什么时候到？", visitor=f"v{i}")
        if advance and isinstance(clock, FixedClock):
            clock.advance(seconds=5 + 7 * (i % 4))  # every 4th reply is late (> 15 s)
        with uows() as uow:
            inbox_actions.do_agent_reply(uow, agent, conv_id, content=REPLIES[i % len(REPLIES)])
            inbox_actions.do_set_status(uow, agent, conv_id, status="resolved")
        if advance and isinstance(clock, FixedClock):
            clock.advance(minutes=1)
        ids.append(conv_id)
    return ws, ids


def results(uows: UowFactory, workspace_id: str | None = None) -> dict[str, Any]:
    """Every stored inspection as comparable values (no ids, no times)."""
    out: dict[str, Any] = {}
    with uows(readonly=True) as uow:
        stmt = select(QaInspection)
        if workspace_id is not None:
            stmt = stmt.where(QaInspection.workspace_id == workspace_id)
        for ins in uow.session.scalars(stmt):
            hits = sorted((h.rule_key, h.message_id, h.message_index, h.span_start, h.span_end,
                           h.deduction, h.fatal) for h in uow.session.scalars(
                select(QaHit).where(QaHit.inspection_id == ins.id)))
            out[ins.conversation_id] = (ins.score, ins.fatal, ins.hit_count, ins.sampled,
                                        ins.message_count, hits)
    return out


def counts(uows: UowFactory) -> tuple[int, int]:
    with uows(readonly=True) as uow:
        return (int(uow.session.scalar(select(func.count(QaInspection.id))) or 0),
                int(uow.session.scalar(select(func.count(QaHit.id))) or 0))


def run_row(uows: UowFactory, run_id: str) -> QaRun:
    with uows(readonly=True) as uow:
        row = uow.session.get(QaRun, run_id)
        assert row is not None
        return row


def wipe(uows: UowFactory) -> None:
    with uows() as uow:
        uow.session.execute(delete(QaHit))
        uow.session.execute(delete(QaInspection))


# ----------------------------------------------------------------- one process (test db)


def test_a_run_inspects_the_window_and_reruns_replace(uows, svc, clock):
    ws, ids = seed(uows, clock, 11)
    expected = results(uows)  # inspected by the job on resolve
    assert len(expected) == 11
    wipe(uows)
    seen: list[tuple[int, int]] = []
    run_id = batch.start_run(uows, T0 - timedelta(days=1), T0 + timedelta(days=1), ws)
    summary = batch.run(uows, svc.qa, run_id, chunk_size=4,
                        progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 11), (4, 11), (8, 11), (11, 11)]
    assert (summary.total, summary.done, summary.inspected) == (11, 11, 11)
    assert results(uows) == expected
    row = run_row(uows, run_id)
    assert row.status == "done" and row.finished_at is not None
    assert row.cursor_id == ids[-1]
    assert summary.hits == sum(v[2] for v in expected.values())
    assert summary.average_score == round(sum(v[0] for v in expected.values()) / 11, 2)
    before = counts(uows)
    again = batch.start_run(uows, T0 - timedelta(days=1), T0 + timedelta(days=1), ws)
    batch.run(uows, svc.qa, again, chunk_size=4)
    assert counts(uows) == before
    assert results(uows) == expected
    with uows(readonly=True) as uow:
        assert set(uow.session.scalars(select(QaInspection.run_id))) == {again}
    with pytest.raises(Invalid) as caught:
        batch.run(uows, svc.qa, again)
    assert caught.value.code == "qa_run_finished"


def test_the_window_workspace_and_status_bound_a_run(uows, svc, clock, world):
    ws, ids = seed(uows, clock, 6, ws_slug="shop-q")
    # an open conversation in the window is not part of a run
    customer_says(uows, world.inbox_a, "还在吗")
    wipe(uows)
    # conversations 0..5 were created at T0 + ~1.2 min apart: take the first three
    with uows(readonly=True) as uow:
        third = uow.session.get(Conversation, ids[3])
        assert third is not None
        cut = third.created_at
    run_id = batch.start_run(uows, T0, cut, ws)
    assert run_row(uows, run_id).total == 3
    batch.run(uows, svc.qa, run_id)
    assert set(results(uows)) == set(ids[:3])
    other = batch.start_run(uows, T0, T0 + timedelta(days=1), world.ws_a)
    assert run_row(uows, other).total == 0
    with pytest.raises(Invalid) as caught:
        batch.start_run(uows, T0, T0)
    assert caught.value.code == "bad_window"


def test_rule_mode_run_replaces_only_that_rule(uows, svc, clock):
    ws, _ = seed(uows, clock, 5)
    expected = results(uows)
    with uows() as uow:
        uow.session.execute(delete(QaHit).where(QaHit.rule_key == "risky_promise"))
        uow.session.execute(QaHit.__table__.update().where(
            QaHit.rule_key == "ad_law_absolute").values(review="confirmed"))
    run_id = batch.start_run(uows, T0 - timedelta(days=1), T0 + timedelta(days=1), ws,
                             rule_key="risky_promise")
    summary = batch.run(uows, svc.qa, run_id)
    assert summary.inspected == 5
    assert results(uows) == expected
    with uows(readonly=True) as uow:  # the other rules' rows were not touched
        reviews = set(uow.session.scalars(select(QaHit.review).where(
            QaHit.rule_key == "ad_law_absolute")))
    assert reviews == {"confirmed"}


def test_a_crash_mid_run_then_resume_finishes_without_duplicates(uows, svc, clock,
                                                                 monkeypatch):
    ws, ids = seed(uows, clock, 11)
    expected = results(uows)
    wipe(uows)
    real = batch.store_inspection
    calls = {"n": 0}

    def flaky(uow, prepared, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 10:  # in the 3rd chunk of 4
            raise RuntimeError("power cut")
        return real(uow, prepared, **kw)

    monkeypatch.setattr(batch, "store_inspection", flaky)
    run_id = batch.start_run(uows, T0 - timedelta(days=1), T0 + timedelta(days=1), ws)
    with pytest.raises(RuntimeError, match="power cut"):
        batch.run(uows, svc.qa, run_id, chunk_size=4)
    row = run_row(uows, run_id)
    assert (row.status, row.done, row.cursor_id) == ("failed", 8, ids[7])
    assert set(results(uows)) == set(ids[:8])  # the 3rd chunk rolled back whole
    assert batch.latest_unfinished(uows, ws) == run_id

    monkeypatch.setattr(batch, "store_inspection", real)
    summary = batch.resume(uows, svc.qa, run_id, chunk_size=4)
    assert (summary.inspected, summary.done, summary.total) == (3, 11, 11)
    assert results(uows) == expected
    assert counts(uows) == (11, sum(v[2] for v in expected.values()))
    assert run_row(uows, run_id).status == "done"
    assert batch.latest_unfinished(uows, ws) is None


def test_a_huge_conversation_is_skipped_and_reported(uows, svc, clock, monkeypatch):
    ws, ids = seed(uows, clock, 3)
    wipe(uows)
    monkeypatch.setattr("kefu.qa.inspections.MAX_MESSAGES", 1)
    run_id = batch.start_run(uows, T0 - timedelta(days=1), T0 + timedelta(days=1), ws)
    summary = batch.run(uows, svc.qa, run_id)
    assert summary.inspected == 0 and summary.done == 3
    assert summary.skipped == [(cid, "qa_conversation_too_large") for cid in ids]
    assert counts(uows) == (0, 0)


# ---------------------------------------------------------- worker processes (committed db)


@contextmanager
def _pg_database(base_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test alone (the shared test database is used inside
    rolled-back transactions by the other tests)."""
    url = make_url(base_url)
    name = f"{url.database}_qa_batch"
    admin = make_engine(base_url.replace(f"/{url.database}", "/postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base_url.replace(f"/{url.database}", f"/{name}")
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def committed_services(tmp_path: Path, db_url: str) -> Iterator[Services]:
    """Services on a database of their own, committing for real: a SQLite file, or a
    PostgreSQL database when the suite runs on PostgreSQL. Jobs are queued, not run."""
    with ExitStack() as stack:
        url = stack.enter_context(_pg_database(db_url)) if db_url.startswith("postgresql") \
            else f"sqlite:///{tmp_path / 'batch.db'}"
        settings = Settings(env="test", data_dir=tmp_path, database_url=url,
                            secret_key="test-secret-key-0123456789-abcdefghijkl",
                            embedded_worker=False)
        engine: Engine = make_engine(url)
        stack.callback(engine.dispose)
        reset_database(engine)
        yield build_services(settings, clock=FixedClock(T0), engine=engine)


@pytest.fixture
def committed(tmp_path: Path, db_url: str) -> Iterator[Services]:
    with committed_services(tmp_path, db_url) as svc:
        yield svc


def test_two_worker_processes_give_the_same_results_as_one(committed):
    from kefu.cli.qa_run import init_worker

    svc = committed
    ws, ids = seed(svc.uows, svc.clock, 45)
    # the qa_inspect jobs were queued, not run (no runner): nothing inspected yet
    assert counts(svc.uows) == (0, 0)
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=1)
    one = batch.start_run(svc.uows, since, until, ws)
    single = batch.run(svc.uows, svc.qa, one, chunk_size=10)
    expected = results(svc.uows)
    assert len(expected) == 45 and single.inspected == 45
    assert sum(1 for v in expected.values() if v[1]) == 9  # every 5th reply is abusive

    wipe(svc.uows)
    seen: list[int] = []
    two = batch.start_run(svc.uows, since, until, ws)
    summary = batch.run_parallel(
        svc.uows, two, workers=2, initializer=init_worker,
        initargs=(svc.settings.model_dump(),), chunk_size=10,
        progress=lambda done, total: seen.append(done))
    assert (summary.inspected, summary.done, summary.total) == (45, 45, 45)
    assert seen == [0, 10, 20, 30, 40, 45]
    assert results(svc.uows) == expected
    assert (summary.hits, summary.average_score) == (single.hits, single.average_score)
    row = run_row(svc.uows, two)
    assert row.status == "done" and row.cursor_id == ids[-1]
    with svc.uows(readonly=True) as uow:
        assert set(uow.session.scalars(select(QaInspection.run_id))) == {two}
    # and the rerun on two processes replaces, never duplicates
    three = batch.start_run(svc.uows, since, until, ws)
    batch.run_parallel(svc.uows, three, workers=2, initializer=init_worker,
                       initargs=(svc.settings.model_dump(),), chunk_size=7)
    assert results(svc.uows) == expected
    assert counts(svc.uows) == (45, sum(v[2] for v in expected.values()))

