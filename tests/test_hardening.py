"""Attacks and broken clients against the real server (gunicorn, as `make run` starts it): every one gets a
4xx JSON answer or a closed connection, never a 500, a stall or an HTML page."""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from app.config import Settings
from bench import harness, latency
from bench.harness import SEVEN_JSON as SEVEN
from bench.harness import exchange, post


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def server(request):
    """One worker of each class, with short timeouts so the slow-client tests take a second."""
    # A generous picture budget: these tests ask whether the worker stays responsive while a 12 MP picture
    # decodes (about 0.3 CPU-s), not whether the budget holds (tests/test_picture_budget.py); at the default
    # 0.5 s the decode passed it now and then in a full suite run and the upload came back 422.
    env = {"WEB_CONCURRENCY": "1", "GUNICORN_WORKER_CLASS": request.param, "GUNICORN_THREADS": "4",
           "GUNICORN_KEEPALIVE": "1", "FLASK_BODY_TIMEOUT": "1.0", "FLASK_PICTURE_CPU_SECONDS": "3.0"}
    with harness.serving(env) as (port, process):
        yield port, process, request.param


def assert_json_error(status: int, headers: dict, body: bytes, expected: int) -> str:
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)["error"]


def test_a_chunked_body_is_read_and_answered(server):
    status, _, body = exchange(server[0], post("/api/predict", SEVEN, chunked=True))
    assert status == 200 and json.loads(body)["digit"] == 7


@pytest.mark.parametrize("size", [600 * 1024, 9_800_000])
def test_a_chunked_body_over_the_limit_is_413_whatever_the_framing(server, size):
    # A valid JSON document padded with spaces: before, only Content-Length was checked, so this parsed.
    body = SEVEN[:-1] + b" " * size + b"}"
    status, headers, answer = exchange(server[0], post("/api/predict", body, chunked=True))
    assert "at most 524288 bytes" in assert_json_error(status, headers, answer, 413)


@pytest.mark.parametrize("framing", [b"zz\r\nabc\r\n0\r\n\r\n",  # a chunk size that is not hex
                                     b"3\r\nabcXX",  # a chunk without its CRLF terminator
                                     b"-5\r\nabc\r\n0\r\n\r\n"])
def test_a_broken_chunked_body_is_400_json(server, framing):
    head = post("/api/predict", b"", chunked=True).removesuffix(b"0\r\n\r\n")
    status, headers, answer = exchange(server[0], head + framing)
    assert_json_error(status, headers, answer, 400)


@pytest.mark.parametrize("request_bytes, expected", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X" * 4000 + b"\x01: y\r\n\r\n", 400),  # an invalid header name
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
])
def test_requests_the_http_server_cannot_parse_get_json_errors(server, request_bytes, expected):
    status, headers, answer = exchange(server[0], request_bytes)
    message = assert_json_error(status, headers, answer, expected)
    # gunicorn's own answers carry the app's security headers and echo nothing of the request.
    assert headers["x-content-type-options"] == "nosniff" and "frame-ancestors 'none'" in \
        headers["content-security-policy"]
    assert len(message) < 80 and "XXX" not in message and "aaa" not in message and "yyy" not in message


def test_a_body_that_stops_arriving_is_408_within_the_body_timeout(server):
    head = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    started = time.monotonic()
    status, headers, answer = exchange(server[0], head + b'{"strokes": ')
    assert "did not arrive in time" in assert_json_error(status, headers, answer, 408)
    assert time.monotonic() - started < 5  # FLASK_BODY_TIMEOUT=1


def test_a_body_that_trickles_in_is_cut_off_by_the_total_deadline(server):
    if server[2] == "gthread":
        pytest.skip("a real thread cannot be interrupted mid-read: gthread bounds each read, nginx the total")
    head = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server[0]), timeout=10) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.settimeout(0.25)
        answer = None
        while answer is None and time.monotonic() - started < 8:
            try:
                sock.sendall(b" ")  # one byte every 0.25 s: never idle long enough for a per-read timeout
                answer = sock.recv(65536)
            except TimeoutError:
                continue
        assert answer and answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 5


