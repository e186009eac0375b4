"""Server-rendered pages of the agent workspace (placeholder until the UI lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
