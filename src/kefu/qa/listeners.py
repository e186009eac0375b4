"""Wiring of the QA reactions: real-time alerts (inline) and inspection on resolve (job)."""

from __future__ import annotations

from collections.abc import Callable

from kefu.core.events import EventBus
from kefu.core.jobs import JobQueue
from kefu.core.uow import UowFactory
from kefu.qa import inspections, live
from kefu.qa.registry import QaRegistry


def register(bus: EventBus, jobs: JobQueue, registry: QaRegistry, uows: UowFactory,
             publish: live.Publish, supervisors_topic: Callable[[str], str]) -> None:
    registry.register(bus)
    live.register(bus, registry, uows, publish, supervisors_topic)
    inspections.register(bus, jobs, registry)
