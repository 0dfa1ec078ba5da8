"""A per-client sliding-window rate limit, in memory (per worker process)."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimit:
    """At most `limit` events per `window` seconds per key; keys idle longer than the window are forgotten."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Record an event for key and return 0, or, when over the limit, the seconds until one is allowed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._events) > 10_000:  # a flood of addresses: drop the ones whose window has passed
                self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window - now
            events.append(now)
            return 0.0
