"""Reminders and escalation: dispatch, daily to-do digest, 75 % warning, breach, escalation;
the periodic tick. Owned by the SLA work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.events import EventBus
    from kefu.core.jobs import JobQueue


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""
