"""WebSocket benchmark: visitor → agent delivery latency of one kefu process on SQLite.

Starts ``kefu run`` on a fresh data directory and a free port on 127.0.0.1, logs in the demo
agents, opens agent sockets (``/ws/agent``) and N visitor sockets (``/ws/webchat``), and has
every visitor send messages at a fixed rate (default 200 visitors x 1 msg/s for 30 s,
staggered). For each message it records

* ack latency: visitor send -> ``ack`` frame on the visitor's socket;
* delivery latency: visitor send -> ``message.created`` on the (first) agent socket;

then checks the database for lost and duplicated messages. ``--burst`` instead has every
visitor send as fast as its acks come back (one message in flight per socket) and reports
the maximum stored messages per second.

Target (steady mode): delivery p99 < 50 ms, zero lost, zero duplicated.

The load generator is one asyncio process on the same machine as the server, so both
compete for the same cores; client event-loop lag is measured and reported alongside.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
KEFU = ROOT / ".venv" / "bin" / "kefu"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
AGENT_LOGINS = ["li@shop.demo", "chen@shop.demo", "supervisor@shop.demo", "admin@shop.demo"]
DEMO_PASSWORD = "kefu-demo-2026"  # noqa: S105 - the public demo password printed by `kefu run`
TARGET_P99_MS = 50.0
BUSY_OTHER_CORES = 0.25  # warn when other processes used more CPU than this during the run
CONTENT = "你好，请问这个车厘子今天能发货吗？Is it shipped today?"

console = Console()


def now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------------------------
# Machine and server process
# --------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_generator": "same machine, one asyncio process (shares the cores with the server)",
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine (all cores), from /proc/stat."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    values += [0] * (8 - len(values))
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """``kefu run`` exited or never became ready."""


class Server:
    """``kefu run`` in its own process group; always stopped by :meth:`stop`."""

    def __init__(self, command: list[str], keep: bool = False) -> None:
        self.command = command
        self.data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.keep = keep
        self._log: Any = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "kefu.db"

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        env.update(KEFU_DATA_DIR=str(self.data_dir), KEFU_PORT=str(self.port), KEFU_HOST=HOST,
                   KEFU_ENV="development", COLUMNS="200", NO_COLOR="1")
        self._log = self.log_path.open("wb")
        # cwd = the temp dir so that a developer's .env in the checkout is not read
        self.proc = subprocess.Popen(self.command, cwd=self.data_dir, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = now() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while now() < deadline:
                if self.proc.poll() is not None:
                    raise ServerError(f"kefu run exited with {self.proc.returncode}:\n"
                                       + self.log_tail())
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base}/readyz").status_code == 200:
                        return
                time.sleep(0.2)
        raise ServerError("kefu run did not become ready in time:\n" + self.log_tail())

    def inbox_id_from_log(self) -> str | None:
        text = self.log_path.read_text(errors="replace")
        m = re.search(r"Widget inbox id\s*:\s*(\S+)", text)
        return m.group(1) if m else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Measurement records
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rec:
    sent: float
    acked: float | None = None
    ack_count: int = 0
    ack_duplicate_flag: bool = False
    error: str | None = None
    delivered: list[float | None] = field(default_factory=list)
    delivered_count: list[int] = field(default_factory=list)


@dataclass
class Run:
    agents: int
    records: dict[str, Rec] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    disconnects: int = 0
    unknown_frames: int = 0
    loop_lag: list[float] = field(default_factory=list)
    outstanding: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    sending: bool = True

    def new(self, cid: str) -> Rec:
        rec = Rec(sent=now(), delivered=[None] * self.agents,
                  delivered_count=[0] * self.agents)
        self.records[cid] = rec
        self.outstanding += 1
        return rec

    def check_done(self, rec: Rec) -> None:
        if rec.acked is not None and all(d is not None for d in rec.delivered):
            self.outstanding -= 1
            if self.outstanding == 0 and not self.sending:
                self.all_done.set()


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def summary_ms(values: list[float]) -> dict[str, float | None]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": pct(ms, 50), "p90": pct(ms, 90), "p99": pct(ms, 99),
            "max": max(ms) if ms else None,
            "mean": sum(ms) / len(ms) if ms else None}


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


async def ws_connect(url: str, compression: bool = True) -> ClientConnection:
    # proxy=None: never route through an environment proxy; talk to 127.0.0.1 only.
    # Compression defaults to permessage-deflate, as browsers negotiate it.
    return await connect(url, proxy=None, open_timeout=30, max_size=4 * 1024 * 1024,
                         max_queue=None, close_timeout=2,
                         compression="deflate" if compression else None)


def agent_tokens(base: str, n: int) -> list[str]:
    """Log in up to four demo users and create one API token each (reused round-robin)."""
    tokens: list[str] = []
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        for email in AGENT_LOGINS[:max(1, min(n, len(AGENT_LOGINS)))]:
            client.cookies.clear()
            r = client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
            r.raise_for_status()
            csrf = r.json()["csrf_token"]
            r = client.post("/api/v1/tokens", json={"name": "ws-latency bench"},
                            headers={"X-CSRF-Token": csrf})
            r.raise_for_status()
            tokens.append(r.json()["token"])
    return tokens


def find_inbox(base: str, token: str) -> str:
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        r = client.get("/api/v1/inboxes", headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        return str(r.json()[0]["id"])


async def visitor_tokens(base: str, inbox: str, n: int) -> list[str]:
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=60) as client:
        async def one() -> str:
            async with sem:
                r = await client.post(f"/api/v1/webchat/{inbox}/sessions", json={})
                r.raise_for_status()
                return str(r.json()["token"])
        return await asyncio.gather(*(one() for _ in range(n)))


async def agent_reader(ws: ClientConnection, idx: int, run: Run) -> None:
    try:
        async for raw in ws:
            t = now()
            data = json.loads(raw)
            if data.get("type") != "message.created":
                continue
            cid = (data.get("message") or {}).get("client_msg_id")
            rec = run.records.get(cid) if cid else None
            if rec is None:
                continue
            rec.delivered_count[idx] += 1
            if rec.delivered[idx] is None:
                rec.delivered[idx] = t
                run.check_done(rec)
    except ConnectionClosed:
        if run.sending:
            run.disconnects += 1


async def visitor_reader(ws: ClientConnection, run: Run,
                         acks: asyncio.Queue[str] | None) -> None:
    try:
        async for raw in ws:
            t = now()
            data = json.loads(raw)
            kind = data.get("type")
            if kind == "ack":
                cid = data.get("client_msg_id")
                rec = run.records.get(cid) if cid else None
                if rec is None:
                    run.unknown_frames += 1
                    continue
                rec.ack_count += 1
                rec.ack_duplicate_flag |= bool(data.get("duplicate"))
                if rec.acked is None:
                    rec.acked = t
                    run.check_done(rec)
                if acks is not None:
                    acks.put_nowait(cid)
            elif kind == "error":
                code = str(data.get("code"))
                run.errors[code] = run.errors.get(code, 0) + 1
                ref = data.get("ref")
                if ref in run.records:
                    run.records[ref].error = code
                    if acks is not None:
                        acks.put_nowait(ref)
    except ConnectionClosed:
        if run.sending:
            run.disconnects += 1


def frame(cid: str) -> str:
    return json.dumps({"type": "message", "client_msg_id": cid, "content": CONTENT},
                      ensure_ascii=False)


async def steady_sender(ws: ClientConnection, run: Run, tag: str, *, t_start: float,
                        period: float, t_end: float) -> None:
    k = 0
    while True:
        due = t_start + k * period
        if due >= t_end:
            return
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        cid = f"{tag}-{k}"
        run.new(cid)
        try:
            await ws.send(frame(cid))
        except ConnectionClosed:
            return
        k += 1


async def burst_sender(ws: ClientConnection, run: Run, tag: str, *, t_start: float,
                       t_end: float, acks: asyncio.Queue[str]) -> None:
    delay = t_start - now()
    if delay > 0:
        await asyncio.sleep(delay)
    k = 0
    while now() < t_end:
        cid = f"{tag}-{k}"
        run.new(cid)
        try:
            await ws.send(frame(cid))
            while (await asyncio.wait_for(acks.get(), timeout=5.0)) != cid:
                pass
        except (ConnectionClosed, TimeoutError):
            return
        k += 1


async def loop_lag_monitor(run: Run, interval: float = 0.01) -> None:
    while True:
        t = now()
        await asyncio.sleep(interval)
        run.loop_lag.append(now() - t - interval)


async def wait_hello(ws: ClientConnection) -> None:
    raw = await asyncio.wait_for(ws.recv(), timeout=30)
    data = json.loads(raw)
    if data.get("type") != "hello":
        raise RuntimeError(f"expected hello, got {data!r}")


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def db_check(db: Path, prefix: str) -> dict[str, Any]:
    """Stored rows of this run and client_msg_ids stored more than once (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        like = prefix + "%"
        stored = conn.execute("SELECT count(*) FROM messages WHERE client_msg_id LIKE ?",
                              (like,)).fetchone()[0]
        distinct = conn.execute(
            "SELECT count(DISTINCT client_msg_id) FROM messages WHERE client_msg_id LIKE ?",
            (like,)).fetchone()[0]
        dups = conn.execute(
            "SELECT client_msg_id, count(*) FROM messages WHERE client_msg_id LIKE ? "
            "GROUP BY 1 HAVING count(*) > 1", (like,)).fetchall()
        ids = {r[0] for r in conn.execute(
            "SELECT client_msg_id FROM messages WHERE client_msg_id LIKE ?", (like,))}
    finally:
        conn.close()
    return {"stored_rows": stored, "distinct": distinct, "duplicated_ids": len(dups),
            "duplicate_examples": dups[:5], "ids": ids}


async def run_load(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    base = server.base
    console.print(f"[dim]server {base} (pid {server.proc.pid if server.proc else '?'}), "
                  f"data dir {server.data_dir}[/dim]")
    tokens = await asyncio.to_thread(agent_tokens, base, args.agents)
    inbox = server.inbox_id_from_log()
    if inbox is None:
        inbox = await asyncio.to_thread(find_inbox, base, tokens[0])
    run = Run(agents=args.agents)

    agent_socks: list[ClientConnection] = []
    for i in range(args.agents):
        ws = await ws_connect(ws_url(base, f"/ws/agent?token={tokens[i % len(tokens)]}"),
                              args.compression)
        await wait_hello(ws)
        agent_socks.append(ws)
    readers = [asyncio.create_task(agent_reader(ws, i, run)) for i, ws in enumerate(agent_socks)]

    t0 = now()
    vtokens = await visitor_tokens(base, inbox, args.visitors)
    sem = asyncio.Semaphore(32)

    async def open_visitor(tok: str) -> ClientConnection:
        async with sem:
            ws = await ws_connect(ws_url(base, f"/ws/webchat?token={tok}&inbox={inbox}"),
                                  args.compression)
            await wait_hello(ws)
            return ws

    visitors = await asyncio.gather(*(open_visitor(t) for t in vtokens))
    setup_s = now() - t0
    console.print(f"[dim]{args.agents} agent + {len(visitors)} visitor sockets open "
                  f"({setup_s:.1f} s to create visitors and connect)[/dim]")

    ack_queues: list[asyncio.Queue[str] | None] = [
        asyncio.Queue() if args.burst else None for _ in visitors]
    readers += [asyncio.create_task(visitor_reader(ws, run, q))
                for ws, q in zip(visitors, ack_queues, strict=True)]
    lag_task = asyncio.create_task(loop_lag_monitor(run))

    pid = server.proc.pid if server.proc else 0
    cpu0 = (proc_cpu_seconds(pid), time.process_time(), *machine_cpu_seconds())
    run_tag = f"b{int(time.time())}"
    duration = args.burst_duration if args.burst else args.duration
    t_start = now() + 0.5
    t_end = t_start + duration
    period = 1.0 / args.rate
    if args.burst:
        senders = [burst_sender(ws, run, f"{run_tag}-{i}", t_start=t_start, t_end=t_end, acks=q)
                   for i, (ws, q) in enumerate(zip(visitors, ack_queues, strict=True)) if q]
    else:
        senders = [steady_sender(ws, run, f"{run_tag}-{i}",
                                 t_start=t_start + i * period / len(visitors),
                                 period=period, t_end=t_end) for i, ws in enumerate(visitors)]
    mode = "burst" if args.burst else "steady"
    console.print(f"[dim]{mode}: sending for {duration:g} s ...[/dim]")
    await asyncio.gather(*senders)
    t_last_send = now()
    run.sending = False
    if run.outstanding == 0:
        run.all_done.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run.all_done.wait(), timeout=args.grace)
    t_drained = now()
    cpu_server = proc_cpu_seconds(pid) - cpu0[0]
    cpu_client = time.process_time() - cpu0[1]
    busy, steal = machine_cpu_seconds()
    cpu_machine, cpu_steal = busy - cpu0[2], steal - cpu0[3]
    lag_task.cancel()

    for ws in [*visitors, *agent_socks]:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), timeout=2)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, lag_task, return_exceptions=True)

    # Let the server commit anything still in flight before counting rows.
    await asyncio.sleep(0.5)
    db = await asyncio.to_thread(db_check, server.db_path, run_tag + "-")
    if args.raw is not None:
        write_raw(args.raw, run, t_start)
    return analyse(run, db, args, mode=mode, duration=duration,
                   send_window=t_last_send - t_start, drain_s=t_drained - t_last_send,
                   cpu=(cpu_server, cpu_client, cpu_machine, cpu_steal), setup_s=setup_s)


