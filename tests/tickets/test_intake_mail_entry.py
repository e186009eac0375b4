"""The two entry points of e-mail intake: ``kefu tickets mail-in`` and the API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from kefu.cli.tickets import EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_TEMPFAIL, tickets_app
from tests.cli.test_cli import out, run
from tests.conftest import World, login

FIX = Path(__file__).parent / "fixtures"


# as cli/main.py mounts it: app.add_typer(tickets_app, name="tickets")
_app = typer.Typer()
_app.add_typer(tickets_app, name="tickets")


def mail_in(env: dict[str, str], *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(_app, ["tickets", "mail-in", *args], env=env, input=stdin)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.upper().startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = {"KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "KEFU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    assert run(env, "db", "upgrade").exit_code == 0
    r = run(env, "workspaces", "create", "--name", "鲜果优选", "--slug", "shop-a")
    assert r.exit_code == 0, out(r)
    return env


def subjects(env: dict[str, str]) -> list[str]:
    engine = create_engine(env["KEFU_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT subject FROM tickets ORDER BY number"))]
    finally:
        engine.dispose()


def test_mail_in_from_file_and_stdin(cli_env: dict[str, str]) -> None:
    r = mail_in(cli_env, "--workspace", "shop-a", str(FIX / "gbk_base64.eml"))
    assert r.exit_code == 0, out(r)
    assert "created #1" in out(r)
    r = mail_in(cli_env, "--workspace", "shop-a", stdin=(FIX / "html_only.eml").read_bytes())
    assert r.exit_code == 0, out(r)
    r = mail_in(cli_env, "--workspace", "shop-a", "-",
                stdin=(FIX / "gbk_base64.eml").read_bytes())
    assert r.exit_code == 0 and "duplicate #1" in out(r)
    assert subjects(cli_env) == ["水果坏了要退款", "Coupon not working"]


def test_mail_in_failures_have_clear_codes(cli_env: dict[str, str], tmp_path: Path) -> None:
    r = mail_in(cli_env, "--workspace", "nope", str(FIX / "gbk_base64.eml"))
    assert r.exit_code == EX_NOUSER and "nope" in out(r) and "Traceback" not in out(r)
    r = mail_in(cli_env, "--workspace", "shop-a", str(tmp_path / "missing.eml"))
    assert r.exit_code == EX_NOINPUT and "missing.eml" in out(r)
    r = mail_in(cli_env, "--workspace", "shop-a", stdin=b"Subject: x\r\n\r\nno sender\r\n")
    assert r.exit_code == EX_DATAERR and "email_no_sender" in out(r)
    assert subjects(cli_env) == []


def test_mail_in_database_down_is_a_temporary_failure(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = {"KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.db'}",
           "KEFU_DATA_DIR": str(tmp_path / "data")}
    r = mail_in(env, "--workspace", "shop-a", str(FIX / "gbk_base64.eml"))
    assert r.exit_code == EX_TEMPFAIL, out(r)
    assert "temporary failure" in out(r) and "Traceback" not in out(r)


def test_api_inbound_email(app_client: TestClient, world: World) -> None:
    url = "/api/v1/tickets/inbound-email"
    raw = (FIX / "with_attachment.eml").read_bytes()
    login(app_client, "wang@a.example.com")
    r = app_client.post(url, content=raw, headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 201, r.text
    assert r.json()["action"] == "created" and r.json()["number"] == 1
    r = app_client.post(url, content=raw, headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 200 and r.json()["action"] == "duplicate"
    r = app_client.post(url, content=b"Subject: x\r\n\r\nbody", headers={
        "Content-Type": "message/rfc822"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "email_no_sender"
    r = app_client.post(url, json={"raw": "x"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_media_type"
    # larger than the JSON cap is fine here (25 MB cap)
    big = raw.replace(b"\xe8\xaf\xb7\xe6\x8c\x89", b"x" * 300_000 + b"\xe8\xaf\xb7", 1) \
        .replace(b"<attach-9001@example.com>", b"<attach-big@example.com>")
    r = app_client.post(url, content=big, headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 201, r.text
    login(app_client, "li@a.example.com")  # agents may not feed mail in
    r = app_client.post(url, content=raw, headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 403
