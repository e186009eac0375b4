"""Shared fixtures: a migrated test database (SQLite, or PostgreSQL when
``KEFU_TEST_DATABASE_URL`` is set), units of work in a rolled-back transaction, an app
client, and named personas created through real actions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import sessionmaker

from kefu.accounts import actions as account_actions
from kefu.accounts.actor import Actor
from kefu.accounts.queries import actor_for
from kefu.accounts.schemas import UserCreate
from kefu.app import Services, build_services, create_app
from kefu.config import Settings
from kefu.core.clock import FixedClock
from kefu.core.db import make_engine
from kefu.core.uow import UowFactory
from kefu.inbox import actions as inbox_actions
from kefu.inbox.schemas import InboxCreate, WebchatSettings
from kefu.migrations.runner import upgrade
from kefu.models import metadata

PASSWORD = "correct-horse-battery"
T0 = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai on 双11


def choose_database_url(tmp_dir: Path) -> str:
    return os.environ.get("KEFU_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"


def reset_database(engine: Engine) -> None:
    """Drop everything and migrate from zero (so migrations are what tests run on)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)


def truncate_all(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - table names are ours


@pytest.fixture(scope="session")
def tmp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kefu")


@pytest.fixture(scope="session")
def db_url(tmp_dir: Path) -> str:
    return choose_database_url(tmp_dir)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    reset_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(env="test", data_dir=tmp_path, database_url=db_url,
                    secret_key="test-secret-key-0123456789-abcdefghijkl", embedded_worker=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection whose outer transaction is rolled back after the test."""
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def svc(settings: Settings, engine: Engine, connection: Connection,
        clock: FixedClock) -> Services:
    """Services whose units of work join the test's rolled-back transaction; jobs inline."""
    services = build_services(settings, clock=clock, inline_jobs=True, engine=engine)
    services.sessions = sessionmaker(bind=connection, expire_on_commit=False,
                                     join_transaction_mode="create_savepoint")
    services.uows = UowFactory(services.sessions, bus=services.bus, clock=clock,
                               jobs=services.jobs)
    services.runner.uows = services.uows
    services.kb.uows = services.uows
    from kefu.qa import live

    live.inspector(services.bus).uows = services.uows  # the real-time QA listener too
    return services


@pytest.fixture
def uows(svc: Services) -> UowFactory:
    return svc.uows


@pytest.fixture
def app_client(svc: Services) -> Iterator[TestClient]:
    app = create_app(svc.settings, services=svc)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


@dataclass
class World:
    """Two workspaces with named people and a web chat inbox each."""

    ws_a: str
    ws_b: str
    admin_wang: Actor
    supervisor_zhao: Actor
    agent_li: Actor
    agent_chen: Actor
    inspector_sun: Actor
    admin_b: Actor
    agent_b: Actor
    inbox_a: str
    inbox_b: str
    secret_a: str


def _user(uows: UowFactory, ws: str, email: str, name: str, role: str) -> Actor:
    with uows() as uow:
        user = account_actions.do_create_user(
            uow, workspace_id=ws,
            data=UserCreate(email=email, name=name, role=role, password=PASSWORD))  # type: ignore[arg-type]
        return actor_for(user)


@pytest.fixture
def world(uows: UowFactory) -> World:
    with uows() as uow:
        a = account_actions.do_create_workspace(uow, name="鲜果优选", slug="shop-a").id
        b = account_actions.do_create_workspace(uow, name="Other Brand", slug="shop-b").id
    admin_wang = _user(uows, a, "wang@a.example.com", "王店长", "admin")
    people = {
        "supervisor_zhao": _user(uows, a, "zhao@a.example.com", "赵主管", "supervisor"),
        "agent_li": _user(uows, a, "li@a.example.com", "李晓月", "agent"),
        "agent_chen": _user(uows, a, "chen@a.example.com", "陈子豪", "agent"),
        "inspector_sun": _user(uows, a, "sun@a.example.com", "孙质检", "inspector"),
    }
    admin_b = _user(uows, b, "admin@b.example.com", "Admin B", "admin")
    agent_b = _user(uows, b, "agent@b.example.com", "Agent B", "agent")
    with uows() as uow:
        inbox_a = inbox_actions.do_create_inbox(
            uow, admin_wang, workspace_id=a,
            data=InboxCreate(name="官网客服", settings=WebchatSettings()))
        inbox_b = inbox_actions.do_create_inbox(
            uow, admin_b, workspace_id=b, data=InboxCreate(name="B web"))
        ids = (inbox_a.id, inbox_b.id, inbox_a.secret)
    return World(ws_a=a, ws_b=b, admin_wang=admin_wang, admin_b=admin_b, agent_b=agent_b,
                 inbox_a=ids[0], inbox_b=ids[1], secret_a=ids[2], **people)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log a TestClient in with a session cookie; returns the CSRF token for writes."""
    r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    csrf: str = r.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf


def customer_says(uows: UowFactory, inbox_id: str, text: str, *,
                  visitor: str = "visitor_zhao") -> tuple[str, str]:
    """A web chat customer writes to an inbox through the real inbound action.

    Returns ``(conversation_id, contact_id)``."""
    from kefu.contacts import actions as contact_actions
    from kefu.inbox.models import Inbox

    with uows() as uow:
        inbox = uow.session.get(Inbox, inbox_id)
        assert inbox is not None
        contact = contact_actions.do_resolve_contact(
            uow, workspace_id=inbox.workspace_id, kind="webchat_visitor",
            external_id=visitor, name=visitor)
        posted = inbox_actions.do_receive_inbound(uow, inbox=inbox, contact=contact,
                                                  content=text)
        return posted.conversation.id, contact.id


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[object]:
    """Argon2id with test-sized parameters (~1 ms instead of ~170 ms a hash); yields the
    production hasher so a test can check its parameters. Verification reads the
    parameters from each hash, so hashes made either way verify."""
    from argon2 import PasswordHasher

    from kefu.core import security

    production = security._hasher
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                       parallelism=1))
        yield production


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 collecting what kefu sends."""

    host: str
    port: int
    messages: list[EmailMessage]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp_sink(settings: Settings) -> Iterator[SmtpSink]:
    """Start an SMTP server and point ``settings`` (so the ``send_email`` job) at it."""
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received: list[EmailMessage] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object,  # noqa: N802
                              envelope: object) -> str:
            raw = envelope.content  # type: ignore[attr-defined]
            msg = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(),
                                           policy=email.policy.default)
            received.append(msg)  # type: ignore[arg-type]
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.smtp_host, settings.smtp_port = "127.0.0.1", port
    try:
        yield SmtpSink("127.0.0.1", port, received)
    finally:
        controller.stop()
