"""``kefu qa``: quality inspection from the command line.

``kefu qa inspect`` works on exported logs with no database or server (``kefu.qa.offline``);
``kefu qa run`` (``cli/qa_run.py``) re-inspects the conversations stored in kefu.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

qa_app = typer.Typer(help="Quality inspection (智能质检)", no_args_is_help=True)
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@qa_app.command("inspect")
def inspect_file(
    conversations: Path = typer.Argument(..., help="JSONL: one conversation per line"),
    rules: Path | None = typer.Option(None, "--rules", help="rules file (JSON); default: "
                                      "the built-in rule set and scorecard"),
    out: Path | None = typer.Option(None, "--out", help="results JSONL (default: stdout)"),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="worker processes"),
) -> None:
    """Inspect exported conversations offline (no database or server needed).

    Writes one result line per conversation, in input order; a summary goes to stderr. Exit
    status 1 when some lines could not be used (each has an "error" result line)."""
    from kefu.qa.offline import load_rules_file, run
    from kefu.qa.spec import SpecError

    if not conversations.is_file():
        _fail(f"{conversations}: no such file")
    try:
        ruleset = load_rules_file(rules.read_bytes() if rules is not None else None)
    except OSError as exc:
        _fail(f"{rules}: {exc.strerror}")
    except SpecError as exc:
        lines = "\n  ".join(f"{p or '(file)'}: {m}" for p, m in exc.errors[:50])
        more = f"\n  … {len(exc.errors) - 50} more" if len(exc.errors) > 50 else ""
        _fail(f"{rules}: the rules cannot be used:\n  {lines}{more}")
    size = conversations.stat().st_size
    tmp: Path | None = None
    sink: IO[str]
    if out is not None:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        sink = tmp.open("w", encoding="utf-8", newline="\n")
    else:
        sink = sys.stdout
    show = err.is_terminal
    progress = Progress(TextColumn("[bold]质检 inspecting"), BarColumn(), TextColumn(
        "{task.percentage:>3.0f}%"), TimeRemainingColumn(), console=err, disable=not show)
    try:
        with conversations.open("rb") as source, progress:
            task = progress.add_task("inspect", total=size or 1)
            summary = run(source, sink, ruleset, workers=workers, path=str(conversations),
                          progress=lambda done: progress.update(task, completed=done))
        if tmp is not None and out is not None:
            sink.close()
            tmp.replace(out)
            tmp = None
    except KeyboardInterrupt:
        _fail("interrupted: no results written", 130)
    finally:
        if tmp is not None:
            sink.close()
            tmp.unlink(missing_ok=True)
    table = Table(title="质检 summary", show_edge=False)
    table.add_column("rule")
    table.add_column("name")
    table.add_column("hits", justify="right")
    for rule_id, n in summary.hits_per_rule.most_common():
        table.add_row(rule_id, summary.rule_names.get(rule_id, ""), str(n))
    err.print(table)
    err.print(f"conversations {summary.conversations}  messages {summary.messages}  "
              f"errors {summary.errors}  seconds {summary.seconds:.2f}  "
              f"messages/s {summary.messages_per_second:,.0f}  workers {workers}")
    if summary.errors:
        raise typer.Exit(1)
