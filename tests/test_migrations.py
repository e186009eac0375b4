"""Migrations: an empty database migrated to head has exactly the models' schema; downgrading
to base and upgrading again works.

Runs on its own database: a temporary SQLite file, or (with ``KEFU_TEST_DATABASE_URL`` set to
PostgreSQL) a private schema in that database, so the shared test schema is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from kefu.core.db import make_engine
from kefu.migrations.runner import alembic_config, current, downgrade, upgrade
from kefu.models import metadata

SCHEMA = "kefu_migration_check"


@pytest.fixture
def empty_engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    if db_url.startswith("postgresql"):
        url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        engine = create_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
        yield engine
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()


def _diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_single_head():
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migration branches need merging: {heads}"


def test_upgrade_from_empty_matches_the_models(empty_engine: Engine):
    assert _tables(empty_engine) == set()
    upgrade(empty_engine)
    assert current(empty_engine) == _head()
    assert _tables(empty_engine) == set(metadata.tables)
    diff = _diff(empty_engine)
    assert diff == [], f"models and migrations differ (autogenerate a revision):\n{diff}"


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine):
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert _tables(empty_engine) == set()
    assert current(empty_engine) is None
    upgrade(empty_engine)
    assert current(empty_engine) == _head()
    assert _diff(empty_engine) == []


def test_compare_detects_drift(empty_engine: Engine):
    """The drift check is not vacuous: a column the migrations lack is reported."""
    upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("ALTER TABLE contacts ADD COLUMN nickname VARCHAR(20)"))
    diff = _diff(empty_engine)
    assert any(d[0] == "remove_column" and d[3].name == "nickname" for d in diff), diff
