"""Browser tests: a real kefu server (uvicorn, HTTP + WebSocket) on 127.0.0.1 with its own
SQLite file and the demo workspace, driven by Playwright with the system Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kefu.app import Services, build_services, create_app
from kefu.config import Settings
from kefu.demo import DEMO_PASSWORD, load_demo
from kefu.migrations.runner import upgrade

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECRET = "e2e-secret-key-0123456789-abcdefghijklmnop"


@dataclass
class LiveServer:
    url: str
    inbox_id: str
    workspace_id: str
    services: Services
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def api(self, email: str = "admin@shop.demo") -> httpx.Client:
        """An HTTP client logged in as a demo user (cookie + CSRF header), kept for reuse."""
        client = self.clients.get(email)
        if client is None:
            client = httpx.Client(base_url=self.url, timeout=10)
            r = client.post("/api/v1/auth/login",
                            json={"email": email, "password": DEMO_PASSWORD})
            r.raise_for_status()
            client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            self.clients[email] = client
        return client

    def close_clients(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("kefu-e2e")
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = Settings(env="test", data_dir=data_dir, embedded_worker=True, secret_key=SECRET,
                        database_url=f"sqlite:///{data_dir / 'kefu.db'}", public_url=url,
                        host="127.0.0.1", port=port)
    svc = build_services(settings)
    upgrade(svc.engine)
    demo = load_demo(svc.uows)
    app = create_app(settings, services=svc)
    config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning", lifespan="on",
                            proxy_headers=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="kefu-e2e-server")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the e2e server did not start")
        time.sleep(0.02)
    live = LiveServer(url=url, inbox_id=demo.inbox_id, workspace_id=demo.workspace_id,
                      services=svc)
    try:
        yield live
    finally:
        live.close_clients()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        svc.engine.dispose()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """Make browser contexts (each one a separate visitor or agent); all closed afterwards."""
    contexts: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("viewport", {"width": 1280, "height": 860})
        kwargs.setdefault("locale", "zh-CN")
        ctx = browser.new_context(**kwargs)
        ctx.set_default_timeout(8000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()
