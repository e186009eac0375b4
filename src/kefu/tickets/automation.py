"""Automation triggers: conditions on a ticket's fields, on create / update / time, and their
actions. Owned by the automation work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.events import EventBus
    from kefu.core.jobs import JobQueue


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""
