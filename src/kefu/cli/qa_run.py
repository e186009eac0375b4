"""``kefu qa run``: re-inspect stored conversations (idempotent, resumable, multi-process).

The command acts as the system. See ``kefu.qa.batch`` for how a run is chunked, committed and
resumed, and docs/subsystems/qa-inspections.md.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_WORKERS = 32


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def parse_duration(value: str, option: str = "--since") -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` → a timedelta; anything else is an error
    naming ``option``."""
    m = _DURATION.match(value)
    if m is None or int(m.group(1)) <= 0:
        raise ValueError(f"{option}: 无效的时长 {value!r}（例如 30d、12h、2w）/ invalid duration "
                         f"{value!r} (use a positive number and a unit s, m, h, d or w, e.g. "
                         f"30d, 12h, 2w)")
    try:
        return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})
    except OverflowError:
        raise ValueError(f"{option}: 时长过长 / duration {value!r} is too long") from None


def parse_instant(value: str, option: str = "--until") -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{option}: 无效的时间 {value!r} / invalid ISO date-time {value!r} "
                         f"(e.g. 2026-11-11 or 2026-11-11T10:00:00+08:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def init_worker(settings_data: dict[str, Any]) -> None:
    """Initializer of a worker process (spawn): its own services, engine and rule cache."""
    from kefu.app import build_services
    from kefu.config import Settings
    from kefu.qa.batch import set_worker

    svc = build_services(Settings(**settings_data))
    set_worker(svc.uows, svc.qa)


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to the ``kefu qa`` group."""

    @app.command("run")
    def qa_run(
        since: str = typer.Option("30d", help="Conversations created within this long before "
                                  "now (or before --until): 30d, 12h, 2w"),
        until: str | None = typer.Option(None, help="End of the window (ISO date-time; "
                                         "default: now)"),
        rule: str | None = typer.Option(None, "--rule",
                                        help="Re-inspect only this rule (its key)"),
        workspace: str | None = typer.Option(None, help="Workspace slug (default: all)"),
        workers: int = typer.Option(1, help="Worker processes"),
        resume: bool = typer.Option(False, "--resume",
                                    help="Continue the latest unfinished run"),
    ) -> None:
        """Re-inspect resolved conversations: results are replaced, never duplicated; a run
        that stopped half-way continues with --resume."""
        from kefu.cli.main import settings
        from kefu.core.errors import DomainError
        from kefu.qa import batch

        try:
            window = parse_duration(since, "--since")
            end = parse_instant(until, "--until") if until is not None else None
        except ValueError as exc:
            _fail(str(exc))
        if not 1 <= workers <= MAX_WORKERS:
            _fail(f"--workers: 须在 1 到 {MAX_WORKERS} 之间 / must be between 1 and "
                  f"{MAX_WORKERS} (got {workers})")
        if rule is not None and not rule.strip():
            _fail("--rule: 规则标识不能为空 / the rule key is empty")
        s = settings()
        from kefu.app import build_services

        svc = build_services(s)
        workspace_id = _workspace_id(svc, workspace) if workspace is not None else None
        try:
            if resume:
                run_id = batch.latest_unfinished(svc.uows, workspace_id)
                if run_id is None:
                    _fail("没有未完成的质检任务 / no unfinished run to resume")
                console.print(f"resuming run {run_id}")
            else:
                end = end or svc.clock.now()
                try:
                    start = end - window
                except OverflowError:
                    _fail(f"--since: 时长过长 / duration {since!r} is too long")
                run_id = batch.start_run(svc.uows, start, end, workspace_id,
                                         rule.strip() if rule else None)
            summary = _execute(svc, s, run_id, workers)
        except DomainError as exc:
            _fail(f"{exc.message} [{exc.code}]")
        console.print(
            f"run {summary.run_id}: {summary.inspected} conversations inspected, "
            f"{summary.hits} hits, average score "
            f"{'-' if summary.average_score is None else f'{summary.average_score:.2f}'}, "
            f"{len(summary.skipped)} skipped, {summary.seconds:.2f} s "
            f"({summary.done}/{summary.total} done)")
        for cid, code in summary.skipped[:20]:
            err.print(f"skipped {cid}: {code}")


def _workspace_id(svc: Any, slug: str) -> str:
    from sqlalchemy import select

    from kefu.accounts.models import Workspace

    with svc.uows(readonly=True) as uow:
        ws_id = uow.session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if ws_id is None:
        _fail(f"--workspace: 没有这个工作区 / no workspace with slug {slug!r}")
    return str(ws_id)


def _execute(svc: Any, s: Any, run_id: str, workers: int) -> Any:
    from kefu.qa import batch

    def go(progress: batch.Progress | None) -> batch.RunSummary:
        if workers == 1:
            return batch.run(svc.uows, svc.qa, run_id, progress=progress)
        return batch.run_parallel(svc.uows, run_id, workers=workers, initializer=init_worker,
                                  initargs=(s.model_dump(),), progress=progress)

    if not sys.stdout.isatty():
        return go(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("inspecting 质检中", total=None)
        return go(lambda done, total: bar.update(task, completed=done, total=total))
