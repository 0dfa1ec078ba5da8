"""Hardening III's decisions, each with the test that failed before it: slow senders hold no upload slot,
every answer carries its request id, a range of a module is a range of what is served, a huge page number
is a 400 and no outage, identical corrections are stored once, the metrics listener serves only /metrics,
the owner page locks an address out after wrong tokens, FLASK_ALLOWED_HOSTS is checked before anything,
and a label is exactly one digit."""

from __future__ import annotations

import base64
import io
import re
import socket
import threading
import time

import numpy as np
import pytest
from support import SEVEN, png_of, seven

from app import create_app
from bench import harness

OWNER = {"Authorization": "Basic " + base64.b64encode(b"owner:s3cret").decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(b"owner:guess").decode()}


@pytest.fixture
def app_with(tmp_path):
    def make(**config):
        return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/c.db", **config})
    return make


def test_slow_senders_hold_no_upload_slot_and_real_uploads_are_read():
    """16 connections trickle a multipart body a byte every 0.3 s (more than the 4 reading slots): a real
    upload meanwhile is read, because a slot is taken only once a body is in."""
    env = {"WEB_CONCURRENCY": "1", "FLASK_BODY_TIMEOUT": "6"}
    picture = png_of(255 - np.pad(np.eye(60, dtype=np.uint8) * 255, 20))
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"d.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + picture + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /api/predict/image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with harness.serving(env) as (port, _):
        stop = threading.Event()

        def trickle():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(head)
                for byte in body[:20]:
                    if stop.wait(0.3):
                        return
                    sock.sendall(bytes([byte]))

        tricklers = [threading.Thread(target=trickle) for _ in range(16)]
        for thread in tricklers:
            thread.start()
        time.sleep(1.0)
        try:
            statuses = [harness.exchange(port, head + body)[0] for _ in range(3)]
        finally:
            stop.set()
            for thread in tricklers:
                thread.join()
    assert statuses == [200, 200, 200]


@pytest.mark.parametrize("method, body, status", [("OPTIONS", None, 204), ("POST", b"x" * 900_000, 413)])
def test_every_answer_echoes_its_request_id(client, method, body, status):
    """An OPTIONS answered before any view, and a body refused while it is read, echo the id too."""
    response = client.open("/api/predict", method=method, data=body, content_type="application/json",
                           headers={"X-Request-ID": f"{method.lower()}-1"})
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == f"{method.lower()}-1"


def test_a_503_while_the_body_is_read_echoes_the_request_id(app_with):
    app = app_with(BODY_BUFFER_MB=0)  # no room for any body: every POST is refused while it is read
    response = app.test_client().post("/api/predict", json=SEVEN, headers={"X-Request-ID": "full-1"})
    assert response.status_code == 503 and response.headers["X-Request-ID"] == "full-1"
    assert response.headers["Retry-After"] == "1" and "try again" in response.get_json()["error"]


