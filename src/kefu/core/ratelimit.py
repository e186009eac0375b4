"""A sliding-window failure counter (login throttling). Per process; keyed by the caller."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta


class FailureLimiter:
    """Counts failures per key within a sliding window.

    Keys whose failures have all left the window are forgotten, so memory stays bounded by the
    keys that failed recently (callers key by untrusted input such as an e-mail address).
    """

    SWEEP_MIN = 1024

    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_seconds)
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()
        self._sweep_at = self.SWEEP_MIN

    def _trim(self, key: str, now: datetime) -> deque[datetime] | None:
        q = self._hits.get(key)
        if q is None:
            return None
        while q and now - q[0] > self.window:
            q.popleft()
        if not q:
            del self._hits[key]
            return None
        return q

    def _sweep(self, now: datetime) -> None:
        for key in list(self._hits):
            self._trim(key, now)
        self._sweep_at = max(self.SWEEP_MIN, 2 * len(self._hits))

    def blocked_for(self, key: str, now: datetime) -> float:
        """Seconds until ``key`` may try again (0 when allowed)."""
        with self._lock:
            q = self._trim(key, now)
            if q is None or len(q) < self.max_failures:
                return 0.0
            return max(0.0, (q[0] + self.window - now).total_seconds())

    def fail(self, key: str, now: datetime) -> None:
        with self._lock:
            q = self._trim(key, now)
            if q is None:
                if len(self._hits) >= self._sweep_at:
                    self._sweep(now)
                q = self._hits[key] = deque()
            q.append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def tracked_keys(self) -> int:
        """How many keys have failures in memory (for monitoring and tests)."""
        with self._lock:
            return len(self._hits)
