"""`kefu run` (what `make run` calls): migrates, loads the demo once, prints the URLs and the
demo logins, serves; a second start reuses the database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.live import free_port


def start(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str, float]:
    env = {**os.environ, "KEFU_DATA_DIR": str(data_dir), "KEFU_PORT": str(port),
           "KEFU_HOST": "127.0.0.1", "COLUMNS": "120"}
    env.pop("KEFU_DATABASE_URL", None)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kefu", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if "Uvicorn running" in line:  # the port is open (startup complete comes before)
            return proc, "".join(out), time.monotonic() - t0
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(out))


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_run_prints_urls_and_logins_and_restarts_on_same_db(tmp_path):
    port = free_port()
    proc, out, _ = start(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/app" in out
        assert f"{base}/demo/shop" in out
        assert f"{base}/app/tickets" in out
        support = httpx.get(f"{base}/support/xianguo")  # the printed self-service form
        assert f"{base}/support/xianguo" in out and support.status_code == 200
        assert "售后问题" in support.text  # a public ticket template of the demo
        for email in ("admin@shop.demo", "supervisor@shop.demo", "li@shop.demo",
                      "chen@shop.demo", "qa@shop.demo"):
            assert email in out
        assert "kefu-demo-2026" in out
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        r = httpx.post(f"{base}/api/v1/auth/login",
                       json={"email": "li@shop.demo", "password": "kefu-demo-2026"})
        assert r.status_code == 200
    finally:
        stop(proc)
    db = tmp_path / "kefu.db"
    assert db.exists()
    proc, out, seconds = start(tmp_path, port)
    try:
        assert seconds < 10
        con = sqlite3.connect(db)
        try:
            assert con.execute("SELECT count(*) FROM workspaces").fetchone()[0] == 1
            assert con.execute("SELECT count(*) FROM users").fetchone()[0] == 5
            assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 6
        finally:
            con.close()
    finally:
        stop(proc)
