"""The ``kefu`` command line against a temporary SQLite database."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from kefu.cli.main import app
from kefu.core.security import verify_password

PASSWORD = "long-enough-password"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.upper().startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the project directory
    return {"KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "KEFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, input=input)


def out(result: Result) -> str:
    """Everything printed (stdout and stderr), with line wrapping undone."""
    text_ = result.output
    if result.stderr_bytes is not None and result.stderr not in text_:
        text_ += result.stderr
    return re.sub(r"\s+", " ", text_)


@pytest.fixture
def shop(env: dict[str, str]) -> dict[str, str]:
    r = run(env, "db", "upgrade")
    assert r.exit_code == 0, out(r)
    assert "database at revision" in out(r)
    r = run(env, "workspaces", "create", "--name", "鲜果优选", "--slug", "shop-a")
    assert r.exit_code == 0, out(r)
    assert "workspace shop-a created" in out(r)
    return env


def create_user(env: dict[str, str], email: str, *extra: str) -> Result:
    return run(env, "users", "create", "--workspace", "shop-a", "--email", email,
               "--name", "李晓月", "--password", PASSWORD, *extra)


def _users(env: dict[str, str]) -> list[tuple[str, str, str]]:
    engine = create_engine(env["KEFU_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                text("SELECT email, role, password_hash FROM users ORDER BY email"))]
    finally:
        engine.dispose()


def assert_clean_failure(r: Result, *needles: str) -> str:
    printed = out(r)
    assert r.exit_code == 1, printed
    assert "Traceback" not in printed
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    for needle in needles:
        assert needle in printed, f"{needle!r} not in {printed!r}"
    return printed


def test_db_current_after_upgrade(shop):
    r = run(shop, "db", "current")
    assert r.exit_code == 0
    from alembic.script import ScriptDirectory

    from kefu.migrations.runner import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head and re.search(rf"\b{head}\b", out(r))


def test_users_create(shop):
    r = create_user(shop, "Li@A.Example.com", "--role", "supervisor")
    assert r.exit_code == 0, out(r)
    assert "user li@a.example.com (supervisor) created in shop-a" in out(r)
    ((email, role, pw_hash),) = _users(shop)
    assert (email, role) == ("li@a.example.com", "supervisor")
    assert verify_password(pw_hash, PASSWORD)


def test_users_create_prompts_for_the_password(shop):
    r = run(shop, "users", "create", "--workspace", "shop-a", "--email", "chen@a.example.com",
            "--name", "陈子豪", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, out(r)
    assert PASSWORD not in out(r)
    assert verify_password(_users(shop)[0][2], PASSWORD)


def test_duplicate_email_is_a_readable_error(shop):
    assert create_user(shop, "li@a.example.com").exit_code == 0
    r = create_user(shop, "LI@a.example.com")
    assert_clean_failure(r, "error:", "Email already in use", "email_taken")
    assert len(_users(shop)) == 1


def test_bad_email_names_the_field(shop):
    r = create_user(shop, "not-an-email")
    printed = assert_clean_failure(r, "error:", "email")
    assert "valid email" in printed
    assert _users(shop) == []


def test_bad_role_and_short_password_name_their_fields(shop):
    r = create_user(shop, "li@a.example.com", "--role", "boss")
    assert_clean_failure(r, "role")
    r = run(shop, "users", "create", "--workspace", "shop-a", "--email", "li@a.example.com",
            "--name", "x", "--password", "short")
    assert_clean_failure(r, "password")
    assert _users(shop) == []


def test_unknown_workspace_is_a_readable_error(shop):
    r = run(shop, "users", "create", "--workspace", "no-such-shop", "--email",
            "li@a.example.com", "--name", "x", "--password", PASSWORD)
    assert_clean_failure(r, "no workspace with slug", "no-such-shop")
    assert _users(shop) == []


def test_messages_with_brackets_are_printed_verbatim(shop):
    """User-supplied text is not read as console markup (no crash, nothing swallowed)."""
    r = run(shop, "users", "create", "--workspace", "[/bold]x[red]", "--email",
            "li@a.example.com", "--name", "x", "--password", PASSWORD)
    assert_clean_failure(r, "[/bold]x[red]")


def test_workspace_errors(shop):
    r = run(shop, "workspaces", "create", "--name", "again", "--slug", "shop-a")
    assert_clean_failure(r, "Workspace slug taken", "slug_taken")
    r = run(shop, "workspaces", "create", "--name", "bad", "--slug", "Bad Slug")
    assert_clean_failure(r, "Bad workspace slug")


def test_invalid_configuration_is_a_readable_error(env):
    r = run({**env, "KEFU_ENV": "production"}, "db", "upgrade")
    assert_clean_failure(r, "invalid configuration", "KEFU_SECRET_KEY")
