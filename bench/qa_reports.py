"""QA report queries at scale: seed 100,000 inspections (~300,000 hits) over 90 days into a
temporary SQLite database (and into PostgreSQL when ``postgresql://kefu:kefu@127.0.0.1:5432/
kefu_bench`` answers, in a schema of its own that is dropped afterwards), then time the
summary, rules, trend and drill-down queries over the last 30 days (p50 / p99 of
``--repeat`` runs each).

    .venv/bin/python bench/qa_reports.py [--inspections 100000] [--repeat 30] [--no-pg]

Each database is measured twice: with the indexes of the schema, then after adding an index
on ``qa_inspections (workspace_id, conversation_at)`` (the reports filter on when the
conversation took place), to show what that index is worth.
"""

from __future__ import annotations

import argparse
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
from sqlalchemy.orm import Session

from kefu.accounts.actor import Actor
from kefu.accounts.models import Team, User, Workspace
from kefu.contacts.models import Contact
from kefu.core.db import make_engine
from kefu.core.ids import new_id
from kefu.inbox.models import Conversation, Inbox, Message
from kefu.models import metadata
from kefu.qa import queries as q
from kefu.qa.models import QaHit, QaInspection

PG_URL = "postgresql://kefu:kefu@127.0.0.1:5432/kefu_bench"
PG_SCHEMA = "qa_reports_bench"
NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
AGENTS, TEAMS, INBOXES, RULES = 40, 5, 3, 60
TEXTS = ["您好，我们保证明天一定到货，请放心", "这款是全网最低价，绝对正品",
         "我的手机号是13812345678，麻烦回电", "亲，这个问题我帮您转给售后处理",
         "非常抱歉让您久等了，马上为您查询物流", "您的订单已经发出，预计三天内送达"]
INDEX = "ix_qa_inspections_ws_conv_at"


def seed(engine: Engine, n: int, rnd: random.Random) -> tuple[Actor, Actor]:
    """One big workspace (n inspections) and a small one; returns (admin, agent) actors."""
    t0 = time.perf_counter()
    ws, other = new_id(), new_id()
    users = [new_id() for _ in range(AGENTS + 1)]
    teams = [new_id() for _ in range(TEAMS)]
    inboxes = [new_id() for _ in range(INBOXES)]
    contact = new_id()
    rules = [(f"rule_{k:02d}", f"规则 {k:02d}", rnd.choice(["keyword", "regex", "pii",
                                                          "timing", "sentiment"]))
             for k in range(RULES)]
    weights = [1.0 / (k + 1) for k in range(RULES)]  # a few rules hit most
    with engine.begin() as c:
        c.execute(insert(Workspace), [
            {"id": w, "name": f"ws {w[-4:]}", "slug": f"bench-{w}", "timezone": "Asia/Shanghai",
             "created_at": NOW} for w in (ws, other)])
        c.execute(insert(User), [
            {"id": u, "workspace_id": ws, "email": f"{u}@bench.example.com", "name": f"坐席{i:02d}",
             "role": "admin" if i == 0 else "agent", "password_hash": "x", "created_at": NOW}
            for i, u in enumerate(users)])
        c.execute(insert(Team), [{"id": t, "workspace_id": ws, "name": f"组{i}",
                                  "created_at": NOW} for i, t in enumerate(teams)])
        c.execute(insert(Inbox), [{"id": b, "workspace_id": ws, "name": f"渠道{i}",
                                   "channel_type": "webchat", "secret": "s", "settings": {},
                                   "created_at": NOW} for i, b in enumerate(inboxes)])
        c.execute(insert(Contact), [{"id": contact, "workspace_id": ws, "name": "客户",
                                     "created_at": NOW}])
        batch = 5000
        total_hits = 0
        for start in range(0, n, batch):
            convs, msgs, insps, hits = [], [], [], []
            for _ in range(start, min(n, start + batch)):
                at = NOW - timedelta(seconds=rnd.uniform(0, 90 * 86400))
                conv, msg, ins = new_id(), new_id(), new_id()
                agent = rnd.choice(users[1:])
                inbox = rnd.choice(inboxes)
                content = rnd.choice(TEXTS)
                convs.append({"id": conv, "workspace_id": ws, "inbox_id": inbox,
                              "contact_id": contact, "status": "resolved",
                              "assignee_id": agent, "last_activity_at": at, "created_at": at,
                              "last_seq": 1})
                msgs.append({"id": msg, "workspace_id": ws, "conversation_id": conv, "seq": 1,
                             "sender_type": "agent", "sender_id": agent, "content": content,
                             "created_at": at})
                k = min(10, round(rnd.expovariate(1 / 3)))
                fatal = rnd.random() < 0.02
                score = 0.0 if fatal else max(0.0, 100.0 - 5 * k - rnd.choice([0, 0, 2, 5]))
                insps.append({"id": ins, "workspace_id": ws, "conversation_id": conv,
                              "inbox_id": inbox, "team_id": teams[users.index(agent) % TEAMS],
                              "agent_id": agent, "card": {}, "base": 100.0, "score": score,
                              "fatal": fatal, "hit_count": k, "message_count": 6,
                              "rules_version": "bench", "status": "auto",
                              "conversation_at": at, "inspected_at": at + timedelta(hours=1)})
                for key, name, kind in rnd.choices(rules, weights=weights, k=k):
                    a = rnd.randrange(0, 8)
                    hits.append({"id": new_id(), "workspace_id": ws, "inspection_id": ins,
                                 "conversation_id": conv, "message_id": msg,
                                 "message_index": 0, "rule_key": key, "rule_name": name,
                                 "kind": kind, "span_start": a, "span_end": a + 2,
                                 "deduction": 5.0, "fatal": False, "group": "合规",
                                 "review": "overruled" if rnd.random() < 0.05 else "open",
                                 "review_comment": ""})
            c.execute(insert(Conversation), convs)
            c.execute(insert(Message), msgs)
            c.execute(insert(QaInspection), insps)
            if hits:
                c.execute(insert(QaHit), hits)
            total_hits += len(hits)
    print(f"  seeded {n:,} inspections, {total_hits:,} hits in {time.perf_counter() - t0:.1f} s")
    return (Actor(user_id=users[0], workspace_id=ws, role="admin"),
            Actor(user_id=users[1], workspace_id=ws, role="agent"))


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    runs.sort()
    p99 = runs[min(len(runs) - 1, round(0.99 * (len(runs) - 1)))]
    return statistics.median(runs), p99


