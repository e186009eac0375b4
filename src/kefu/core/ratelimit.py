"""A sliding-window failure counter (login throttling). Per process; keyed by the caller."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta


class FailureLimiter:
    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_seconds)
        self._hits: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: datetime) -> deque[datetime]:
        q = self._hits[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked_for(self, key: str, now: datetime) -> float:
        """Seconds until ``key`` may try again (0 when allowed)."""
        with self._lock:
            q = self._trim(key, now)
            if len(q) < self.max_failures:
                return 0.0
            return max(0.0, (q[0] + self.window - now).total_seconds())

    def fail(self, key: str, now: datetime) -> None:
        with self._lock:
            self._trim(key, now).append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
