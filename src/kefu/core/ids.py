"""Identifiers: random, URL-safe, roughly time-ordered, never guessable across workspaces."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """A 24-hex-character id: 48 bits of milliseconds, then 48 random bits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
