"""Run CPU-heavy work (pictures, whole numbers) in a small pool of native threads, bounded in queue and time."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from app.errors import Busy

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

    def __init__(self, threads: int, max_waiting: int = 0, deadline: float = 0.0,
                 on_change: Callable[[int], object] | None = None) -> None:
        self.threads = threads
        self.on_change = on_change  # told the number of jobs in, whenever it changes (the metrics)
        # Bounds (0: none): jobs waiting or running at once, and seconds a job may wait for a thread.
        # Past either the caller gets Busy (a 503) at once: a queue that only grows would make
        # every request late, and a job nobody waits for any more would still cost its CPU.
        self.max_waiting, self.deadline = max_waiting, deadline
        self._waiting = 0
        self._count = threading.Lock()
        # create_app runs inside the worker: after the fork and after gevent's monkey-patching.
        self._pool = self._make_pool()

    def run(self, job: Callable[..., T], *args: object) -> T:
        """job(*args) in a pool thread; blocks this request (not the event loop) until it is done.

        Busy at once when max_waiting jobs are already in, or when no thread took the job up
        within the deadline (the job then skips its work when a thread reaches it).
        """
        with self._count:
            if self.max_waiting and self._waiting >= self.max_waiting:
                raise Busy(f"{self._waiting} jobs already wait")
            self._waiting += 1
            self._tell(self._waiting)
        try:
            started: list[bool] = []  # the job appends when a thread takes it up
            deadline = time.monotonic() + self.deadline if self.deadline else 0.0
            guarded = functools.partial(_in_time, job, args, deadline, started)
            if gevent_patched():
                # Returned, not raised, in the pool thread: gevent prints a traceback for every exception
                # a pool job raises, and a client's bad picture is not a server error worth a log entry.
                pending = self._pool.spawn(_outcome_of, guarded, ())
                get = pending.get
            else:
                pending = self._pool.submit(guarded)
                get = pending.result
            try:
                outcome = get(timeout=self.deadline or None)
            except _timeouts():
                if not started:
                    raise Busy("no thread was free before the deadline") from None
                outcome = get(timeout=None)  # it started in time: it runs to its end
            if isinstance(outcome, _Raised):
                raise outcome.error
            return outcome
        finally:
            with self._count:
                self._waiting -= 1
                self._tell(self._waiting)

    def _tell(self, waiting: int) -> None:
        if self.on_change is not None:
            self.on_change(waiting)

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


def _timeouts() -> tuple[type[BaseException], ...]:
    """What waiting with a timeout raises: TimeoutError, and gevent's Timeout under gevent."""
    if gevent_patched():
        import gevent

        return TimeoutError, gevent.Timeout
    return (TimeoutError,)


def _in_time(job: Callable[..., T], args: tuple, deadline: float, started: list[bool]) -> T:
    """job(*args) at the pool thread's priority, unless its deadline passed while it waited."""
    _lower_priority_once()
    started.append(True)
    if deadline and time.monotonic() > deadline:
        raise Busy("the job waited past its deadline")
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
    try:
        return job(*args)
    except Exception as error:  # noqa: BLE001 - re-raised in the caller by Offloader.run
        return _Raised(error)


def gevent_patched() -> bool:
    """True inside a gevent worker (gunicorn monkey-patches the standard library there)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))
