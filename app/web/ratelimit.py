"""A per-client sliding-window rate limit, in memory (per worker process)."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimit:
    """At most `limit` events per `window` seconds per key; keys idle longer than the window are forgotten.

    Checking and counting are separate, so that only what was actually done counts (a correction
    refused with a 400 uses up nothing).
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> float:
        """0 when key may act now, else the seconds until it may (nothing is counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.get(key)
            if not events:
                return 0.0
            self._prune(events, now)
            return events[0] + self.window - now if len(events) >= self.limit else 0.0

    def record(self, key: str, now: float | None = None) -> None:
        """Count one event for key."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._events) > 10_000:  # a flood of addresses: drop the ones whose window has passed
                self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            self._prune(events, now)
            events.append(now)

    def _prune(self, events: deque[float], now: float) -> None:
        while events and events[0] <= now - self.window:
            events.popleft()
