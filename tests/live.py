"""Real servers for tests: kefu under uvicorn on a free 127.0.0.1 port, in a thread or in a
child process (for crash tests), on its own database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from kefu.app import Services, build_services, create_app
from kefu.config import Settings
from kefu.demo import load_demo
from kefu.migrations.runner import upgrade

SECRET = "live-test-secret-0123456789-abcdefghijklmnop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {base} not ready after {timeout}s")


def set_demo_bot(svc: Services, inbox_id: str, *, on: bool) -> None:
    """Switch the answering bot of a demo inbox on or off (as its admin would)."""
    from kefu.inbox.models import Inbox

    with svc.uows() as uow:
        inbox = uow.session.get(Inbox, inbox_id)
        assert inbox is not None
        inbox.settings = {**inbox.settings, "bot_enabled": on}


@dataclass
class Live:
    base: str
    ws: str
    inbox_id: str
    services: Services


@contextmanager
def live_server(data_dir: Path, database_url: str | None = None, *,
                bot: bool = False) -> Iterator[Live]:
    """kefu in a background thread; the demo workspace loaded (its bot off unless ``bot``:
    transport tests want to see only what they send)."""
    settings = Settings(env="test", data_dir=data_dir, database_url=database_url or "",
                        secret_key=SECRET, embedded_worker=True, port=free_port())
    svc = build_services(settings)
    upgrade(svc.engine)
    info = load_demo(svc.uows)
    set_demo_bot(svc, info.inbox_id, on=bot)
    app = create_app(settings, services=svc)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning",
                            ws="websockets-sansio", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{settings.port}"
    try:
        wait_ready(base)
        yield Live(base=base, ws=f"ws://127.0.0.1:{settings.port}", inbox_id=info.inbox_id,
                   services=svc)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        svc.engine.dispose()


class ServerProcess:
    """``kefu run`` in a child process, so a test can kill it like a crash would."""

    def __init__(self, data_dir: Path, port: int, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "KEFU_DATA_DIR": str(data_dir), "KEFU_PORT": str(port),
                    "KEFU_HOST": "127.0.0.1", "KEFU_SECRET_KEY": SECRET, "KEFU_ENV": "test"}
        if database_url:
            self.env["KEFU_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kefu", "run"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.base)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
