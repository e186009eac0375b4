"""UTC datetime columns: naive values are refused, values come back aware and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from kefu.accounts.models import Workspace
from kefu.core.db import UTCDateTime
from kefu.core.ids import new_id

SHANGHAI = timezone(timedelta(hours=8))


def test_naive_datetime_is_refused(uows):
    def write_naive() -> None:
        with uows() as uow:
            uow.session.add(Workspace(id=new_id(), name="n", slug="naive-ws",
                                      created_at=datetime(2026, 11, 11, 10, 0)))  # noqa: DTZ001
            uow.session.flush()

    with pytest.raises(StatementError) as info:
        write_naive()
    assert isinstance(info.value.orig, ValueError)
    assert "naive" in str(info.value.orig)
    with uows(readonly=True) as uow:
        assert uow.session.scalar(select(Workspace).where(Workspace.slug == "naive-ws")) is None


def test_aware_datetime_comes_back_as_utc(uows):
    local = datetime(2026, 11, 11, 10, 30, 15, 123000, tzinfo=SHANGHAI)
    with uows() as uow:
        ws = Workspace(id=new_id(), name="tz", slug="tz-ws", created_at=local)
        uow.session.add(ws)
        ws_id = ws.id
    with uows(readonly=True) as uow:
        loaded = uow.session.scalars(
            select(Workspace).where(Workspace.id == ws_id)
            .execution_options(populate_existing=True)).one()
        got = loaded.created_at
    assert got.tzinfo is not None
    assert got.utcoffset() == timedelta(0)
    assert got == local
    assert (got.hour, got.minute, got.second) == (2, 30, 15)


def test_filtering_by_aware_datetime_compares_instants(uows):
    t = datetime(2026, 1, 1, 12, 0, tzinfo=SHANGHAI)  # 04:00 UTC
    with uows() as uow:
        uow.session.add(Workspace(id=new_id(), name="f", slug="filter-ws", created_at=t))
    with uows(readonly=True) as uow:
        before = t.astimezone(UTC) - timedelta(seconds=1)
        after = t + timedelta(seconds=1)
        q = select(Workspace.slug).where(Workspace.slug == "filter-ws")
        assert uow.session.scalar(q.where(Workspace.created_at > before)) == "filter-ws"
        assert uow.session.scalar(q.where(Workspace.created_at > after)) is None


def test_type_decorator_directly():
    col = UTCDateTime()

    class _Dialect:
        name = "sqlite"

    assert col.process_bind_param(None, _Dialect()) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        col.process_bind_param(datetime(2026, 1, 1), _Dialect())  # type: ignore[arg-type]  # noqa: DTZ001
    stored = col.process_bind_param(datetime(2026, 1, 1, 8, tzinfo=SHANGHAI), _Dialect())  # type: ignore[arg-type]
    assert stored == datetime(2026, 1, 1, 0, 0)  # noqa: DTZ001 - SQLite stores naive UTC
    back = col.process_result_value(stored, _Dialect())  # type: ignore[arg-type]
    assert back is not None
    assert back.tzinfo is not None
    assert back == datetime(2026, 1, 1, 8, tzinfo=SHANGHAI)


@pytest.mark.parametrize("url", ["postgresql://u:p@127.0.0.1:1/db", "postgres://u:p@127.0.0.1:1/db",
                                 "postgresql+psycopg://u:p@127.0.0.1:1/db"])
def test_postgres_urls_use_psycopg3(url):
    from kefu.core.db import make_engine

    engine = make_engine(url)  # nothing connects yet
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    finally:
        engine.dispose()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path):
    from sqlalchemy import text

    from kefu.core.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()
