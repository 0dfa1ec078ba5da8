"""gunicorn settings for `make run` and bench/latency.py (environment variables override).

Loaded by path (`--config app/gunicorn_conf.py`), not as a module of the app package: the master then
imports none of the app (the workers do, after the fork), and the environment below is set first.
"""

import errno
import functools
import importlib.util
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

from gunicorn import util
from gunicorn.http import wsgi

_HERE = Path(__file__).resolve().parent


def _by_path(name: str, path: Path):
    """A module of the app that needs only the standard library, loaded without importing the app."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


HEADERS = _by_path("digit_canvas_headers", _HERE / "web" / "headers.py").HEADERS

bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"]
# Metrics (/metrics, app/web/metrics.py) on a listener of their own, never the public one: METRICS_PORT
# (off when unset), on METRICS_HOST (default 127.0.0.1; a scraper on another machine needs more).
if os.environ.get("METRICS_PORT"):
    bind.append(f"{os.environ.get('METRICS_HOST', '127.0.0.1')}:{os.environ['METRICS_PORT']}")
    # The workers' samples are files here, added up at each scrape; a fresh folder per master.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="digit-canvas-metrics-"))

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent: one event loop per worker holds every keep-alive connection (the page posts every 50 ms
# while someone draws) without a thread hop per request. Against gthread with 4 threads, medians
# of 3 bench runs: p50 1.18 ms vs 1.33 ms, 1379 vs 1351 req/s. A prediction is CPU work that never
# yields, so a worker runs one at a time either way; the workers use the cores. Picture decoding
# runs in a native thread pool (app/web/offload.py), so an upload never stalls the loop.
# GUNICORN_WORKER_CLASS=gthread switches.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Connections held per gevent worker. Each costs little, but each may hold a 10 MB body: 200 drawing
# users per worker is far more than two cores can answer at the page's cadence anyway.
worker_connections = int(os.environ.get("GUNICORN_CONNECTIONS", "200"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # per gthread worker
# Seconds a connection may sit idle between requests, and (gevent) the time a request's headers
# have to arrive: a client that connects and says nothing is dropped after it. Bodies have their
# own deadline (body_timeout in app/config.py). Slow clients on the internet: deploy/nginx.conf.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# No preload: each worker imports the app, and so loads the model, after the fork.
preload_app = False
accesslog = os.environ.get("ACCESS_LOG") or None
# gunicorn's control socket is one path per user (~/.gunicorn/gunicorn.ctl): several servers on one
# machine (the hosts of make scale, the tests) would take it from each other. Nothing here uses it.
control_socket_disable = True


# gunicorn's own answers name only the class of problem: its messages quote the request (a 4 KB
# invalid header name came back in full), and nothing from the request is echoed.
_ERRORS = {400: "bad request: the request line or a header could not be parsed",
           413: "request too large", 414: "request line too long (at most 4094 bytes)",
           431: "too many or too large request headers"}


def _write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own answer to a request it cannot parse: the API's JSON error with the security headers.

    A transfer coding gunicorn does not implement is the client's error here: 400, not 501.
    """
    if status_int == 501:
        status_int, reason = 400, "Bad Request"
    message = ("bad request: unsupported Transfer-Encoding" if "transfer" in mesg.lower()
               else _ERRORS.get(status_int, reason.lower()))
    body = json.dumps({"error": message}).encode()
    headers = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Cache-Control: no-store\r\n{headers}Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


# Workers call util.write_error at request time; the master sets it before it forks them.
util.write_error = _write_json_error


class _Gathered:
    """Stands in for a socket while gunicorn writes: keeps what it is given, sends nothing."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.parts.append(bytes(data))


def _head_with_body(write):
    """gunicorn's Response.write, sending an answer's head together with its first body bytes.

    gunicorn sends the head and the body in two sends. A host killed between them leaves nginx a head
    without a body: it has begun the answer, so it can no longer try the request on another host, and
    the user gets a broken answer (1 of ~400 in the host-killed drill). In one send the host dies either
    before the answer (nginx retries elsewhere) or after it.
    """

    @functools.wraps(write)
    def write_once(self, arg: bytes) -> None:
        if self.headers_sent:
            return write(self, arg)
        sock, self.sock = self.sock, _Gathered()
        try:
            write(self, arg)
        finally:  # what was gathered goes out even when gunicorn gives up on the body
            gathered, self.sock = b"".join(self.sock.parts), sock
            if gathered:
                sock.sendall(gathered)

    return write_once


# From gunicorn's own write, never a wrapper of it: the master runs this file again on every reload (HUP).
wsgi.Response.write = _head_with_body(getattr(wsgi.Response.write, "__wrapped__", wsgi.Response.write))


def on_starting(server) -> None:
    """A missing model or a taken port is one line that names the fix, before any worker starts (each would
    print a traceback; gunicorn alone retries a taken port for 5 s, then says only "can't connect")."""
    _require_model()
    host, _, port = bind[0].rpartition(":")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), int(port)))
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            return  # anything else: gunicorn's own bind reports it
        print(f"error: {host}:{port} is already in use (another server?); "
              f"serve on another port with PORT={int(port) + 1} make run", file=sys.stderr)
        sys.exit(1)


def _require_model() -> None:
    """Exit with one line when the CNN the settings name is not there."""
    settings = _by_path("digit_canvas_config", _HERE / "config.py").load_settings()
    if Path(settings.model_path).is_file():
        return
    shipped = Path(settings.model_path).resolve().parent == (_HERE.parent / "models").resolve()
    fix = ("restore the shipped models with `git checkout -- models/` (or train new ones: make train)" if shipped
           else "point FLASK_MODEL_PATH at a .tflite model (the shipped one is models/digit_cnn.tflite)")
    print(f"error: {settings.model_path}: no such model file; {fix}", file=sys.stderr)
    sys.exit(1)


def post_fork(server, worker) -> None:
    """A native thread doing Python work (a drawn number read, an explanation, a form parsed) hands the GIL
    back to the event loop after 1 ms, not Python's default 5: a drawing waits at most that long per slice."""
    sys.setswitchinterval(0.001)


def post_worker_init(worker) -> None:
    """Let the app see its worker: /api/ready says "draining" once gunicorn has told it to stop."""
    worker.wsgi.gunicorn_worker = worker


def child_exit(server, worker) -> None:
    """A worker that is gone no longer counts in the metrics' live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
