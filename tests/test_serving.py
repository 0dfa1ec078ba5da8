"""`make run`'s server: gunicorn with app.gunicorn_conf serves the API on $PORT; the evaluation scripts run."""

import http.client
import json
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import MNIST_FIXTURE, PEN_FIXTURE

from bench import drawn_eval, harness, latency, photos
from training import data, styles


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def gunicorn_server(request):
    port = harness.free_port()
    env = {"WEB_CONCURRENCY": "1", "GUNICORN_WORKER_CLASS": request.param, "GUNICORN_THREADS": "2"}
    process, cold_start = harness.start(harness.server_command(), port, latency.payloads(1)[0], env=env)
    yield port, process, cold_start
    harness.stop(process)


def test_gunicorn_serves_predictions_on_port_with_keep_alive(gunicorn_server):
    port, process, cold_start = gunicorn_server
    assert cold_start < 30
    bodies = latency.payloads(20)
    timings = latency.sequential(port, bodies)  # raises unless every answer is a 200
    assert len(timings) == 20
    assert len(latency.worker_memory_mb(process.pid)) == 1  # WEB_CONCURRENCY=1


def test_gunicorn_answers_concurrent_clients_correctly(gunicorn_server):
    port = gunicorn_server[0]
    bodies = latency.payloads(24)
    assert latency.throughput(port, bodies, clients=6) > 0  # raises unless all 24 answers are 200s

    def digit(body):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/api/predict", body, {"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read())["digit"]

    with ThreadPoolExecutor(6) as pool:
        at_once = list(pool.map(digit, bodies))
    assert at_once == [digit(body) for body in bodies]  # concurrent answers are each request's own


def test_bench_client_keeps_one_connection_and_reports_errors(gunicorn_server):
    port = gunicorn_server[0]
    connection = harness.Connection(port)
    good = latency.payloads(2)
    connection.post(good[0])
    first_socket = connection.sock
    with pytest.raises(RuntimeError, match="answered 400"):
        connection.post(b'{"strokes": "nope", "width": 9, "height": 9}')
    assert connection.post(good[1]) > 0 and connection.sock is first_socket  # the error kept the connection
    connection.close()


def test_bench_client_reconnects_when_the_server_closed_an_idle_connection():
    """gunicorn drops a kept-alive connection idle past its keep-alive; the next request goes on a new one."""
    with harness.serving({"WEB_CONCURRENCY": "1", "GUNICORN_KEEPALIVE": "1"}) as (port, _):
        connection = harness.Connection(port)
        connection.post(harness.SEVEN_JSON)
        first_socket = connection.sock
        time.sleep(2.5)  # past the keep-alive: the server has closed its end
        assert connection.post(harness.SEVEN_JSON) > 0 and json.loads(connection.body)["digit"] == 7
        assert connection.sock is not first_socket
        connection.close()


def test_a_connection_refused_outright_is_not_retried_for_ever():
    connection = harness.Connection(harness.free_port(), timeout=2)
    with pytest.raises(ConnectionRefusedError):
        connection.post(harness.SEVEN_JSON)


def test_long_runs_save_each_figure_as_it_is_measured(tmp_path):
    progress = harness.Progress(tmp_path / "bench" / "figures.json")
    progress.put(p50_ms=1.5, p99_ms=3.0)
    assert json.loads(progress.path.read_text()) == {"p50_ms": 1.5, "p99_ms": 3.0}
    assert "1.50 ms / 3.00 ms" in latency.table(progress.figures)
    assert "req/s" not in latency.table(progress.figures)  # only what was measured is shown
    progress.put(throughput_rps_c8=900.0)
    assert json.loads(progress.path.read_text()) == {"p50_ms": 1.5, "p99_ms": 3.0, "throughput_rps_c8": 900.0}
    assert "900 req/s" in latency.table(progress.figures)


def test_head_to_head_pairs_every_payload(gunicorn_server):
    port = gunicorn_server[0]
    bodies = latency.payloads(7)
    seed_times, our_times = latency.head_to_head(port, port, bodies, block=3, warm_up=2)  # ours against itself
    assert len(seed_times) == len(our_times) == 7 and min(seed_times + our_times) > 0


def test_bench_payloads_look_like_real_drawings():
    for body in latency.payloads(50):
        payload = json.loads(body)
        points = sum(len(s) for s in payload["strokes"])
        assert 1 <= len(payload["strokes"]) <= 3 and 20 <= points <= 206
        assert all(0 <= v <= 320 for s in payload["strokes"] for p in s for v in p)


