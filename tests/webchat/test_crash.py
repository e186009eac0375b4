"""A crash between a visitor's send and the ack: after restart, the resend leaves exactly one
copy of the message (kefu in a child process, killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.live import ServerProcess, free_port


def copies(db: Path, cid: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM messages WHERE client_msg_id = ?",
                               (cid,)).fetchone()[0])
    finally:
        con.close()


def bot_turns(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute(
            "SELECT count(*) FROM bot_turns t JOIN messages m ON m.id = t.message_id "
            "WHERE m.client_msg_id IN ('crash-1', 'crash-2')").fetchone()[0])
    finally:
        con.close()


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def ack_for(ws, cid: str) -> dict:
    while True:
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == "ack" and frame["client_msg_id"] == cid:
            return frame


def test_kill_between_send_and_ack_then_resend(tmp_path):
    port = free_port()
    server = ServerProcess(tmp_path, port)
    # no job runner before the crashes: the bot's reply to crash-1 can only come from the job
    # row committed together with the message (ADR 0010), run after the restart
    server.env["KEFU_EMBEDDED_WORKER"] = "false"
    server.start()
    db = tmp_path / "kefu.db"
    try:
        config = httpx.get(f"{server.base}/api/v1/webchat/_/config")
        assert config.status_code == 404
        inbox = _demo_inbox(db)
        s = httpx.post(f"{server.base}/api/v1/webchat/{inbox}/sessions", json={}).json()
        url = f"ws://127.0.0.1:{port}/ws/webchat?token={s['token']}&inbox={inbox}"

        # Case 1: the server stored the message, then died before the client read the ack.
        with connect(url) as ws:
            ws.send(json.dumps({"type": "message", "client_msg_id": "crash-1",
                                "content": "发货了吗"}))
            wait_for(lambda: copies(db, "crash-1") == 1)
            server.kill()

        # Case 2: the server was frozen when the message was sent, then died: never stored.
        server.start()
        with connect(url, close_timeout=0.1) as ws:
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGSTOP)
            ws.send(json.dumps({"type": "message", "client_msg_id": "crash-2",
                                "content": "在吗"}))
            time.sleep(0.2)
            server.kill()
        assert copies(db, "crash-2") == 0
        assert bot_turns(db) == 0  # no runner yet: crash-1's reply is a queued job

        # Restart with the runner; the client reconnects and resends both (same client_msg_id).
        server.env.pop("KEFU_EMBEDDED_WORKER")
        server.start()
        with connect(url) as ws:
            ws.send(json.dumps({"type": "message", "client_msg_id": "crash-1",
                                "content": "发货了吗"}))
            first = ack_for(ws, "crash-1")
            ws.send(json.dumps({"type": "message", "client_msg_id": "crash-2",
                                "content": "在吗"}))
            second = ack_for(ws, "crash-2")
        assert first["duplicate"] is True
        assert second["duplicate"] is False
        # the demo inbox has the bot on: its reply to crash-1 may sit between the two
        assert second["seq"] > first["seq"]
        assert copies(db, "crash-1") == 1
        assert copies(db, "crash-2") == 1
        # the bot's job was enqueued with crash-1 in one transaction, so the kill lost
        # nothing: after the restart each customer message got exactly one bot turn
        wait_for(lambda: bot_turns(db) == 2, timeout=20)
        time.sleep(0.3)
        assert bot_turns(db) == 2
    finally:
        server.kill()


def _demo_inbox(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(con.execute("SELECT id FROM inboxes ORDER BY created_at LIMIT 1").fetchone()[0])
    finally:
        con.close()
