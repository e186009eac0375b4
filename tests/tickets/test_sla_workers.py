"""Reminders are sent exactly once with two real worker processes running the tick at the
same moment, and after a worker is killed in the middle of a run.

The processes need a committed database (the suite's own connection lives in a rolled-back
transaction): on PostgreSQL (``KEFU_TEST_DATABASE_URL``) a fresh database is created on the
same server and dropped afterwards; otherwise a SQLite file. Never skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from kefu.accounts import actions as account_actions
from kefu.accounts.models import Notification
from kefu.accounts.schemas import TeamCreate, UserCreate
from kefu.app import build_services
from kefu.config import Settings
from kefu.core.clock import FixedClock
from kefu.core.db import make_engine
from kefu.migrations.runner import upgrade
from kefu.tickets import actions, policies
from kefu.tickets.models import TicketEvent, TicketReminder
from kefu.tickets.schemas import TicketCreate
from tests.conftest import PASSWORD, T0

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 24


@pytest.fixture
def committed_db(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("KEFU_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        url = f"sqlite:///{tmp_path / 'workers.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    name = f"kefu_test_reminders_{uuid4().hex[:10]}"
    admin = create_engine(make_url(base).set(drivername=make_url(base).drivername),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, tmp_path: Path) -> None:
    """A workspace with a supervisor, two agents (one the team lead), a 24/7 policy whose first
    response is due after 60 minutes and escalates at once, and TICKETS tickets."""
    settings = Settings(env="test", data_dir=tmp_path / "seed", database_url=url,
                        secret_key="test-secret-key-0123456789-abcdefghijkl",
                        embedded_worker=False)
    svc = build_services(settings, clock=FixedClock(T0))
    uows = svc.uows
    with uows() as uow:
        ws = account_actions.do_create_workspace(uow, name="鲜果优选", slug="shop-w").id

    def user(email: str, name: str, role: str) -> object:
        from kefu.accounts.queries import actor_for

        with uows() as uow:
            return actor_for(account_actions.do_create_user(
                uow, workspace_id=ws, data=UserCreate(email=email, name=name, role=role,  # type: ignore[arg-type]
                                                      password=PASSWORD)))

    admin = user("wang@w.example.com", "王店长", "admin")
    user("zhao@w.example.com", "赵主管", "supervisor")
    li = user("li@w.example.com", "李晓月", "agent")
    chen = user("chen@w.example.com", "陈子豪", "agent")
    with uows() as uow:
        policies.do_create_policy(uow, admin, {  # type: ignore[arg-type]
            "name": "默认", "escalate_after_minutes": 0,
            "targets": {"P3": {"first_response": 60, "resolution": 1440}}})
        team = account_actions.do_create_team(uow, admin, TeamCreate(  # type: ignore[arg-type]
            name="售后组", member_ids=[li.user_id, chen.user_id]))  # type: ignore[attr-defined]
        policies.do_set_team_settings(uow, admin, team.id, assignment="manual",  # type: ignore[arg-type]
                                      lead_id=chen.user_id)  # type: ignore[attr-defined]
        team_id = team.id
    for i in range(TICKETS):
        with uows() as uow:
            actions.do_create_ticket(uow, admin, workspace_id=ws,  # type: ignore[arg-type]
                                     data=TicketCreate(
                                         subject=f"工单 {i}", team_id=team_id,
                                         assignee_id=(li if i % 2 else chen).user_id),  # type: ignore[attr-defined]
                                     source="agent")
    svc.engine.dispose()


def spawn(url: str, folder: Path, name: str, mode: str = "normal") -> subprocess.Popen[str]:
    now = (T0 + timedelta(minutes=65)).isoformat()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.tickets.sla_tick_worker", url, now, str(folder), name,
         mode], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def release(folder: Path, names: list[str]) -> None:
    deadline = time.monotonic() + 60
    while not all((folder / f"{n}.ready").exists() for n in names):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    (folder / "go").touch()


def expected_keys() -> int:
    # per ticket a breach and an escalation; a digest for each of the two agents
    return TICKETS * 2 + 2


def check_exactly_once(url: str) -> Counter[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            reminders = conn.execute(select(TicketReminder.key, TicketReminder.kind,
                                            TicketReminder.recipients)).all()
            notes = conn.execute(select(Notification.data, Notification.user_id)).all()
            lines = conn.execute(select(TicketEvent.data).where(
                TicketEvent.kind == "reminder_sent")).all()
            breached = conn.execute(select(TicketEvent.id).where(
                TicketEvent.kind == "sla_breached")).all()
    finally:
        engine.dispose()
    sla = [r for r in reminders if r[1] != "dispatch"]
    assert len(sla) == expected_keys()
    per_key = Counter((n[0] or {}).get("key") for n in notes)
    for key, _kind, recipients in sla:
        assert recipients, key
        assert per_key[key] == len(recipients), key  # each recipient told once
    # one notice per (key, user): nobody got a reminder twice
    pairs = Counter(((n[0] or {}).get("key"), n[1]) for n in notes)
    assert max(pairs.values()) == 1
    timeline_keys = Counter(d[0].get("key") for d in lines)
    # a ticket's reminder has exactly one line on its timeline (the digest has no ticket)
    assert all(timeline_keys[k] == 1 for k, kind, _ in sla if kind != "todo_digest")
    assert len(breached) == TICKETS
    return Counter(r[1] for r in sla)


def test_two_workers_at_once_send_each_reminder_exactly_once(committed_db: str,
                                                             tmp_path: Path) -> None:
    seed(committed_db, tmp_path)
    procs = [spawn(committed_db, tmp_path, n) for n in ("a", "b")]
    release(tmp_path, ["a", "b"])
    sent: Counter[str] = Counter()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        sent.update(json.loads(out.strip().splitlines()[-1]))
    # between them the two workers sent everything once
    assert sent == Counter({"breach": TICKETS, "escalation": TICKETS, "todo_digest": 2})
    assert check_exactly_once(committed_db) == sent


def test_a_worker_killed_mid_run_then_a_normal_run_sends_everything_once(
        committed_db: str, tmp_path: Path) -> None:
    seed(committed_db, tmp_path)
    crash = spawn(committed_db, tmp_path, "crash", "crash:7")
    release(tmp_path, ["crash"])
    crash.communicate(timeout=120)
    assert crash.returncode == -9  # SIGKILL, mid-transaction
    engine = make_engine(committed_db)
    with engine.connect() as conn:
        assert conn.execute(select(TicketReminder.id).where(
            TicketReminder.kind != "dispatch")).all() == []
        assert conn.execute(select(Notification.id).where(
            Notification.kind != "ticket_dispatch")).all() == []
    engine.dispose()
    (tmp_path / "go").unlink()
    normal = spawn(committed_db, tmp_path, "after")
    release(tmp_path, ["after"])
    out, err = normal.communicate(timeout=120)
    assert normal.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {
        "breach": TICKETS, "escalation": TICKETS, "todo_digest": 2}
    check_exactly_once(committed_db)