def test_a_connection_that_sends_nothing_is_dropped(server):
    with socket.create_connection(("127.0.0.1", server[0]), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, not left open for ever
        assert time.monotonic() - started < 10  # GUNICORN_KEEPALIVE=1 (gthread checks its idle list less often)


LARGEST_LOSSLESS_SIDE = int(Settings().max_lossless_pixels ** 0.5)  # 12 MP: PNG's limit


@functools.cache
def big_png(side: int) -> bytes:
    """An RGBA PNG side x side: a dark ring on a light gradient (small to send, all of it to decode)."""
    ramp = np.linspace(200, 255, side).astype(np.uint8)
    image = np.dstack([np.tile(ramp, (side, 1))] * 3 + [np.full((side, side), 255, np.uint8)])
    cv2.circle(image, (side // 2, side // 2), side // 4, (0, 0, 0, 255), side // 30)
    return cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()


def multipart(data: bytes, name: str = "big.png") -> bytes:
    boundary = "digitcanvasboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return post("/api/predict/image", body, f"multipart/form-data; boundary={boundary}")


def test_drawing_is_answered_while_a_big_picture_decodes(server):
    """Before, a gevent worker decoding a picture answered nothing else until it was done."""
    port = server[0]
    upload = multipart(big_png(LARGEST_LOSSLESS_SIDE))
    assert len(upload) < 10 * 1024 * 1024
    finished = {}

    def send_upload():
        finished["status"] = exchange(port, upload, timeout=60)[0]
        finished["at"] = time.monotonic()

    thread = threading.Thread(target=send_upload)
    thread.start()
    time.sleep(0.1)  # the body (0.3 MB) is on the server: its picture process is decoding it now (0.3 s)
    answered = []
    connection = harness.Connection(port)
    while "at" not in finished and len(answered) < 20:
        connection.post(SEVEN)
        answered.append(time.monotonic())
    connection.close()
    thread.join()
    assert finished["status"] == 200
    assert sum(t < finished["at"] for t in answered) >= 3


def test_a_worker_reading_the_largest_legal_picture_stays_under_400_mb(server):
    """The largest lossless picture (12 MP RGBA PNG: 48 MB decoded) and the largest JPEG (40 MP), read in the
    worker's picture process: neither it nor the worker passes 400 MB."""
    port, process, _ = server
    for upload in (multipart(big_png(LARGEST_LOSSLESS_SIDE)), multipart(latency.photo_jpeg(6300), "big.jpg")):
        status, _, answer = exchange(port, upload, timeout=120)
        assert status == 200, answer[:200]
    workers = latency.worker_memory_mb(process.pid, "VmHWM")
    pictures = latency.picture_process_memory_mb(process.pid, "VmHWM")
    assert max(workers) < 400 and len(pictures) == len(workers) and max(pictures) < 400, (workers, pictures)


def test_security_headers_on_real_answers(server):
    for request_bytes in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", post("/api/predict", b"{", "application/json")):
        _, headers, _ = exchange(server[0], request_bytes)
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_an_upload_of_a_picture_still_answers(server):
    digit = np.zeros((120, 120), np.uint8)
    cv2.putText(digit, "3", (25, 100), cv2.FONT_HERSHEY_SIMPLEX, 3.5, 255, 9)
    status, _, answer = exchange(server[0], multipart(cv2.imencode(".png", 255 - digit)[1].tobytes(), "d.png"))
    assert status == 200 and json.loads(answer)["digit"] == 3



def test_behind_the_proxy_a_client_sent_forwarded_host_is_not_trusted(tmp_path):
    """nginx sets X-Forwarded-For and -Proto and Host, and passes a client's X-Forwarded-Host through:
    the app must build its URLs from Host, never from X-Forwarded-Host."""
    from flask import url_for

    from app import create_app

    app = create_app({"TESTING": True, "TRUSTED_PROXIES": 1, "DATABASE_URL": f"sqlite:///{tmp_path}/c.db"})

    @app.get("/whoami")
    def whoami():
        return url_for("pages.index", _external=True)

    body = app.test_client().get("/whoami", headers={"Host": "digits.example", "X-Forwarded-Host": "evil.example",
                                                     "X-Forwarded-Proto": "https"}).get_data(as_text=True)
    assert body == "https://digits.example/"


@pytest.mark.parametrize("path", ["/api/predict", "/api/read", "/api/explain", "/api/corrections"])
def test_a_body_shorter_than_its_content_length_then_a_close_is_400(server, path):
    body = SEVEN[:-1] + b', "label": 7}' if path == "/api/corrections" else SEVEN
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) + 500}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server[0]), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)  # the client is done: the body is 500 bytes short
        status, headers, answer = harness.read_answer(sock)
    assert "Content-Length" in assert_json_error(status, headers, answer, 400)


def test_costly_work_past_the_queue_bound_or_its_deadline_is_a_quick_503():
    from app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "OFFLOAD_MAX_WAITING": 2,
                      "OFFLOAD_DEADLINE": 0.3})
    offloader = app.extensions["reader"]
    body = latency.costliest_read_body()
    release = threading.Event()
    blocker = threading.Thread(target=offloader.run, args=(release.wait, 5))
    blocker.start()  # the one decoder thread is busy
    time.sleep(0.05)

    def read(_):
        started = time.monotonic()
        response = app.test_client().post("/api/read", data=body, content_type="application/json")
        return response.status_code, response.get_json()["error"], response.headers.get("Retry-After"), \
            time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(read, range(4)))
    release.set()
    blocker.join()
    assert all(status == 503 and "busy" in error and retry == "1" and took < 2
               for status, error, retry, took in answers), answers
    response = app.test_client().post("/api/read", data=body, content_type="application/json")
    assert response.status_code == 200  # free again: read as usual
