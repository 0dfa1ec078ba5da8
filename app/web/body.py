"""Read a request body from an untrusted client: bounded in bytes and in time, whatever the framing.

Every POST body is read here, once, before the view runs, and put back as an in-memory stream, so
the size limit holds for chunked bodies as it does for Content-Length ones, any failure of the
read itself (a broken chunk, a reset, a client that stops sending) is a 4xx JSON answer, and the
views parse only bytes that have fully arrived.

Memory is bounded by what has arrived, not by connections: the bodies a worker holds share a byte budget
(body_buffer_mb), reserved chunk by chunk as they come in, so a client that trickles a byte at a time
holds a byte. An upload takes one of the worker's few reading slots only once its body is in: slow
senders never keep real uploads out.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wsgi import get_input_stream

from app import current
from app.errors import InputError
from app.web.offload import gevent_patched

_CHUNK = 64 * 1024
# Endpoints that take only JSON: their bodies are held to max_json_bytes whatever the Content-Type says.
JSON_ONLY = {"api.predict_strokes", "api.read_number"}


def init_app(app: Flask) -> None:
    """Answer OPTIONS on API paths, and read every POST body in full before its view runs."""
    app.before_request(answer_options)
    app.before_request(read_body)
    app.teardown_request(give_back)


def answer_options() -> Response | None:
    """OPTIONS on an API path: 204 and the methods it allows (no CORS: the API is same-origin)."""
    routing = request.routing_exception
    if request.method == "OPTIONS" and isinstance(routing, MethodNotAllowed) and request.path.startswith("/api/"):
        return Response(status=204, headers={"Allow": ", ".join(sorted({*routing.valid_methods, "OPTIONS"}))})
    return None


def read_body() -> None:
    """Read a POST body in full, bounded in size and time, before any view parses it; then an upload takes
    one of the worker's few reading slots (a few pictures at a time per worker bound the work)."""
    if request.method != "POST" or request.routing_exception is not None:
        return
    settings, app = current.settings(), current.app()
    is_json = request.endpoint in JSON_ONLY or request.mimetype == "application/json"
    g.body_bytes = 0

    def reserve(size: int) -> None:
        if not app.body_bytes.take(size):
            raise InputError("the server is receiving too many uploads right now: try again in a moment", 503,
                             {"Retry-After": "1"})
        g.body_bytes += size

    buffer_body(request, settings.max_json_bytes if is_json else settings.max_content_length, settings.body_timeout,
                reserve)
    if not is_json:
        if not app.upload_slots.take():
            raise InputError("too many pictures being read right now: try again in a moment", 503,
                             {"Retry-After": "1"})
        g.upload_slot = True


def give_back(_error: BaseException | None) -> None:
    """Give back the body's bytes and the upload slot read_body took, however the request ended."""
    app = current.app()
    app.body_bytes.give_back(g.pop("body_bytes", 0))
    if g.pop("upload_slot", False):
        app.upload_slots.give_back()


def buffer_body(request: Request, limit: int, timeout: float, reserve: Callable[[int], None] = lambda _: None) -> None:
    """Read the whole body (at most `limit` bytes, within `timeout` seconds) and put it back in memory;
    `reserve` is told each chunk's size before it is kept (and may refuse it)."""
    declared = request.content_length
    if declared is not None and declared > limit:  # refused before reading a byte
        raise InputError(f"body too large: at most {limit} bytes", 413)
    with _deadline(request, timeout):
        # The server's stream: werkzeug stops it at Content-Length, or leaves it to the server's
        # own end of a chunked body (gunicorn and werkzeug set wsgi.input_terminated for those).
        stream = get_input_stream(request.environ)
        data = _read_at_most(stream, limit, time.monotonic() + timeout, reserve)
    if declared is not None and len(data) != declared:  # the client closed before sending it all
        raise InputError(f"the body ended after {len(data)} of its {declared} bytes (Content-Length)")
    request.environ.update({"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data))})
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)
    request.environ["wsgi.input_terminated"] = True


def _read_at_most(stream: io.RawIOBase, limit: int, deadline: float, reserve: Callable[[int], None]) -> bytes:
    """The stream's bytes up to EOF; 413 past `limit`, 408 past the deadline, 400 on a broken body."""
    chunks, size = [], 0
    try:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise InputError(f"body too large: at most {limit} bytes", 413)
            if time.monotonic() > deadline:
                raise BodyTimeoutError()
            reserve(len(chunk))
            chunks.append(chunk)
    except (InputError, HTTPException):  # our own answers, and werkzeug's ClientDisconnected (400)
        raise
    except (BodyTimeoutError, TimeoutError):
        raise InputError("the request body did not arrive in time", 408) from None
    except Exception:  # noqa: BLE001 - any failure to read untrusted bytes (bad chunking, resets) is the client's
        raise InputError("could not read the request body (broken framing or connection)") from None


class BodyTimeoutError(Exception):
    """The client took longer than the body timeout to send its body."""


@contextmanager
def _deadline(request: Request, seconds: float):
    """Interrupt a read that stalls: gevent's Timeout under gevent, a socket timeout in a real thread.

    A total deadline, not only a per-recv one: a client that sends one byte every few seconds
    would otherwise hold its connection for hours.
    """
    if gevent_patched():
        import gevent

        with gevent.Timeout(seconds, BodyTimeoutError):
            yield
        return
    sock = request.environ.get("gunicorn.socket")
    if sock is None:  # the development server or the test client: nothing to bound
        yield
        return
    previous = sock.gettimeout()
    sock.settimeout(seconds)  # per recv; the loop in _read_at_most checks the total between reads
    try:
        yield
    finally:
        sock.settimeout(previous)


class Budget:
    """At most `size` units held at once by all holders (request slots, or bytes); a reservation past it is
    refused at once, never queued."""

    def __init__(self, size: int) -> None:
        self.size, self.held = size, 0
        self._lock = threading.Lock()

    def take(self, count: int = 1) -> bool:
        """Reserve count units if they fit."""
        with self._lock:
            if self.held + count > self.size:
                return False
            self.held += count
            return True

    def give_back(self, count: int = 1) -> None:
        """Return units reserved with take()."""
        with self._lock:
            self.held -= count
