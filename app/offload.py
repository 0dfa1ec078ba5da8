"""Run CPU-heavy work (decoding an uploaded picture) in a small pool of native threads."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
# Pool threads run at this nice value: a drawing (on the event loop) preempts a picture or a number.
BACKGROUND_NICENESS = 10


class Offloader:
    """At most `threads` jobs run at once, always in the same few native threads; the caller waits.

    Under gevent (gunicorn's default worker here) a job run in the request's greenlet would stop the
    worker's event loop for its whole duration: a 40 MP picture stalled every drawing on that worker
    for seconds. In gevent's thread pool it runs in a native thread while the loop keeps answering
    (Pillow and OpenCV release the GIL while they decode and filter). With real request threads
    (gthread, the development server) a plain executor does the same job: a bound on decodes at once,
    and the decoding always in the same threads, so big buffers come from one malloc arena, not one
    per request thread (which let a gthread worker's peak memory grow by 120 MB per upload).
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        # create_app runs inside the worker: after the fork and after gevent's monkey-patching.
        self._pool = self._make_pool()

    def run(self, job: Callable[..., T], *args: object) -> T:
        """job(*args) in a pool thread; blocks this request (not the event loop) until it is done."""
        if gevent_patched():
            # Returned, not raised, in the pool thread: gevent prints a traceback for every exception
            # a pool job raises, and a client's bad picture is not a server error worth a log entry.
            outcome = self._pool.apply(_outcome_of, (job, args))
            if isinstance(outcome, _Raised):
                raise outcome.error
            return outcome
        return self._pool.submit(_niced, job, *args).result()

    def start(self, job: Callable[[], object]) -> None:
        """Run job() in the pool without waiting for it; its failure is only logged."""
        def quietly():
            try:
                job()
            except Exception as error:  # noqa: BLE001 - background work: whoever needs its result retries it
                logging.getLogger(__name__).warning("background job failed: %s: %s", type(error).__name__,
                                                    str(error).splitlines()[0][:200] if str(error) else "")
        if gevent_patched():
            self._pool.spawn(quietly)
        else:
            self._pool.submit(quietly)

    def _make_pool(self):
        if gevent_patched():
            from gevent.threadpool import ThreadPool

            return ThreadPool(self.threads)
        return ThreadPoolExecutor(self.threads, thread_name_prefix="decode")


def _niced(job: Callable[..., T], *args: object) -> T:
    _lower_priority_once()
    return job(*args)


@dataclass(frozen=True)
class _Raised:
    """What a pool job raised, carried back to the request that waits for it."""

    error: Exception


_thread_state = threading.local()


def _lower_priority_once() -> None:
    """Run this pool thread at a lower CPU priority (Linux threads each have their own nice value):
    the event loop that answers drawings then gets the cores first, and the heavy jobs the rest."""
    if getattr(_thread_state, "niced", False):
        return
    _thread_state.niced = True
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


def _outcome_of(job: Callable[..., T], args: tuple) -> T | _Raised:
    _lower_priority_once()
    try:
        return job(*args)
    except Exception as error:  # noqa: BLE001 - re-raised in the caller by Offloader.run
        return _Raised(error)


def gevent_patched() -> bool:
    """True inside a gevent worker (gunicorn monkey-patches the standard library there)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))
