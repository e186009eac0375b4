"""Real-time inspection: alerts on stored messages, interception of agent drafts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kefu.core.events import EventBus
from kefu.core.uow import UowFactory
from kefu.qa.registry import QaRegistry

Publish = Callable[[str, dict[str, Any]], None]


def register(bus: EventBus, registry: QaRegistry, uows: UowFactory, publish: Publish,
             supervisors_topic: Callable[[str], str]) -> None:
    """Inline listeners of the real-time path (message.created → alerts)."""
