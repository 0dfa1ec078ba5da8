"""Pictures read in a child process, under a CPU and memory budget that the operating system enforces.

Decoding untrusted pictures can cost far more than their size suggests (Pillow parses some formats' headers
and RLE data in pure Python, holding the GIL), so the server never decodes or reads a picture in its own
process. Each job goes to a child (`python -m app.reader.picture_process`) that holds its own Reader:
- CPU: an ITIMER_PROF timer of `cpu_seconds` per job (process CPU time, all threads); past it the job is
  abandoned (a Python exception where Python runs; RLIMIT_CPU kills the child where C code never returns);
- memory: RLIMIT_AS caps the child's address space at what it uses when ready plus `memory_mb`; past it
  an allocation fails (MemoryError) and the child is replaced;
- a wall-clock limit on the parent's wait, for a child that stops answering.
A child that dies is replaced; the request gets a plain 422 or 413, never a 500, and the worker's own
event loop and drawings are never slowed. The child runs at nice 10 so drawings get the cores first.

The frames on the pipes are a 4-byte length and JSON: the child is never trusted with pickles.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import resource
import signal
import struct
import sys
import threading
import time
from dataclasses import asdict

import numpy as np

from app.config import Settings
from app.errors import InputError, NoInk, TooMuchInk

TOO_COSTLY = ("this picture costs too much to read (its encoding or its content takes far longer than a photo "
              "of a number): send a PNG or JPEG photo or scan")
TOO_MUCH_MEMORY = "this picture needs too much memory to read: send a smaller picture"
NICENESS = 10
_log = logging.getLogger(__name__)


class PictureProcess:
    """One child process reading pictures, one job at a time; started on first use, replaced when it dies."""

    def __init__(self, settings: Settings, wait_seconds: float = 20.0) -> None:
        self.settings, self.wait_seconds = settings, wait_seconds
        self._pid = 0
        self._to_child = self._from_child = -1
        self.lock = threading.Lock()

    def call(self, method: str, data: bytes) -> dict:
        """The child's answer to reader.<method>(data) as JSON-ready values; InputError as the child raised it,
        or a 422 / 413 when the job passed its budget (the child is then replaced)."""
        with self.lock:
            return self.call_held(method, data)

    def call_held(self, method: str, data: bytes) -> dict:
        """call(), for a caller that holds this process's lock."""
        try:
            if not self._pid:
                self._start()
            _write_frame(self._to_child, json.dumps({"method": method}).encode())
            _write_frame(self._to_child, data)
            reply = json.loads(_read_frame(self._from_child, time.monotonic() + self.wait_seconds))
        except (OSError, EOFError, TimeoutError, ValueError) as error:
            reason = self._stop()
            _log.warning("picture process replaced after %s (%s)", type(error).__name__, reason)
            raise InputError(TOO_COSTLY, 422) from None
        if reply["kind"] == "error":
            if reply.get("replace"):
                self._stop()
            raise _error_of(reply)
        return reply["value"]

    def _start(self) -> None:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        # One thread in the child (its CPU timer then measures one job) and few malloc arenas (each reserves
        # 64 MB of address space, which the memory cap counts).
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1"}
        actions = [(os.POSIX_SPAWN_DUP2, to_child_read, 0), (os.POSIX_SPAWN_DUP2, from_child_write, 1)]
        command = [sys.executable, "-c", "from app.reader.picture_process import child_main; child_main()"]
        self._pid = _original("os", "posix_spawn")(sys.executable, command, env, file_actions=actions)
        for fd in (to_child_read, from_child_write):
            os.close(fd)
        self._to_child, self._from_child = to_child_write, from_child_read
        # The settings on the pipe, not the command line: they hold the database URL and the owner's token.
        _write_frame(self._to_child, json.dumps(asdict(self.settings)).encode())
        _read_frame(self._from_child, time.monotonic() + 60)  # "ready": its models are loaded

    def _stop(self) -> str:
        """Kill and reap the child; what ended it."""
        if not self._pid:
            return "not running"
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        status = _waitpid(self._pid)
        self._pid = 0
        return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._stop()


def _error_of(reply: dict) -> InputError:
    """The child's error as the exception it raised (its class kept for NoInk and TooMuchInk)."""
    if reply.get("error") == "NoInk":
        return NoInk(reply["message"])
    if reply.get("error") == "TooMuchInk":
        return TooMuchInk(reply.get("detail", ""))
    return InputError(reply["message"], reply["status"])


class PicturePool:
    """A few picture processes: a job takes one that is free, else waits for one."""

    def __init__(self, settings: Settings, size: int) -> None:
        self.processes = [PictureProcess(settings) for _ in range(max(1, size))]
        self._turn = itertools.count()

    def call(self, method: str, data: bytes) -> dict:
        """As PictureProcess.call, on a free process."""
        for process in self.processes:
            if process.lock.acquire(blocking=False):
                try:
                    return process.call_held(method, data)
                finally:
                    process.lock.release()
        return self.processes[next(self._turn) % len(self.processes)].call(method, data)


