"""Typed events and the in-process bus.

Actions append events to the unit of work; the unit of work hands them to the bus only after
the transaction commits. Listeners are either *inline* (fast, may not fail the request: errors
are logged and swallowed) or *job* (the bus enqueues a durable job whose handler runs later).
A :class:`Broker` fans frames out between processes; :class:`LocalBroker` is the embedded one.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)


class Event(BaseModel):
    """Base of every domain event: frozen, typed by a ``type`` literal, scoped to a workspace."""

    model_config = ConfigDict(frozen=True)
    catalogue: ClassVar[dict[str, type[Event]]] = {}

    type: str
    workspace_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        field = cls.model_fields.get("type")
        default = field.default if field is not None else None
        if isinstance(default, str):
            Event.catalogue[default] = cls


Handler = Callable[[Event], None]
#: a job listener's choice for one event: ``(kind, payload, idempotency key)`` or None
JobSpec = tuple[str, dict[str, Any], str | None]
JobSelector = Callable[[Event], JobSpec | None]


class EventBus:
    """Dispatches committed events to inline listeners, in registration order."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._any: list[Handler] = []
        self._jobs: dict[str, list[JobSelector]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe_job(self, event_type: str, selector: JobSelector) -> None:
        """A *job* listener: when an event of this type is emitted, ``selector`` (pure, fast)
        may name a job; the unit of work enqueues it in the same transaction as the change,
        so the reaction exists exactly when the change committed."""
        with self._lock:
            self._jobs[event_type].append(selector)

    def jobs_for(self, event: Event) -> list[JobSpec]:
        out: list[JobSpec] = []
        for selector in self._jobs.get(event.type, ()):
            spec = selector(event)
            if spec is not None:
                out.append(spec)
        return out

    def subscribe(self, event_type: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[event_type].append(handler)

    def subscribe_all(self, handler: Handler) -> None:
        with self._lock:
            self._any.append(handler)

    def publish(self, events: list[Event]) -> None:
        for ev in events:
            for handler in (*self._handlers.get(ev.type, ()), *self._any):
                try:
                    handler(ev)
                except Exception:
                    log.exception("inline listener %r failed on %s", handler, ev.type)


class Broker(Protocol):
    """Fan-out of realtime frames between processes (local now; Redis pub/sub later)."""

    def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None: ...


class LocalBroker:
    """In-process broker: every published frame goes to every local subscriber."""

    def __init__(self) -> None:
        self._subs: list[Callable[[str, dict[str, Any]], None]] = []

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        for cb in list(self._subs):
            try:
                cb(topic, message)
            except Exception:
                log.exception("broker subscriber failed")

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        self._subs.append(callback)
