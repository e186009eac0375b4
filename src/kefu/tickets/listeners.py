"""Wiring of the tickets domain into a process: each part registers its own listeners/jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kefu.tickets import automation, delivery, intake, reminders

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.events import EventBus
    from kefu.core.jobs import JobQueue


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    intake.register(bus, jobs, settings)
    delivery.register(bus, jobs, settings)
    reminders.register(bus, jobs, settings)
    automation.register(bus, jobs, settings)
