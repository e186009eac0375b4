"""The realtime hub: which sockets listen to which topic, and pushing frames to them.

Topics are plain strings (``agents:{workspace_id}``, ``visitor:{inbox_id}:{contact_id}``).
Publishing is thread-safe (domain code runs in worker threads; sockets live on the event
loop). Fan-out serialises a frame once and does no database queries. A socket whose queue is
full is a slow consumer: it is closed, and its client reconnects and resumes by ``seq``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000


def agents_topic(workspace_id: str) -> str:
    return f"agents:{workspace_id}"


def supervisors_topic(workspace_id: str) -> str:
    """Live QA alerts: users who may see the alert wallboard (``qa.alerts``)."""
    return f"supervisors:{workspace_id}"


def user_topic(user_id: str) -> str:
    """One user's sockets: their notifications (``notification`` frames)."""
    return f"user:{user_id}"


def visitor_topic(inbox_id: str, contact_id: str) -> str:
    return f"visitor:{inbox_id}:{contact_id}"


class Connection:
    """One subscribed socket's outbox."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_SIZE)
        self.topics: set[str] = set()
        self.overflowed = False

    def put(self, frame: str) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("slow consumer %s: closing", self.label)
            self._force_close()

    def _force_close(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Hub:
    def __init__(self) -> None:
        self._subs: dict[str, set[Connection]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._lock = threading.Lock()

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = None

    def subscribe(self, conn: Connection, topic: str) -> None:
        self._remember_loop()
        with self._lock:
            self._subs[topic].add(conn)
        conn.topics.add(topic)

    def unsubscribe_all(self, conn: Connection) -> None:
        with self._lock:
            for topic in conn.topics:
                subs = self._subs.get(topic)
                if subs is not None:
                    subs.discard(conn)
                    if not subs:
                        del self._subs[topic]
        conn.topics.clear()

    def listeners(self, topic: str) -> int:
        with self._lock:
            return len(self._subs.get(topic, ()))

    def _remember_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
        self._loop_thread = threading.get_ident()

    def publish(self, topic: str, frame: dict[str, Any], *,
                exclude: Connection | None = None) -> None:
        """Push ``frame`` to every socket on ``topic``; callable from any thread."""
        with self._lock:
            if topic not in self._subs:
                return
        text = json.dumps(frame, ensure_ascii=False, default=str)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self._deliver(topic, text, exclude)
        else:
            loop.call_soon_threadsafe(self._deliver, topic, text, exclude)

    def _deliver(self, topic: str, text: str, exclude: Connection | None) -> None:
        with self._lock:
            conns = list(self._subs.get(topic, ()))
        for conn in conns:
            if conn is not exclude:
                conn.put(text)
