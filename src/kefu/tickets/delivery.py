"""Public replies delivered to the customer through the ticket's origin (conversation, e-mail,
portal notice). Owned by the intake/portal work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kefu.config import Settings
    from kefu.core.events import EventBus
    from kefu.core.jobs import JobQueue


def register(bus: EventBus, jobs: JobQueue, settings: Settings) -> None:
    """Subscribe this part's listeners and register its jobs."""
