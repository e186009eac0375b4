"""``kefu kb``: import and export the knowledge base, and its health check (知识体检).

The commands act as the system (``Actor(user_id="")``, recorded as ``actor_id=None`` in
versions and the audit log) with admin rights in the workspace named by ``--workspace``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

kb_app = typer.Typer(help="Knowledge base: import, export, health check (知识体检)",
                     no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def _services() -> Any:
    from kefu.app import build_services
    from kefu.cli.main import settings

    return build_services(settings())


def _workspace_id(session: Any, slug: str) -> str:
    from kefu.accounts.models import Workspace

    ws = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        _fail(f"没有这个工作区 / no workspace with slug {slug!r}")
    return str(ws.id)


def _actor(workspace_id: str) -> Any:
    from kefu.accounts.actor import Actor

    return Actor(user_id="", workspace_id=workspace_id, role="admin", name="cli")


def _domain_message(exc: Any) -> str:
    line = exc.details.get("line")
    where = f"line {line}: " if line else ""
    return f"{where}{exc.message} [{exc.code}]"


@kb_app.command("import")
def kb_import(
    file: Path = typer.Argument(..., help="A .csv (UTF-8 or GBK) or .xlsx file"),
    workspace: str = typer.Option(..., help="Workspace slug"),
    partial: bool = typer.Option(False, "--partial",
                                 help="Import the valid rows even if some rows are bad"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file, change nothing"),
) -> None:
    """Import FAQ entries. Rows with an id of this workspace update that entry; other rows
    create entries. With any bad row nothing is imported, unless --partial."""
    from kefu.core.errors import DomainError
    from kefu.kb.transfer import MAX_FILE_BYTES, import_entries

    if not file.is_file():
        _fail(f"找不到文件 / no such file: {file}")
    if file.stat().st_size > MAX_FILE_BYTES:
        _fail(f"文件不能超过 {MAX_FILE_BYTES // (1024 * 1024)} MB / the file is larger than "
              f"{MAX_FILE_BYTES // (1024 * 1024)} MB [file_too_large]")
    data = file.read_bytes()
    svc = _services()
    try:
        with svc.uows() as uow:
            actor = _actor(_workspace_id(uow.session, workspace))
            report = import_entries(uow, actor, data, filename=file.name, partial=partial,
                                    dry_run=dry_run)
    except DomainError as exc:
        _fail(_domain_message(exc))
    if report.errors:
        table = Table("line 行", "field 列", "code", "message 原因", title="errors 错误")
        for e in report.errors:
            table.add_row(str(e.line), escape(e.field or ""), e.code, escape(e.message))
        err.print(table)
    verb = ("would import" if dry_run else "imported") if report.applied or dry_run \
        else "nothing imported"
    console.print(f"{verb}: {report.created} created, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {len(report.errors)} errors "
                  f"({report.rows} rows, {report.encoding})")
    if report.ignored_columns:
        console.print("ignored columns: " + escape(", ".join(report.ignored_columns)))
    if report.errors:
        if not report.applied and not dry_run:
            err.print("no change was made: fix the rows above, or use --partial "
                      "(未做任何修改：请修正以上各行，或使用 --partial)")
        raise typer.Exit(1)


@kb_app.command("export")
def kb_export(
    file: Path = typer.Argument(..., help="Where to write: .csv or .xlsx"),
    workspace: str = typer.Option(..., help="Workspace slug"),
    fmt: str | None = typer.Option(None, "--format",
                                   help="csv | xlsx (default: from the file suffix)"),
) -> None:
    """Export every FAQ entry of a workspace (CSV is UTF-8 with BOM, opens in Excel)."""
    from kefu.core.errors import DomainError
    from kefu.kb.transfer import export_entries

    chosen = (fmt or file.suffix.lstrip(".")).casefold()
    if chosen not in ("csv", "xlsx"):
        _fail("格式只能是 csv 或 xlsx / the format must be csv or xlsx (use --format or a "
              ".csv/.xlsx file name)")
    svc = _services()
    try:
        with svc.uows(readonly=True) as uow:
            actor = _actor(_workspace_id(uow.session, workspace))
            data = export_entries(uow.session, actor, chosen)  # type: ignore[arg-type]
    except DomainError as exc:
        _fail(_domain_message(exc))
    try:
        file.write_bytes(data)
    except OSError as exc:
        _fail(f"无法写入文件 / cannot write {file}: {exc.strerror}")
    console.print(f"exported to {escape(str(file))} ({len(data)} bytes)")


@kb_app.command("health")
def kb_health(
    workspace: str = typer.Option(..., help="Workspace slug"),
    days: int = typer.Option(30, "--days", min=1, help="'never hit' window in days"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """The knowledge health check: collisions, duplicates, expired, never hit, disliked."""
    from kefu.bot.usage import entry_usage
    from kefu.kb.health import health_report

    svc = _services()
    with svc.uows(readonly=True) as uow:
        ws_id = _workspace_id(uow.session, workspace)
        now = svc.clock.now()
        usage = entry_usage(uow.session, ws_id, now - timedelta(days=days))
        report = health_report(uow.session, ws_id, now=now, usage=usage,
                               never_hit_days=days)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    table = Table("kind 类型", "entries 条目", "questions 问题", "detail 说明",
                  title=f"知识体检 health check: {report.checked} entries")
    for issue in report.issues:
        table.add_row(issue.kind, "\n".join(issue.entry_ids),
                      escape("\n".join(issue.questions)),
                      escape(f"{issue.detail_zh}\n{issue.detail_en}"))
    if report.issues:
        console.print(table)
    counts = ", ".join(f"{k} {n}" for k, n in report.counts().items())
    console.print(f"{len(report.issues)} issues ({counts})" if report.issues
                  else "no issues 没有发现问题")
