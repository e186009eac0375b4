"""The ``kefu`` command line."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select

from kefu.cli import qa_run
from kefu.cli.kb import kb_app
from kefu.cli.qa import qa_app
from kefu.cli.tickets import tickets_app
from kefu.config import Settings

app = typer.Typer(help="kefu 智能客服平台 command line", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations", no_args_is_help=True)
users_app = typer.Typer(help="Users", no_args_is_help=True)
ws_app = typer.Typer(help="Workspaces", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(ws_app, name="workspaces")
app.add_typer(demo_app, name="demo")
bot_app = typer.Typer(help="The answering bot", no_args_is_help=True)
app.add_typer(bot_app, name="bot")
app.add_typer(kb_app, name="kb")
qa_run.register(qa_app)
app.add_typer(qa_app, name="qa")
app.add_typer(tickets_app, name="tickets")

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    # the message carries user input and codes such as "[email_taken]": never console markup
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                 for e in exc.errors()]
        fail("invalid configuration (KEFU_* variables / .env):\n  " + "\n  ".join(lines))


def _services(s: Settings):  # type: ignore[no-untyped-def]
    from kefu.app import build_services

    return build_services(s)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from kefu.migrations.runner import current, upgrade

    s = settings()
    svc = _services(s)
    upgrade(svc.engine, revision)
    console.print(f"database at revision [bold]{current(svc.engine)}[/bold]")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from kefu.migrations.runner import current

    console.print(current(_services(settings()).engine) or "(empty)")


@ws_app.command("create")
def workspace_create(name: str = typer.Option(..., help="Display name"),
                     slug: str = typer.Option(..., help="Short id: lowercase letters, digits, -"),
                     timezone: str = typer.Option("Asia/Shanghai")) -> None:
    """Create a workspace (a tenant: one brand or shop)."""
    from kefu.accounts import actions
    from kefu.core.errors import DomainError

    svc = _services(settings())
    try:
        with svc.uows() as uow:
            ws = actions.do_create_workspace(uow, name=name, slug=slug, timezone=timezone)
            console.print(f"workspace [bold]{escape(ws.slug)}[/bold] created (id {ws.id})")
    except DomainError as exc:
        fail(f"{exc.message} [{exc.code}]")


@users_app.command("create")
def users_create(
    workspace: str = typer.Option(..., help="Workspace slug"),
    email: str = typer.Option(...),
    name: str = typer.Option(...),
    role: str = typer.Option("agent", help="admin | supervisor | agent | inspector"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Create a user in a workspace."""
    from kefu.accounts import actions
    from kefu.accounts.models import Workspace
    from kefu.accounts.schemas import UserCreate
    from kefu.core.errors import DomainError

    try:
        data = UserCreate(email=email, name=name, role=role, password=password)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()))
    svc = _services(settings())
    try:
        with svc.uows() as uow:
            ws = uow.session.scalar(select(Workspace).where(Workspace.slug == workspace))
            if ws is None:
                fail(f"no workspace with slug {workspace!r}")
            user = actions.do_create_user(uow, workspace_id=ws.id, data=data)
            console.print(f"user [bold]{escape(user.email)}[/bold] ({user.role}) created in "
                          f"{escape(ws.slug)}")
    except DomainError as exc:
        fail(f"{exc.message} [{exc.code}]")


@bot_app.command("eval")
def bot_eval(queries: Path = typer.Argument(..., help="QUERIES.csv: query,expected_id"),
             kb: Path = typer.Option(..., "--kb", help="KB.csv: id,question,"
                                     "similar_questions,answer,category"),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object")) -> None:
    """Evaluate a knowledge base offline (no database): accuracy, OOS, latency."""
    import json

    from rich.progress import Progress

    from kefu.kb.offline_eval import CsvError, load_queries, run_eval

    try:
        n = len(load_queries(queries)) if not as_json else 0
        if n >= 500:
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("matching", total=n)
                report = run_eval(kb, queries, lambda i: bar.update(task, completed=i))
        else:
            report = run_eval(kb, queries)
    except CsvError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(report.metrics()))
        return
    m = report.metrics()
    for key in ("top1", "top3", "answered_rate", "precision_answered", "oos_precision",
                "oos_recall", "oos_f1"):
        console.print(f"{key:20} {m[key]:.3f}")
    console.print(f"{'latency_p50_ms':20} {report.latency_p50_ms:.2f}")
    console.print(f"{'latency_p99_ms':20} {report.latency_p99_ms:.2f}")
    console.print(f"{'build_seconds':20} {report.build_seconds:.2f}")
    console.print(f"{'n_queries':20} {report.n_queries}")
    if report.worst_entries:
        console.print("worst entries (in-scope misses at top-1):")
        for eid, misses in report.worst_entries:
            console.print(f"  {escape(eid)}: {misses}")


@demo_app.command("load")
def demo_load() -> None:
    """Load the demo shop workspace (idempotent)."""
    from kefu.demo import load_demo
    from kefu.migrations.runner import upgrade

    svc = _services(settings())
    upgrade(svc.engine)
    info = load_demo(svc.uows)
    console.print("demo loaded" if info.created else "demo already present")


def print_banner(s: Settings, inbox_id: str | None) -> None:
    from kefu.demo import DEMO_PASSWORD, DEMO_USERS

    base = s.base_url
    console.rule("[bold]kefu 智能客服平台[/bold]")
    console.print(f"  坐席工作台 Agent workspace : [link]{base}/app[/link]")
    if inbox_id is not None:
        console.print(f"  演示商城 Demo shop (widget): [link]{base}/demo/shop[/link]")
    console.print(f"  知识库 Knowledge base      : {base}/app/kb")
    console.print(f"  机器人 Bot (hit testing)   : {base}/app/bot")
    console.print(f"  质检 Quality inspection    : {base}/app/qa")
    console.print(f"  工单 Tickets               : {base}/app/tickets")
    if inbox_id is not None:
        from kefu.demo import DEMO_SLUG

        console.print(f"  自助提单 Self-service form : {base}/support/{DEMO_SLUG}")
    console.print(f"  API docs                  : {base}/docs")
    if inbox_id is not None:
        console.print(f"  Widget inbox id           : {inbox_id}")
        console.print("  Demo logins (password [bold]" + DEMO_PASSWORD + "[/bold]):")
        for email, name, role in DEMO_USERS:
            console.print(f"    {role:<10} {email:<24} {name}")
    console.rule()


@app.command("run")
def run(demo: bool | None = typer.Option(
        None, "--demo/--no-demo",
        help="Load the demo shop workspace (default: yes, except with KEFU_ENV=production)"),
        ) -> None:
    """Migrate, load the demo data and serve HTTP + WebSocket with the in-process worker."""
    import uvicorn

    from kefu.app import build_services, create_app
    from kefu.demo import load_demo
    from kefu.migrations.runner import upgrade

    s = settings()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    svc = build_services(s)
    upgrade(svc.engine)
    if demo is None:
        demo = s.env != "production"
    inbox_id = load_demo(svc.uows).inbox_id if demo else None
    print_banner(s, inbox_id)
    uvicorn.run(create_app(s, services=svc), host=s.host, port=s.port, log_level="info",
                ws="websockets-sansio", proxy_headers=False)


@app.command("worker")
def worker() -> None:
    """Run the job runner alone (scale-out mode: web processes set KEFU_EMBEDDED_WORKER=0)."""
    from kefu.app import build_services

    svc = build_services(settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    svc.runner.start()
    console.print("worker running; Ctrl-C to stop")
    stop.wait()
    svc.runner.stop()


def main() -> None:  # pragma: no cover - entry point
    app()
    sys.exit(0)
