"""Ticket list and report queries at scale (issue 6): seed 100,000 tickets in one workspace
(10 teams, 40 agents, realistic statuses and priorities, ~70 % with a running
``next_breach_at``, pending ones paused with NULL, SLA clocks, a template select field, 90
days of history) into a temporary SQLite file and into PostgreSQL
(``KEFU_BENCH_DATABASE_URL``, default ``postgresql://kefu:kefu@127.0.0.1:5432/kefu_bench``, in
a schema of its own that is dropped afterwards; skipped with a note when it cannot connect).

Then it times ``tickets.queries.list_tickets`` (50 rows, sorted by time to breach):

- filtered by one team, first page;
- filtered by one team, a deep page (the cursor after 40 pages = 2,000 rows);
- filtered by status ``open``, first page;

``--repeat`` runs each (default 200), p50 / p99, PASS / MISS against **p99 < 100 ms**; and
the main report queries (backlog, SLA compliance by policy / team / agent, first response and
resolution time distributions, top categories, daily trend over the last 30 days;
``--report-repeat`` runs each, default 20; no target, reported).

    .venv/bin/python bench/tickets_bench.py [--tickets 100000] [--repeat 200] [--no-pg]
                                            [--explain]

``--explain`` prints the query plans of the list's statements (always printed for a MISS).
Exit status 0 when every list case passes on every database measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.orm import sessionmaker

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team, User, Workspace
from kefu.core.clock import FixedClock
from kefu.core.db import make_engine
from kefu.core.events import EventBus
from kefu.core.ids import new_id
from kefu.core.uow import UowFactory
from kefu.models import metadata
from kefu.tickets import clocks
from kefu.tickets import queries as tq
from kefu.tickets import reports as rep
from kefu.tickets.models import SlaPolicy, Ticket, TicketTemplate

PG_URL = os.environ.get("KEFU_BENCH_DATABASE_URL",
                        "postgresql://kefu:kefu@127.0.0.1:5432/kefu_bench")
PG_SCHEMA = "tickets_bench"
NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
TEAMS, AGENTS, POLICIES = 10, 40, 3
TARGET_MS = 100.0
DEEP_PAGES = 40
STATUSES = (("new", 20), ("open", 52), ("pending", 10), ("resolved", 9), ("closed", 9))
PRIORITIES = (("P1", 5), ("P2", 20), ("P3", 55), ("P4", 20))
KINDS = ["screen", "battery", "shipping", "refund", "invoice", "account", "other"]
SUBJECTS = ["冰箱不制冷", "订单未发货", "申请退款", "发票开错了", "屏幕有坏点", "电池鼓包",
            "账号无法登录", "快递显示已签收但没收到"]


def _clock(rnd: random.Random, created: datetime, minutes: int, *, done: bool) -> dict[str, Any]:
    due = created + timedelta(minutes=minutes)
    breached = due < NOW and (not done or rnd.random() < 0.25)
    stopped = done or rnd.random() < 0.2
    return {"target_s": minutes * 60, "elapsed_s": 0,
            "running_since": None if stopped else created.isoformat(), "paused_at": None,
            "due_at": None if stopped else due.isoformat(),
            "stopped_at": (created + timedelta(minutes=minutes * rnd.uniform(0.2, 1.4)))
            .isoformat() if stopped else None,
            "breached_at": due.isoformat() if breached else None}


def seed(engine: Engine, n: int, rnd: random.Random) -> tuple[Actor, list[str], str]:
    """One workspace with ``n`` tickets; returns (supervisor actor, team ids, template id)."""
    t0 = time.perf_counter()
    ws = new_id()
    users = [new_id() for _ in range(AGENTS + 1)]
    teams = [new_id() for _ in range(TEAMS)]
    policies = [new_id() for _ in range(POLICIES)]
    template = new_id()
    team_weights = [1.0 / (k + 1) ** 0.5 for k in range(TEAMS)]  # some teams busier
    with engine.begin() as c:
        c.execute(insert(Workspace), [{"id": ws, "name": "bench", "slug": f"bench-{ws}",
                                       "timezone": "Asia/Shanghai", "created_at": NOW}])
        c.execute(insert(User), [
            {"id": u, "workspace_id": ws, "email": f"{u}@bench.example.com", "name": f"坐席{i:02d}",
             "role": "supervisor" if i == 0 else "agent", "password_hash": "x",
             "created_at": NOW} for i, u in enumerate(users)])
        c.execute(insert(Team), [{"id": t, "workspace_id": ws, "name": f"专家组{i}",
                                  "created_at": NOW} for i, t in enumerate(teams)])
        c.execute(insert(SlaPolicy), [{"id": p, "workspace_id": ws, "name": f"策略{i}",
                                       "position": i, "conditions": {}, "targets": {},
                                       "escalate_after_minutes": 60, "is_active": True,
                                       "created_at": NOW, "updated_at": NOW}
                                      for i, p in enumerate(policies)])
        c.execute(insert(TicketTemplate), [{
            "id": template, "workspace_id": ws, "name": "售后", "description": "",
            "fields": [{"key": "kind", "label": "问题类型", "type": "select",
                        "options": KINDS, "required": False}],
            "default_priority": "P3", "public": False, "is_active": True, "position": 0,
            "created_at": NOW, "updated_at": NOW}])
        batch = 5000
        statuses, s_w = zip(*STATUSES, strict=True)
        prios, p_w = zip(*PRIORITIES, strict=True)
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                created = NOW - timedelta(seconds=rnd.uniform(0, 90 * 86400))
                status = rnd.choices(statuses, s_w)[0]
                team = rnd.choices(teams, team_weights)[0] if rnd.random() < 0.95 else None
                done = status in ("resolved", "closed")
                running = status in ("new", "open") and rnd.random() < 0.97
                next_breach = (NOW + timedelta(minutes=rnd.uniform(-3 * 1440, 5 * 1440))
                               if running else None)
                answered = status != "new" and rnd.random() < 0.95
                first_resp = (created + timedelta(minutes=rnd.expovariate(1 / 120))
                              if answered else None)
                resolved = (created + timedelta(minutes=rnd.expovariate(1 / 2000))
                            if done else None)
                has_policy = rnd.random() < 0.8
                sla = {"clocks": {"first_response": _clock(rnd, created, 240,
                                                           done=answered),
                                  "resolution": _clock(rnd, created, 2880, done=done)}} \
                    if has_policy else {}
                on_tpl = rnd.random() < 0.5
                rows.append({
                    "id": new_id(), "workspace_id": ws, "number": i + 1,
                    "subject": rnd.choice(SUBJECTS), "description": "", "status": status,
                    "priority": rnd.choices(prios, p_w)[0], "source": "agent",
                    "template_id": template if on_tpl else None,
                    "fields": {"kind": rnd.choice(KINDS)} if on_tpl else {},
                    "tags": [], "team_id": team,
                    "assignee_id": rnd.choice(users[1:]) if rnd.random() < 0.8 else None,
                    "sla_policy_id": rnd.choice(policies) if has_policy else None, "sla": sla,
                    **clocks.outcomes(sla),
                    "next_breach_at": next_breach,
                    "sla_status": "paused" if status == "pending" else (
                        "breached" if next_breach and next_breach < NOW else
                        ("ok" if next_breach else "none")),
                    "first_response_at": first_resp, "created_at": created,
                    "updated_at": max(created, resolved or created, first_resp or created),
                    "resolved_at": resolved, "closed_at": resolved if status == "closed"
                    else None, "last_seq": 1})
            c.execute(insert(Ticket), rows)
    print(f"  seeded {n:,} tickets in {time.perf_counter() - t0:.1f} s", flush=True)
    return Actor(user_id=users[0], workspace_id=ws, role="supervisor"), teams, template


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    for _ in range(3):
        fn()  # warm-up (caches, prepared plans)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    p99 = runs[min(len(runs) - 1, round(0.99 * (len(runs) - 1)))]
    return statistics.median(runs), p99


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
             executemany: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def explain(engine: Engine, fn: Callable[[], Any]) -> None:
    with captured(engine) as seen:
        fn()
    for statement, params in seen:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        print("    --", " ".join(statement.split())[:600])
        with engine.connect() as c:
            raw = c.connection.driver_connection
            assert raw is not None
            cur = raw.cursor()
            if engine.dialect.name == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + statement, params)
                for row in cur.fetchall():
                    print("      ", row[-1])
            else:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                for row in cur.fetchall():
                    print("      ", row[0])
            cur.close()


def measure(engine: Engine, actor: Actor, teams: list[str], template: str, repeat: int,
            report_repeat: int, want_plans: bool) -> dict[str, Any]:
    uows = UowFactory(sessionmaker(bind=engine, expire_on_commit=False), bus=EventBus(),
                      clock=FixedClock(NOW))
    team = teams[0]  # the busiest team (~18 % of the tickets)

    def page(flt: tq.TicketFilter, cursor: str | None = None) -> tq.TicketPage:
        with uows(readonly=True) as uow:
            return tq.list_tickets(uow, actor, flt, sort="breach", limit=50, cursor=cursor)

    by_team = tq.TicketFilter(team_id=team)
    cursor: str | None = None
    for _ in range(DEEP_PAGES):
        cursor = page(by_team, cursor).next_cursor
        assert cursor is not None, "fewer tickets than the deep page needs"
    deep = cursor
    first = page(by_team)
    assert len(first.items) == 50 and all(r.team_id == team for r in first.items)
    breach = [r.next_breach_at for r in first.items if r.next_breach_at is not None]
    assert breach == sorted(breach), "not sorted by time to breach"
    cases: dict[str, Callable[[], Any]] = {
        "team, first page": lambda: page(by_team),
        f"team, page {DEEP_PAGES + 1} (cursor)": lambda: page(by_team, deep),
        "status open, first page": lambda: page(tq.TicketFilter(status=["open"])),
    }
    out: dict[str, Any] = {"list": {}, "reports": {}}
    for name, fn in cases.items():
        p50, p99 = timed(fn, repeat)
        ok = p99 < TARGET_MS
        out["list"][name] = (p50, p99, ok)
        print(f"  list {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
              f"{'PASS' if ok else 'MISS'}", flush=True)
        if want_plans or not ok:
            explain(engine, fn)
    since, until = NOW - timedelta(days=30), NOW
    with uows(readonly=True) as uow:  # reports read on a read-only unit, as the pages do
        s = uow.session
        zone = rep.workspace_zone(s, actor.workspace_id)
        rcases: dict[str, Callable[[], Any]] = {
            "backlog": lambda: rep.backlog(s, actor, now=NOW),
            "SLA by policy": lambda: rep.sla_compliance(s, actor, since=since, until=until),
            "SLA by team": lambda: rep.sla_compliance(s, actor, since=since, until=until,
                                                      group_by="team"),
            "SLA by agent": lambda: rep.sla_compliance(s, actor, since=since, until=until,
                                                       group_by="agent"),
            "first response times": lambda: rep.distribution(
                s, actor, metric="first_response", since=since, until=until),
            "resolution times": lambda: rep.distribution(s, actor, metric="resolution",
                                                         since=since, until=until),
            "top categories": lambda: rep.top_categories(s, actor, template_id=template,
                                                         field_key="kind", since=since,
                                                         until=until),
            "daily trend": lambda: rep.trend(s, actor, since=since, until=until, zone=zone),
            "SLA by team, 1 team": lambda: rep.sla_compliance(
                s, actor, since=since, until=until, group_by="team", team_id=team),
        }
        for name, fn in rcases.items():
            out["reports"][name] = timed(fn, report_repeat)
            print(f"  report {name}: p50 {out['reports'][name][0]:.1f} ms", flush=True)
    return out


def report(title: str, res: dict[str, Any], n: int) -> None:
    print(f"\n{title}: {n:,} tickets, list_tickets 50 rows sorted by time to breach (ms)")
    print(f"  {'case':<32}{'p50':>9}{'p99':>9}   target p99 < {TARGET_MS:.0f} ms")
    for name, (p50, p99, ok) in res["list"].items():
        print(f"  {name:<32}{p50:>9.2f}{p99:>9.2f}   {'PASS' if ok else 'MISS'}")
    print(f"  {'report (last 30 days)':<32}{'p50':>9}{'p99':>9}")
    for name, (p50, p99) in res["reports"].items():
        print(f"  {name:<32}{p50:>9.1f}{p99:>9.1f}")


def run(engine: Engine, title: str, args: argparse.Namespace) -> bool:
    print(f"\n== {title}", flush=True)
    metadata.create_all(engine)
    actor, teams, template = seed(engine, args.tickets, random.Random(6))
    with engine.begin() as c:
        c.execute(text("ANALYZE"))
    res = measure(engine, actor, teams, template, args.repeat, args.report_repeat,
                  args.explain)
    report(title, res, args.tickets)
    return all(ok for _, _, ok in res["list"].values())


@contextmanager
def pg_engine() -> Iterator[Engine | None]:
    try:
        engine = create_engine(PG_URL, pool_pre_ping=True)
        with engine.begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            c.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    except Exception as exc:  # any failure means "not reachable"
        print(f"\nPostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); skipped")
        yield None
        return

    @event.listens_for(engine, "connect")
    def _search_path(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"SET search_path TO {PG_SCHEMA}")
        cur.close()

    engine.dispose()  # later connections get the search path
    try:
        yield engine
    finally:
        engine.dispose()
        with create_engine(PG_URL).begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--report-repeat", type=int, default=20)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--explain", action="store_true")
    args = ap.parse_args(argv)
    # a SIGTERM unwinds like Ctrl-C, so the PostgreSQL schema is dropped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"tickets bench · Python {platform.python_version()} · {platform.machine()} · "
          f"{os.cpu_count()} CPUs")
    ok = True
    with tempfile.TemporaryDirectory(prefix="kefu-tickets-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            ok = run(engine, "SQLite", args) and ok
        finally:
            engine.dispose()
    if not args.no_pg:
        with pg_engine() as pg:
            if pg is not None:
                ok = run(pg, "PostgreSQL", args) and ok
    print("\nRESULT:", "PASS" if ok else "MISS", f"(list p99 < {TARGET_MS:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