def test_a_range_of_a_module_is_a_range_of_the_module_as_served(client):
    page = client.get("/").data.decode()
    url = re.search(r'src="(/static/js/main\.js\?v=\w+)"', page).group(1)
    whole = client.get(url).data
    assert b"?v=" in whole  # its imports are rewritten to fingerprinted URLs
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == whole[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    tail = client.get(url, headers={"Range": f"bytes={len(whole) - 50}-"})
    assert tail.data == whole[-50:]


@pytest.mark.parametrize("before", [str(2**63), str(10**40), "-5", "0"])
def test_a_huge_page_number_is_a_400_and_corrections_go_on(app_with, before):
    app = app_with(CORRECTIONS_ADMIN_TOKEN="s3cret")
    client = app.test_client()
    assert client.get(f"/corrections?before={before}", headers=OWNER).status_code == 400
    assert client.post("/api/corrections", json=seven(1)).status_code == 201  # the breaker did not open
    assert client.get("/api/ready").get_json()["corrections"] == "ok"


def test_identical_corrections_are_stored_once(app_with):
    app = app_with()
    client = app.test_client()
    first = client.post("/api/corrections", json=seven(0, 4))
    replays = [client.post("/api/corrections", json=seven(0, 4)) for _ in range(26)]
    assert first.status_code == 201
    assert {r.status_code for r in replays} == {200}
    assert {r.get_json()["id"] for r in replays} == {first.get_json()["id"]}
    assert all(r.get_json()["duplicate"] for r in replays)
    assert client.post("/api/corrections", json=seven(0, 5)).status_code == 201  # another label is another one
    picture = png_of(255 - np.pad(np.eye(40, dtype=np.uint8) * 255, 20))
    sent = [client.post("/api/corrections", data={"image": (io.BytesIO(picture), "p.png"), "label": "1"})
            for _ in range(2)]
    assert [r.status_code for r in sent] == [201, 200]
    assert len(app.extensions["corrections"].run(app.extensions["corrections"].store.all)) == 3


def test_replays_use_up_none_of_the_quota(app_with):
    client = app_with(CORRECTIONS_PER_MINUTE=2).test_client()
    assert [client.post("/api/corrections", json=seven(0)).status_code for _ in range(5)] == [201, 200, 200, 200, 200]
    assert client.post("/api/corrections", json=seven(1)).status_code == 201


@pytest.fixture(scope="module")
def with_metrics():
    metrics_port = harness.free_port()
    env = {"WEB_CONCURRENCY": "1", "METRICS_PORT": str(metrics_port), "FLASK_TRUSTED_PROXIES": "1"}
    with harness.serving(env) as (port, _):
        yield port, metrics_port


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    harness.post("/api/predict", harness.SEVEN_JSON, headers={"Connection": "close"}),
    harness.post("/api/corrections", b'{"label": 1}', headers={"X-Forwarded-For": "203.0.113.9",
                                                               "Connection": "close"}),
])
def test_the_metrics_listener_serves_only_metrics(with_metrics, request_bytes):
    port, metrics_port = with_metrics
    status, _, _ = harness.exchange(metrics_port, request_bytes)
    assert status == 404
    assert harness.exchange(metrics_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200
    assert harness.exchange(port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200


def test_the_owner_page_locks_an_address_out_after_ten_wrong_tokens(app_with):
    app = app_with(CORRECTIONS_ADMIN_TOKEN="s3cret")
    client = app.test_client()
    assert client.get("/corrections").status_code == 401  # a browser's first request carries no token: no guess
    assert client.get("/corrections", headers=OWNER).status_code == 200
    assert [client.get("/corrections", headers=WRONG).status_code for _ in range(10)] == [401] * 10
    locked = client.get("/corrections", headers=OWNER)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    other = client.get("/corrections", headers=OWNER, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200  # per address


@pytest.mark.parametrize("host, status", [("digits.example", 200), ("digits.example:8080", 200),
                                          ("evil.example", 400), ("127.0.0.1", 400)])
def test_allowed_hosts_are_checked_before_anything_else(app_with, host, status):
    client = app_with(ALLOWED_HOSTS="digits.example").test_client()
    response = client.get("/api/health", headers={"Host": host})
    assert response.status_code == status
    if status == 400:
        assert response.is_json and response.get_json()["error"]
        rebinding = client.post("/api/corrections", json=seven(2), headers={"Host": host, "Origin": f"http://{host}"})
        assert rebinding.status_code == 400  # a rebound name is not "same-origin"


def test_without_allowed_hosts_any_name_is_answered(client):
    assert client.get("/api/health", headers={"Host": "my-laptop.local:5000"}).status_code == 200


@pytest.mark.parametrize("label", [" 7 ", "07", "7.0", "+7", "seven", "", "٧"])
def test_a_form_label_is_exactly_one_digit(client, label):
    picture = png_of(255 - np.pad(np.eye(40, dtype=np.uint8) * 255, 20))
    response = client.post("/api/corrections", data={"image": (io.BytesIO(picture), "p.png"), "label": label})
    assert response.status_code == 400 and "label" in response.get_json()["error"]
