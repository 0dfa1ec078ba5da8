"""The production layout: Debian's nginx with deploy/nginx.conf in front of gunicorn, on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import cluster, harness
from bench.harness import SEVEN_JSON as SEVEN
from bench.harness import exchange, free_port, post

NGINX = cluster.NGINX
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
    """Debian's nginx running deploy/nginx.conf, installed as documented."""
    work = tmp_path_factory.mktemp("nginx")
    port = free_port()
    assert (Path("/etc/nginx") / "sites-enabled" / "default").exists()  # the stock default site, as on a real host
    conf = cluster.install_nginx(work / "etc", work, port, [f"127.0.0.1:{gunicorn_port}"])
    checked = subprocess.run([NGINX, "-t", "-p", str(work), "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr  # docs/deploy.md's `nginx -t`
    process = subprocess.Popen([NGINX, "-p", str(work), "-c", str(conf), "-g", "daemon off;"],
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


SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n", 400),
    (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
])
def test_nginx_own_errors_are_json_with_the_security_headers_and_no_version(nginx_port, request_bytes, status):
    got, headers, body = exchange(nginx_port, request_bytes)
    assert got == status and headers["content-type"] == "application/json", body[:200]
    assert json.loads(body)["error"]
    assert all(name in headers for name in SECURITY_HEADERS)
    assert headers.get("server", "nginx") == "nginx"  # no version


def test_the_app_answers_on_any_host_name_not_the_default_site(nginx_port):
    for host in ("localhost", "digits.example.org", "203.0.113.9"):
        got, _, body = exchange(nginx_port, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert got == 200 and b"Digit Canvas" in body and b"Welcome to nginx" not in body


def test_fingerprinted_files_keep_the_apps_year_long_caching(nginx_port):
    got, _, page = exchange(nginx_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    asset = re.search(rb'"(/static/js/main\.js\?v=\w+)"', page).group(1).decode()
    got, headers, _ = exchange(nginx_port, f"GET {asset} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert got == 200 and "immutable" in headers["cache-control"] and "max-age=31536000" in headers["cache-control"]


def test_half_sent_requests_from_one_address_do_not_starve_the_server(nginx_port):
    """2,000 connections from one address that send part of their headers and stop (slowloris): a
    real client still gets its answer at once, as JSON."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    stalled = []
    try:
        for _ in range(2000):
            sock = socket.create_connection(("127.0.0.1", nginx_port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            stalled.append(sock)
        started = time.monotonic()
        got, _, body = exchange(nginx_port, post("/api/predict", SEVEN))
        assert got == 200 and json.loads(body)["digit"] == 7
        assert time.monotonic() - started < 2
    finally:
        for sock in stalled:
            sock.close()


def test_half_sent_headers_are_cut_off_by_the_header_deadline(nginx_port):
    with socket.create_connection(("127.0.0.1", nginx_port), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:  # reset_timedout_connection
            answer = b""
        assert time.monotonic() - started < 8  # client_header_timeout 5s
        assert answer == b"" or b"408" in answer.split(b"\r\n")[0]


def test_a_client_sent_forwarded_host_never_reaches_the_app(nginx_port):
    got, headers, body = exchange(nginx_port, post("/api/corrections", b'{"label": 1}', headers={
        "X-Forwarded-Host": "evil.example", "Origin": "http://evil.example"}))
    assert got == 403  # the Origin is not the host: X-Forwarded-Host did not make it look same-origin


# Last: the flood uses up this address's burst for a second or two.
def test_a_flood_from_one_address_is_limited_with_429_json(nginx_port):
    def one(_):
        return exchange(nginx_port, post("/api/predict", SEVEN))

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(200)))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) >= 60 and statuses.count(429) > 0
    limited = next(a for a in answers if a[0] == 429)
    assert limited[1]["content-type"] == "application/json" and "slow down" in json.loads(limited[2])["error"]