def _original(module: str, name: str):
    """The standard library's function, not gevent's replacement (this runs in native threads, off gevent's loop)."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original(module, name)
    return getattr(sys.modules[module], name)


def _waitpid(pid: int) -> int:
    """The child's exit status (0 when something else, such as gevent's child watcher, reaped it first)."""
    try:
        return _original("os", "waitpid")(pid, 0)[1]
    except ChildProcessError:
        return 0


def _write_frame(fd: int, payload: bytes) -> None:
    for part in (struct.pack(">I", len(payload)), payload):  # no joined copy of a 10 MB picture
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


def _read_frame(fd: int, deadline: float | None = None) -> bytes:
    (size,) = struct.unpack(">I", _read_exactly(fd, 4, deadline))
    return _read_exactly(fd, size, deadline)


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not _original("select", "select")([fd], [], [], wait)[0]:
                raise TimeoutError("the picture process did not answer in time")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the picture process ended")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- the child ------------------------------------------------------------------------------------------


class _TooCostly(BaseException):  # noqa: N818 - BaseException: no decoder's `except Exception` swallows it
    """The job's CPU timer ran out."""


def _too_costly(_signum, _frame) -> None:
    raise _TooCostly()


def _address_space() -> int:
    """This process's address space now, in bytes (VmSize)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _answer(reader, method: str, data: bytes) -> dict:
    """What the parent gets back: the answer (and the 28x28 image for a digit) as JSON values."""
    if method == "read_digit_picture":
        seen = reader.read_digit_picture(data)
        return {"answer": seen.answer, "image": np.asarray(seen.image, np.float32).tolist()}
    if method == "read_number_picture":
        return {"answer": reader.read_number_picture(data)}
    if method == "drawn_number_verdict":
        return reader.drawn_number_verdict(data).as_json()
    raise ValueError(f"unknown method {method}")


def child_main() -> None:
    """Read jobs from stdin, answer on stdout, each job under the CPU budget, the whole child under the memory cap."""
    import cv2

    from app.reader.reader import build_reader  # here: the parent imports this module without the models

    logging.basicConfig(level=logging.WARNING)
    inbox, outbox = sys.stdin.buffer.fileno(), os.dup(sys.stdout.buffer.fileno())
    os.dup2(sys.stderr.fileno(), 1)  # anything printed goes to the log, never into a frame
    os.nice(NICENESS)
    cv2.setNumThreads(1)
    try:
        # Pictures only: no pen-path model, no explanations, and no process of its own.
        settings = Settings(**json.loads(_read_frame(inbox))).replace(lookalikes_path="", picture_process=False,
                                                                      trajectory_model_path="")
    except EOFError:
        return  # the parent went before it said what to read
    reader = build_reader(settings, explanations=False)
    _warm_up(reader)
    cap = _address_space() + settings.picture_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    signal.signal(signal.SIGPROF, _too_costly)
    _write_frame(outbox, b'{"kind": "ready"}')
    while True:
        try:
            method = json.loads(_read_frame(inbox))["method"]
            data = _read_frame(inbox)
        except EOFError:
            return  # the parent is gone
        _write_frame(outbox, json.dumps(_job(reader, method, data, settings.picture_cpu_seconds)).encode())


def _warm_up(reader) -> None:
    """Read a small picture once before any budget applies: the first decode and the first model calls pay
    for lazy set-ups (Pillow's plugins, OpenCV's and LiteRT's first allocations) that no picture should."""
    import cv2

    grey = np.full((64, 160), 235, np.uint8)
    cv2.putText(grey, "47", (20, 52), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 20, 4)
    data = cv2.imencode(".png", grey)[1].tobytes()
    for method in ("read_digit_picture", "read_number_picture"):
        with contextlib.suppress(InputError):
            _answer(reader, method, data)


def _job(reader, method: str, data: bytes, cpu_seconds: float) -> dict:
    """One job under its CPU budget, its outcome as the reply frame."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    # A C call that never returns to Python: SIGXCPU kills the child at this soft limit (raised per job).
    backstop = int(used.ru_utime + used.ru_stime + 4 * cpu_seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (backstop, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    try:
        try:
            signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
            return {"kind": "ok", "value": _answer(reader, method, data)}
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _TooCostly:
        return {"kind": "error", "message": TOO_COSTLY, "status": 422}
    except InputError as error:
        return {"kind": "error", "message": str(error), "status": error.status, "error": type(error).__name__,
                "detail": getattr(error, "detail", "")}
    except MemoryError:
        return {"kind": "error", "message": TOO_MUCH_MEMORY, "status": 413, "replace": True}
    except Exception:  # a bug, not the picture's fault: logged here, a 500 there
        _log.exception("reading a picture failed")
        return {"kind": "error", "message": "internal error", "status": 500, "replace": True}


