"""Stored inspections: a conversation inspected and scored (on resolve, or by a batch run)."""

from __future__ import annotations

from kefu.core.events import EventBus
from kefu.core.jobs import JobQueue
from kefu.qa.registry import QaRegistry


def register(bus: EventBus, jobs: JobQueue, registry: QaRegistry) -> None:
    """Job listeners: a resolved conversation is inspected by a durable ``qa_inspect`` job."""
