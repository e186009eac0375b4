"""``kefu qa run``: re-inspect stored conversations (filled in by issue 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to the ``kefu qa`` group."""