def test_drawn_eval_reports_every_placement_and_every_contributor(tmp_path, capsys):
    # A small UNIPEN-layout file in device units (the pen fixture's digits, scaled down, under each contributor).
    contributors = sorted(data.CONTRIBUTOR_FOLDS)
    unipen = tmp_path / "unipen.json"
    unipen.write_text(json.dumps([{"label": r["label"], "writer": f"{contributors[i % len(contributors)]}/w",
                                   "strokes": [[[x / 20, y / 20] for x, y in s] for s in r["strokes"]]}
                                  for i, r in enumerate(json.loads(PEN_FIXTURE.read_text())[:45])]))
    assert drawn_eval.main(["--pen-data", str(PEN_FIXTURE), "--data", str(MNIST_FIXTURE), "--mnist-limit", "60",
                            "--unipen-data", str(unipen), "--scribbles", "40", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "drawn_eval.json").read_text())
    # Every writer is held out by one fold's model, so every fixture digit is judged, once.
    assert summary["pen_digits"] == len(json.loads(PEN_FIXTURE.read_text()))
    assert sorted(w for writers in summary["folds"].values() for w in writers) == [2, 5, 10]
    assert len(summary["rows"]) == len(drawn_eval.PLACEMENTS) + 4 + len(photos.conditions()) + len(styles.STYLES) + 2
    for row in summary["rows"].values():
        assert 0.8 <= row["accuracy"] <= 1 and len(row["per_class"]) == 10
    assert summary["scribbles_unsure"] >= 0.7
    assert summary["scribble_pictures_unsure"] >= 0.7 and 0 < summary["letter_pictures_unsure"] <= 1
    table = capsys.readouterr().out
    assert "| pen, huge, touching the edges |" in table and "MNIST test digits traced into strokes" in table
    assert (tmp_path / "drawn_mistakes.png").stat().st_size > 1000
    # Other institutions: every contributor judged once, by the fold model that held it out.
    block = summary["other_institutions"]
    assert sorted(block["contributors"]) == contributors and block["pooled"]["count"] == 45
    assert block["worst"] == min(row["accuracy"] for row in block["contributors"].values()) <= block["mean"]
    assert "| all, pooled | 45 |" in table


def test_client_errors_leave_no_traceback_in_the_server_log(tmp_path):
    log = tmp_path / "server.log"
    with harness.serving({"WEB_CONCURRENCY": "1"}, log=log) as (port, _):
        for path in ("/api/predict/image", "/api/read/image"):
            body = latency.picture_body(b"this is not a picture")
            status, _, answer = harness.exchange(port, harness.post(path, body, latency.MULTIPART))
            assert status == 400 and "could not decode" in json.loads(answer)["error"]
        status, _, _ = harness.exchange(port, harness.post("/api/predict", b'{"strokes": 5}'))
        assert status == 400
    text = log.read_text()
    assert "Booting worker" in text  # the log is the server's
    assert "Traceback" not in text and "InputError" not in text


@pytest.mark.parametrize("model, fix", [("models/digit_cnn.tflite", "git checkout -- models/"),
                                        ("elsewhere/none.tflite", "FLASK_MODEL_PATH")])
def test_a_missing_model_is_one_line_naming_the_fix(tmp_path, model, fix):
    path = harness.ROOT / model if model.startswith("models/") else tmp_path / model
    env = {**os.environ, "PORT": str(harness.free_port())}
    if model.startswith("models/"):  # the shipped file, moved away for the run
        moved = tmp_path / "digit_cnn.tflite"
        path.rename(moved)
    else:
        env["FLASK_MODEL_PATH"] = str(path)
    try:
        result = subprocess.run(harness.server_command(), cwd=harness.ROOT, capture_output=True, text=True,
                                timeout=60, env=env)
    finally:
        if model.startswith("models/"):
            moved.rename(path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode != 0 and len(errors) == 1 and fix in errors[0] and str(path) in errors[0]
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_one_line_naming_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(harness.server_command(), cwd=harness.ROOT, capture_output=True, text=True,
                                timeout=60, env={**os.environ, "PORT": str(port)})
    assert result.returncode != 0
    assert f"PORT={port + 1} make run" in result.stderr and "Traceback" not in result.stderr


class _Recorded:
    """A socket that keeps each send apart."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))


def _load_gunicorn_conf() -> None:
    """Run make run's gunicorn config file, as gunicorn's master does at start and on every reload."""
    import importlib.util

    from app import ROOT

    spec = importlib.util.spec_from_file_location("digit_canvas_gunicorn_conf", ROOT / "app" / "gunicorn_conf.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def _gunicorn_response(chunked: bool):
    """gunicorn's own Response object (as make run's config patches it) on a recording socket."""
    import types

    from gunicorn.http import wsgi

    _load_gunicorn_conf()

    request = types.SimpleNamespace(version=(1, 1), method="POST", should_close=lambda: False)
    sock = _Recorded()
    response = wsgi.Response(request, sock, types.SimpleNamespace())
    headers = [("Content-Type", "application/json")] + ([] if chunked else [("Content-Length", "15")])
    response.start_response("200 OK", headers)
    return response, sock


@pytest.mark.parametrize("chunked", [False, True])
def test_an_answer_leaves_in_one_send_so_a_host_dying_cannot_cut_it_after_its_head(chunked):
    # Two sends let a host killed between them hand nginx a head without a body: too late to retry.
    response, sock = _gunicorn_response(chunked)
    response.write(b'{"digit":7}')
    assert len(sock.sends) == 1
    head, _, body = sock.sends[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b'{"digit":7}' in body
    response.write(b"more")  # what follows the head goes out as before, one send each
    assert len(sock.sends) == 2 and b"more" in sock.sends[1]


def test_a_reloaded_config_wraps_gunicorns_own_write_once():
    from gunicorn.http import wsgi

    _load_gunicorn_conf()
    _load_gunicorn_conf()  # a reload (HUP) runs the file again
    original = wsgi.Response.write.__wrapped__
    assert not hasattr(original, "__wrapped__") and original.__module__ == "gunicorn.http.wsgi"
