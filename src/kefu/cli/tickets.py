"""``kefu tickets``: ticket commands for mail servers and operators.

``kefu tickets mail-in --workspace <slug> [FILE]`` files one e-mail (RFC 822; stdin when FILE
is absent or ``-``) as a new ticket or a customer reply (``tickets.email_in``). Made for a
Postfix ``pipe`` / ``fetchmail --mda`` transport. Exit codes (sysexits): 0 filed (or a
duplicate, ignored); 65 (EX_DATAERR) a message we refuse (no sender, empty, too large);
66 (EX_NOINPUT) FILE cannot be read; 67 (EX_NOUSER) no such workspace; 75 (EX_TEMPFAIL) a
database error: the mail server keeps the message and retries later."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

tickets_app = typer.Typer(help="Tickets (工单): e-mail intake", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_TEMPFAIL = 75


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _services() -> Any:
    from kefu.app import build_services
    from kefu.cli.main import settings

    return build_services(settings())


@tickets_app.command("mail-in")
def mail_in(
    workspace: str = typer.Option(..., "--workspace", "-w", help="the workspace's slug"),
    file: str = typer.Argument("-", help="an .eml file; '-' or nothing: read stdin"),
) -> None:
    """File one e-mail as a ticket or a customer reply (stdin by default)."""
    from sqlalchemy.exc import SQLAlchemyError

    from kefu.core.errors import DomainError, NotFound
    from kefu.tickets import email_in

    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}", EX_NOINPUT)
    if len(raw) > email_in.MAX_EMAIL_BYTES:
        _fail("邮件超过 25 MB / The message is larger than 25 MB [email_too_large]", EX_DATAERR)
    try:
        svc = _services()
        with svc.uows() as uow:
            result = email_in.receive_for_slug(uow, slug=workspace, raw=raw)
        svc.runner.drain()  # send the acknowledgement now when no worker runs
    except NotFound as exc:
        _fail(f"{exc.message} [{exc.code}]", EX_NOUSER if exc.code == "workspace_not_found"
              else EX_DATAERR)
    except DomainError as exc:
        _fail(f"{exc.message} [{exc.code}]", EX_DATAERR)
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"temporary failure, try again later: {type(exc).__name__}: {exc}",
              EX_TEMPFAIL)
    number = f"#{result.number}" if result.number is not None else ""
    console.print(f"{result.action} {number} {result.message_id}".strip())