def measure(engine: Engine, admin: Actor, agent: Actor, repeat: int) -> dict[str, tuple[float,
                                                                                      float]]:
    since, until = NOW - timedelta(days=30), NOW
    out: dict[str, tuple[float, float]] = {}
    with Session(engine) as s:
        cases: dict[str, Callable[[], Any]] = {
            "summary by agent": lambda: q.report(s, admin, since=since, until=until),
            "summary by team": lambda: q.report(s, admin, since=since, until=until,
                                                group_by="team"),
            "rules": lambda: q.hits_by_rule(s, admin, since=since, until=until),
            "trend by day": lambda: q.trend(s, admin, since=since, until=until),
            "trend by week, 1 year": lambda: q.trend(s, admin, since=NOW - timedelta(days=366),
                                                     until=until, bucket="week"),
            "drill-down page 1": lambda: q.drill_down(s, admin, since=since, until=until),
            "drill-down by rule": lambda: q.drill_down(s, admin, since=since, until=until,
                                                       rule_key="rule_03"),
            "agent's own summary": lambda: q.report(s, agent, since=since, until=until),
        }
        for name, fn in cases.items():
            out[name] = timed(fn, repeat)
            print(f"  {name}: p50 {out[name][0]:.1f} ms", flush=True)
    return out


def report(title: str, before: dict[str, tuple[float, float]],
           after: dict[str, tuple[float, float]]) -> None:
    print(f"\n{title} (last 30 days, ms)")
    print(f"  {'query':<24}{'p50':>9}{'p99':>9}   {'+ conv_at index p50':>20}{'p99':>9}")
    for name, (p50, p99) in before.items():
        a50, a99 = after[name]
        print(f"  {name:<24}{p50:>9.1f}{p99:>9.1f}   {a50:>20.1f}{a99:>9.1f}")


def run(engine: Engine, title: str, n: int, repeat: int, seed_value: int) -> None:
    print(f"\n== {title}")
    metadata.create_all(engine)
    admin, agent = seed(engine, n, random.Random(seed_value))
    with engine.begin() as c:
        c.execute(text("ANALYZE"))
    before = measure(engine, admin, agent, repeat)
    with engine.begin() as c:
        c.execute(text(f"CREATE INDEX {INDEX} ON qa_inspections "
                       "(workspace_id, conversation_at)"))
        c.execute(text("ANALYZE"))
    after = measure(engine, admin, agent, repeat)
    report(title, before, after)


@contextmanager
def pg_engine() -> Iterator[Engine | None]:
    try:
        engine = create_engine(PG_URL, pool_pre_ping=True)
        with engine.begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            c.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    except Exception as exc:  # any failure means "not reachable"
        print(f"\nPostgreSQL not reachable ({type(exc).__name__}); skipped")
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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inspections", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args(argv)
    # a SIGTERM unwinds like Ctrl-C, so the PostgreSQL schema is dropped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="kefu-qa-reports-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            run(engine, "SQLite", args.inspections, args.repeat, 5)
        finally:
            engine.dispose()
    if not args.no_pg:
        with pg_engine() as pg:
            if pg is not None:
                run(pg, "PostgreSQL", args.inspections, args.repeat, 5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
