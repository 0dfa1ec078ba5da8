"""The production layout: Debian's nginx with deploy/nginx.conf in front of gunicorn, on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app import ROOT
from bench import harness
from bench.harness import SEVEN_JSON as SEVEN
from bench.harness import exchange, free_port, post

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not Path(NGINX).exists() and not os.environ.get("REQUIRE_NGINX"),
                                reason="Debian nginx is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def gunicorn_port():
    """One gunicorn worker with one thread: a single slot, so a client holding it would show at once."""
    env = {"WEB_CONCURRENCY": "1", "GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "1"}
    with harness.serving(env) as (port, _):
        yield port


@pytest.fixture(scope="module")
def nginx_port(gunicorn_port, tmp_path_factory):
    """nginx running deploy/nginx.conf as shipped, with only its ports changed."""
    work = tmp_path_factory.mktemp("nginx")
    port = free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "listen 80;" in site and "server 127.0.0.1:5000;" in site
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};").replace(
        "server 127.0.0.1:5000;", f"server 127.0.0.1:{gunicorn_port};")
    (work / "site.conf").write_text(site)
    temp_paths = "".join(f"{kind}_temp_path {work / kind};\n" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {work / 'nginx.pid'};\nerror_log {work / 'error.log'} warn;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp_paths}include {work / 'site.conf'};\n}}\n")
    process = subprocess.Popen([NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {process.stderr.read().decode()}") from None
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=30)


def test_a_drawing_is_answered_through_nginx_with_the_security_headers(nginx_port):
    status, headers, body = exchange(nginx_port, post("/api/predict", SEVEN))
    assert status == 200 and json.loads(body)["digit"] == 7
    assert "default-src 'self'" in headers["content-security-policy"]


def test_nginx_refuses_a_body_over_10_mb_with_json(nginx_port):
    status, headers, body = exchange(nginx_port, post("/api/predict/image", b"x" * (11 << 20), "multipart/form-data"))
    assert status == 413 and headers["content-type"] == "application/json"
    assert "too large" in json.loads(body)["error"]


def test_slow_clients_do_not_hold_gunicorn(nginx_port):
    """Eight clients stall mid-body; gunicorn (one thread) still answers at once, because nginx
    reads bodies in full before passing a request on."""
    head = (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{\"strokes\": ")
    stalled = [socket.create_connection(("127.0.0.1", nginx_port)) for _ in range(8)]
    try:
        for sock in stalled:
            sock.sendall(head)
        time.sleep(0.2)
        started = time.monotonic()
        status, _, body = exchange(nginx_port, post("/api/predict", SEVEN))
        assert status == 200 and json.loads(body)["digit"] == 7
        assert time.monotonic() - started < 2  # without nginx the one thread would wait on a stalled body
    finally:
        for sock in stalled:
            sock.close()


def test_a_flood_from_one_address_is_limited_with_429_json(nginx_port):
    def one(_):
        return exchange(nginx_port, post("/api/predict", SEVEN))

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(200)))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) >= 60 and statuses.count(429) > 0
    limited = next(a for a in answers if a[0] == 429)
    assert limited[1]["content-type"] == "application/json" and "slow down" in json.loads(limited[2])["error"]