def write_raw(path: Path, run: Run, t_start: float) -> None:
    """One CSV line per message: send time (s from start), ack and delivery latency (ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write("client_msg_id,sent_s,ack_ms,delivery_ms\n")
        for cid, r in run.records.items():
            ack = f"{(r.acked - r.sent) * 1000:.3f}" if r.acked is not None else ""
            d0 = r.delivered[0]
            dl = f"{(d0 - r.sent) * 1000:.3f}" if d0 is not None else ""
            f.write(f"{cid},{r.sent - t_start:.4f},{ack},{dl}\n")


def analyse(run: Run, db: dict[str, Any], args: argparse.Namespace, *, mode: str,
            duration: float, send_window: float, drain_s: float,
            cpu: tuple[float, float, float, float], setup_s: float) -> dict[str, Any]:
    recs = run.records
    sent = len(recs)
    acked = sum(1 for r in recs.values() if r.acked is not None)
    delivered = sum(1 for r in recs.values() if r.delivered[0] is not None)
    delivered_all = sum(1 for r in recs.values() if all(d is not None for d in r.delivered))
    lost_ids = [cid for cid, r in recs.items()
                if r.acked is None or any(d is None for d in r.delivered)]
    not_stored = sum(1 for cid in recs if cid not in db["ids"])
    dup_delivery = sum(1 for r in recs.values() if any(c > 1 for c in r.delivered_count))
    dup_ack = sum(1 for r in recs.values() if r.ack_count > 1 or r.ack_duplicate_flag)
    duplicated = dup_delivery + dup_ack + db["duplicated_ids"]
    ack_lat = [r.acked - r.sent for r in recs.values() if r.acked is not None]
    del_lat = [r.delivered[0] - r.sent for r in recs.values() if r.delivered[0] is not None]
    window = send_window if mode == "burst" else duration
    stored_per_s = db["stored_rows"] / window if window > 0 else 0.0
    delivery = summary_ms(del_lat)
    p99 = delivery["p99"]
    checks = {
        "lost == 0": not lost_ids and not not_stored,
        "duplicated == 0": duplicated == 0,
    }
    if mode == "steady":
        checks[f"delivery p99 < {TARGET_P99_MS:g} ms"] = p99 is not None and p99 < TARGET_P99_MS
    wall = send_window + drain_s
    return {
        "mode": mode,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"visitors": args.visitors, "agents": args.agents,
                   "rate_per_visitor": args.rate if mode == "steady" else None,
                   "duration_s": duration, "grace_s": args.grace,
                   "compression": "permessage-deflate" if args.compression else "none",
                   "server_command": " ".join(args.server_cmd)},
        "machine": machine_info(),
        "setup_s": round(setup_s, 2),
        "counts": {
            "sent": sent, "acked": acked, "delivered_to_agent": delivered,
            "delivered_to_all_agents": delivered_all, "lost": len(lost_ids),
            "not_stored": not_stored, "stored_rows": db["stored_rows"],
            "duplicated": duplicated, "duplicated_deliveries": dup_delivery,
            "duplicated_acks": dup_ack, "duplicated_rows": db["duplicated_ids"],
            "error_frames": run.errors, "unexpected_disconnects": run.disconnects,
            "unknown_acks": run.unknown_frames,
        },
        "offered_msgs_per_s": round(sent / window, 1) if window > 0 else None,
        "stored_msgs_per_s": round(stored_per_s, 1),
        "ack_ms": ack_ms_round(summary_ms(ack_lat)),
        "delivery_ms": ack_ms_round(delivery),
        "client_loop_lag_ms": ack_ms_round(summary_ms(run.loop_lag)),
        "cpu_cores": {k: round(v / wall, 2) if wall > 0 else None for k, v in (
            ("server", cpu[0]), ("client", cpu[1]),
            ("other_processes", max(0.0, cpu[2] - cpu[0] - cpu[1])), ("steal", cpu[3]))},
        "drain_s": round(drain_s, 2),
        "lost_examples": lost_ids[:5],
        "target": {"delivery_p99_ms": TARGET_P99_MS, "lost": 0, "duplicated": 0},
        "machine_busy_warning": cpu[2] - cpu[0] - cpu[1] + cpu[3] > BUSY_OTHER_CORES * wall,
        "checks": checks,
        "pass": all(checks.values()),
    }


def ack_ms_round(d: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in d.items()}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def show(res: dict[str, Any]) -> None:
    m = res["machine"]
    cfg = res["config"]
    console.rule(f"[bold]kefu ws_latency — {res['mode']}[/bold]")
    console.print(f"machine: {m['nproc']} cores, {m['cpu_model']}, Python {m['python']}; "
                  f"{m['load_generator']}")
    load = (f"{cfg['visitors']} visitors x {cfg['rate_per_visitor']:g} msg/s"
            if res["mode"] == "steady" else
            f"{cfg['visitors']} visitors, one message in flight each")
    console.print(f"load: {load} for {cfg['duration_s']:g} s, {cfg['agents']} agent sockets, "
                  f"SQLite, one kefu process")

    lat = Table(title="latency (ms)")
    for col in ("", "n", "p50", "p90", "p99", "max", "mean"):
        lat.add_column(col, justify="right")
    for name, key in (("visitor → agent delivery", "delivery_ms"), ("send → ack", "ack_ms"),
                      ("client loop lag", "client_loop_lag_ms")):
        d = res[key]
        lat.add_row(name, str(d["n"]), fmt(d["p50"]), fmt(d["p90"]), fmt(d["p99"]),
                    fmt(d["max"]), fmt(d["mean"]))
    console.print(lat)

    c = res["counts"]
    cnt = Table(title="messages")
    cnt.add_column("")
    cnt.add_column("value", justify="right")
    rows: list[tuple[str, object]] = [
        ("sent", c["sent"]), ("acked", c["acked"]),
        ("delivered to agent", c["delivered_to_agent"]),
        ("delivered to all agent sockets", c["delivered_to_all_agents"]),
        ("stored rows", c["stored_rows"]),
        (f"lost (no ack/delivery within {cfg['grace_s']:g} s)", c["lost"]),
        ("not stored", c["not_stored"]),
        ("duplicated (deliveries / acks / rows)",
         f"{c['duplicated']} ({c['duplicated_deliveries']} / {c['duplicated_acks']} / "
         f"{c['duplicated_rows']})"),
        ("error frames", json.dumps(c["error_frames"]) if c["error_frames"] else 0),
        ("unexpected disconnects", c["unexpected_disconnects"]),
        ("sent msg/s", res["offered_msgs_per_s"]),
        ("stored msg/s", res["stored_msgs_per_s"]),
        ("CPU cores: server/client/others/steal",
         "/".join(str(v) for v in res["cpu_cores"].values())),
    ]
    for name, value in rows:
        cnt.add_row(name, str(value))
    console.print(cnt)
    target = (f"target: delivery p99 < {TARGET_P99_MS:g} ms, zero lost, zero duplicated"
              if res["mode"] == "steady" else "target: zero lost, zero duplicated")
    console.print(target)
    if res["machine_busy_warning"]:
        c = res["cpu_cores"]
        console.print(f"[yellow]warning: other processes ({c['other_processes']} cores) and "
                      f"hypervisor steal ({c['steal']} cores) took CPU during the run; the "
                      "figures are not representative of an idle machine[/yellow]")
    for name, ok in res["checks"].items():
        console.print(f"  {'[green]PASS[/green]' if ok else '[red]FAIL[/red]'}  {name}")
    verdict = "[bold green]PASS[/bold green]" if res["pass"] else "[bold red]FAIL[/bold red]"
    console.print(f"result: {verdict}")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--visitors", type=int, default=200, help="visitor sockets (default 200)")
    p.add_argument("--rate", type=float, default=1.0,
                   help="messages per second per visitor, steady mode (default 1)")
    p.add_argument("--duration", type=float, default=30.0,
                   help="seconds of sending, steady mode (default 30)")
    p.add_argument("--agents", type=int, default=3,
                   help="agent sockets; latency is measured on the first (default 3)")
    p.add_argument("--burst", action="store_true",
                   help="max-throughput mode: one message in flight per visitor")
    p.add_argument("--burst-duration", type=float, default=10.0,
                   help="seconds of sending in --burst mode (default 10)")
    p.add_argument("--grace", type=float, default=5.0,
                   help="seconds to wait for acks/deliveries after the last send (default 5)")
    p.add_argument("--json", type=Path, default=None,
                   help="result file (default bench/results/ws_latency[_burst].json)")
    p.add_argument("--raw", type=Path, default=None,
                   help="also write one CSV line per message (send time, latencies)")
    p.add_argument("--no-compression", dest="compression", action="store_false",
                   help="do not offer permessage-deflate (browsers do; default: offer it)")
    p.add_argument("--server-cmd", type=shlex.split, default=[str(KEFU), "run"],
                   help="command that starts the server (A/B tests of a patched server); "
                        "it gets KEFU_DATA_DIR/KEFU_PORT/KEFU_HOST (default: .venv/bin/kefu run)")
    p.add_argument("--keep", action="store_true", help="keep the temp data dir and server log")
    args = p.parse_args(argv)
    if args.visitors < 1 or args.agents < 1 or args.rate <= 0:
        p.error("--visitors and --agents must be >= 1 and --rate > 0")
    return args


def run_async(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run the load generator on uvloop when available (less client overhead)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def deadline_s(args: argparse.Namespace) -> float:
    """A hard limit for the whole load phase, so that the benchmark always ends."""
    sending = float(args.burst_duration if args.burst else args.duration)
    return sending + float(args.grace) + 180.0


async def with_deadline(coro: Coroutine[Any, Any, dict[str, Any]],
                        seconds: float) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(coro, timeout=seconds)
    except TimeoutError:
        raise ServerError(f"the run did not finish within {seconds:.0f} s") from None


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt so that ``finally`` stops the server."""
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exe = Path(args.server_cmd[0])
    if "/" in args.server_cmd[0] and not exe.is_absolute():
        # the server runs with its temp dir as cwd: make a relative executable absolute
        args.server_cmd[0] = str(ROOT / exe)
    if not Path(args.server_cmd[0]).exists() and shutil.which(args.server_cmd[0]) is None:
        console.print(f"[red]{args.server_cmd[0]} not found: run `make install` first[/red]")
        return 2
    server = Server(args.server_cmd, keep=args.keep)
    res: dict[str, Any] | None = None
    with terminate_as_interrupt():
        try:
            server.start()
            res = run_async(with_deadline(run_load(server, args), deadline_s(args)))
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: stopping the server[/yellow]")
            return 130
        except ServerError as exc:
            console.print("[red]benchmark failed:[/red]")
            print(exc, file=sys.stderr)
            return 2
        except Exception:
            console.print("[red]benchmark failed[/red]; server log tail:")
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            server.stop()
    show(res)
    out = args.json or RESULTS / ("ws_latency_burst.json" if args.burst else "ws_latency.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n")
    console.print(f"[dim]written {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
                  f"[/dim]")
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
