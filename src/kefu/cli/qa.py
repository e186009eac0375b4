"""``kefu qa``: quality inspection from the command line."""

from __future__ import annotations

import typer

qa_app = typer.Typer(help="Quality inspection (智能质检)", no_args_is_help=True)
