"""What an operator sees: request ids, one JSON log line per request, readiness, and Prometheus metrics on
their own listener, all through the real server (gunicorn, two workers)."""

from __future__ import annotations

import json
import re

import pytest

from bench import harness


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "server.log"
    metrics_port = harness.free_port()
    env = {"WEB_CONCURRENCY": "2", "METRICS_PORT": str(metrics_port), "FLASK_ACCESS_LOG_JSON": "1"}
    with harness.serving(env, log=log) as (port, _):
        yield port, metrics_port, log


def get(port: int, path: str, headers: str = "") -> tuple[int, dict, bytes]:
    return harness.exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode())


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line) if labels else re.fullmatch(rf"{name} (\S+)", line)
        if match and (not labels or ",".join(sorted(match.group(1).split(","))) == wanted):
            return float(match.groups()[-1])
    return 0.0


def test_a_request_shows_up_in_the_metrics_of_the_whole_host(server):
    port, metrics_port, _ = server
    before = get(metrics_port, "/metrics")[2].decode()
    for _ in range(6):  # with two workers, both most likely answer some
        status, _, _ = harness.exchange(port, harness.post("/api/predict", harness.SEVEN_JSON))
        assert status == 200
    status, headers, body = get(metrics_port, "/metrics")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    counted = sample(text, "digit_canvas_requests_total", route="/api/predict", status="200")
    assert counted - sample(before, "digit_canvas_requests_total", route="/api/predict", status="200") == 6
    assert sample(text, "digit_canvas_request_seconds_count", route="/api/predict") >= 6
    assert sample(text, "digit_canvas_model_seconds_count") >= 6
    assert "digit_canvas_model_info{" in text and 'model="digit_cnn.tflite"' in text


def test_metrics_are_not_served_on_the_public_port(server):
    port, _, _ = server
    status, headers, body = get(port, "/metrics")
    assert status == 404 and b"digit_canvas_requests_total" not in body


def test_request_ids_are_kept_or_made_and_logged_as_json(server):
    port, _, log = server
    status, headers, _ = harness.exchange(port, harness.post("/api/predict", harness.SEVEN_JSON,
                                                             headers={"X-Request-ID": "from-nginx-1234"}))
    assert status == 200 and headers["x-request-id"] == "from-nginx-1234"
    _, made, _ = harness.exchange(port, harness.post("/api/predict", harness.SEVEN_JSON,
                                                     headers={"X-Request-ID": "bad id <script>" + "x" * 100}))
    assert re.fullmatch(r"[0-9a-f]{32}", made["x-request-id"])  # an unusable id is replaced, not echoed
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    mine = next(line for line in lines if line["request_id"] == "from-nginx-1234")
    assert mine["route"] == "/api/predict" and mine["status"] == 200 and mine["method"] == "POST"
    assert mine["ms"] > 0 and isinstance(mine["worker"], int)


def test_ready_says_ready_with_the_model_and_the_store(server):
    port, _, _ = server
    status, _, body = get(port, "/api/ready")
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "ready" and answer["model"] == "digit_cnn.tflite"
    assert answer["corrections"] in ("ok", "degraded")
