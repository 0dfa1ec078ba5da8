"""One server harness for the benches, the evaluation scripts and the tests: start the server as
`make run` does, talk HTTP/1.1 to it (kept alive, reconnecting like a browser), stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from app import ROOT

# A drawn 7 on a 300x300 canvas: the body every health check and warm-up sends.
SEVEN = {"strokes": [[[40, 40], [200, 40], [110, 260]]], "width": 300, "height": 300}
SEVEN_JSON = json.dumps(SEVEN).encode()


class StaleConnectionError(ConnectionError):
    """The server closed a kept-alive connection before answering anything on it."""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the (lower-cased) headers of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers


class Connection:
    """A minimal keep-alive HTTP/1.1 client: one send per request, the body read by Content-Length.

    http.client spends about 0.2 ms of Python per request; that is client time, not server time,
    and it would shrink the measured gap between two servers. Like a browser, it opens a new
    connection and sends again when the server had closed an idle kept-alive one (gunicorn drops
    them after its keep-alive seconds) before answering anything on it.
    """

    def __init__(self, port: int, timeout: float = 30, path: str = "/api/predict",
                 content_type: str = "application/json", host: str = "127.0.0.1") -> None:
        self.port, self.timeout, self.host, self.sock = port, timeout, host, None
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Content-Type: {content_type}\r\nContent-Length: ").encode()
        self.status, self.body = 0, b""

    def post(self, body: bytes, expect: int | None = 200) -> float:
        """One POST; returns seconds from sending to the whole answer read (self.status, self.body: the answer).

        Any status other than `expect` raises RuntimeError (expect=None accepts every status).
        """
        for attempt in (1, 2):
            reused = self.sock is not None
            self._connect()
            started = time.perf_counter()
            try:
                self.sock.sendall(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
                keep_alive = self._read_answer()
            except (StaleConnectionError, ConnectionResetError, BrokenPipeError):
                self.close()
                if reused and attempt == 1:
                    continue  # the idle connection had been closed: once more on a fresh one
                raise
            break
        elapsed = time.perf_counter() - started
        if not keep_alive:
            self.close()
        if expect is not None and self.status != expect:
            raise RuntimeError(f"server answered {self.status}: {self.body[:200]!r}")
        return elapsed

    def _connect(self) -> None:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _read_answer(self) -> bool:
        """Read one response into self.status and self.body; returns whether the server keeps the connection."""
        data = self._recv(stale=True)
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, rest = data.partition(b"\r\n\r\n")
        self.status, headers = parse_head(head)
        remaining = int(headers.get("content-length", 0)) - len(rest)
        while remaining > 0:
            chunk = self._recv()
            rest += chunk
            remaining -= len(chunk)
        self.body = rest
        return headers.get("connection", "").lower() != "close" and head.startswith(b"HTTP/1.1")

    def _recv(self, stale: bool = False) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise (StaleConnectionError if stale else ConnectionError)("the server closed the connection")
        return chunk

    def close(self) -> None:
        """Close the connection (the next post opens a new one)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def wait_ready(port: int, process: subprocess.Popen, body: bytes = SEVEN_JSON, timeout: float = 60) -> float:
    """Poll until the first 200 answer; returns its perf_counter time. An answer other than 200 fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        connection = Connection(port, timeout=5)
        try:
            connection.post(body)
            return time.perf_counter()
        except OSError:  # not listening yet, or the workers are still booting
            time.sleep(0.005)
        finally:
            connection.close()
    raise RuntimeError("server did not answer in time")


def server_command(python: str | Path = sys.executable) -> list[str]:
    """Exactly what `make run` runs, from the environment of `python`."""
    config = str(ROOT / "app" / "gunicorn_conf.py")
    return [str(Path(python).parent / "gunicorn"), "--config", config, "app:create_app()"]


def start(command: list[str], port: int, body: bytes = SEVEN_JSON, env: dict | None = None,
          log: Path | None = None) -> tuple[subprocess.Popen, float]:
    """Start a server process and return it with its cold start (seconds to the first 200).

    Its output goes to `log` (else nowhere); corrections go to a throwaway SQLite file unless env
    names a DATABASE_URL.
    """
    started = time.perf_counter()
    scratch = {"DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='digit-canvas-')}/corrections.db"}
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - the server process owns it
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **scratch, **(env or {}), "PORT": str(port)},
                               stdout=output, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    if log:
        output.close()
    try:
        return process, wait_ready(port, process, body) - started
    except BaseException:  # never leave a server behind
        stop(process)
        raise


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (gunicorn finishes what it is answering), then SIGKILL past the timeout."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(env: dict | None = None, command: list[str] | None = None,
            log: Path | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    """The server on a free loopback port for the block: yields (port, process)."""
    port = free_port()
    process, _ = start(command or server_command(), port, env=env, log=log)
    try:
        yield port, process
    finally:
        stop(process)


def post(path: str, body: bytes, content_type: str = "application/json", chunked: bool = False,
         headers: dict[str, str] | None = None) -> bytes:
    """The raw bytes of one POST request (Content-Length framing, or chunked)."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    if not chunked:
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + framed


def exchange(port: int, data: bytes, pause_after: float = 0.0, timeout: float = 10,
             host: str = "127.0.0.1") -> tuple[int, dict, bytes]:
    """Send raw bytes, read one answer (by Content-Length, or to the close); returns status, headers, body."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        # Sent from a thread while this one reads: a server may answer (413) before the body is all sent.
        sender = threading.Thread(target=send_quietly, args=(sock, data))
        sender.start()
        if pause_after:
            time.sleep(pause_after)
        try:
            return read_answer(sock)
        finally:
            sender.join()


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """sendall, ignoring a server that stopped reading (it has answered already)."""
    with contextlib.suppress(OSError):
        sock.sendall(data)


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """One response from the socket: status, headers and the body (by Content-Length, or to the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    length = int(headers.get("content-length", -1))
    while length < 0 or len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


class Progress:
    """A long run's figures, saved to a JSON file each time one is measured (a failure keeps the rest)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.figures: dict = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def put(self, **figures: object) -> None:
        """Record figures and rewrite the file."""
        self.figures.update(figures)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.figures, indent=1) + "\n")
        partial.replace(self.path)
