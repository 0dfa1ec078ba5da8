"""Run CPU-heavy work (decoding an uploaded picture) off the event loop, a bounded number at a time."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Offloader:
    """At most `threads` jobs run at once, each in a real OS thread.

    Under gevent (gunicorn's default worker here) a job run in the request's greenlet would stop the
    worker's event loop for its whole duration: a 40 MP picture stalled every drawing on that worker
    for seconds. gevent's thread pool runs it in a native thread while the loop keeps answering
    (Pillow and OpenCV release the GIL while they decode and filter). Elsewhere the request already
    has its own thread, and a semaphore bounds how many decode at once, which bounds the memory.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = None
        self._semaphore = threading.BoundedSemaphore(threads)

    def run(self, job: Callable[..., T], *args: object) -> T:
        """job(*args), in a pool thread under gevent, in this thread otherwise; exceptions propagate."""
        if gevent_patched():
            if self._pool is None:  # made on first use, inside the worker (after the fork)
                from gevent.threadpool import ThreadPool

                self._pool = ThreadPool(self.threads)
            return self._pool.apply(job, args)
        with self._semaphore:
            return job(*args)


def gevent_patched() -> bool:
    """True inside a gevent worker (gunicorn monkey-patches the standard library there)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))
