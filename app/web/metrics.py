"""Prometheus metrics at /metrics, on a listener of their own (METRICS_PORT), never on the public one.

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by app/gunicorn_conf.py)
and /metrics adds up all the workers' files, so a scrape sees the whole host whichever worker answers.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app import current

bp = Blueprint("metrics", __name__)

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUESTS = Counter("digit_canvas_requests_total", "Requests answered, by route and status.", ["route", "status"])
LATENCY = Histogram("digit_canvas_request_seconds", "Seconds to answer, by route.", ["route"], buckets=_SECONDS)
MODEL_TIME = Histogram("digit_canvas_model_seconds", "Seconds in one call of a digit model.", buckets=_SECONDS)
DECODE_QUEUE = Gauge("digit_canvas_decode_queue", "Pictures and numbers waiting or being read.",
                     multiprocess_mode="livesum")
CORRECTIONS = Counter("digit_canvas_corrections_total", "Corrections by outcome (stored, failed, refused).",
                      ["outcome"])
DATABASE_UP = Gauge("digit_canvas_database_up", "1 when the corrections database answered last, 0 when down.",
                    multiprocess_mode="livemin")
MODEL_INFO = Gauge("digit_canvas_model_info", "The served model file and its sha256 (value 1).", ["model", "sha256"],
                   multiprocess_mode="livemax")


def init_app(app: Flask) -> None:
    """/metrics on the metrics listener, and nothing else there: the listener is not behind the proxy, so
    the app's pages and API on it would skip nginx's limits (and, with trusted proxies, believe a client's
    own X-Forwarded-For)."""
    app.register_blueprint(bp)
    app.before_request(only_metrics_on_their_listener)


def _on_metrics_listener() -> bool:
    port = current.settings().metrics_port
    sock = request.environ.get("gunicorn.socket")
    return bool(port) and sock is not None and sock.getsockname()[1] == port


def only_metrics_on_their_listener() -> None:
    """404 for anything but /metrics on the metrics listener."""
    if request.path != "/metrics" and _on_metrics_listener():
        abort(404)


@bp.get("/metrics")
def scrape() -> Response:
    """Every metric of this host, in Prometheus's text format; 404 on any listener but METRICS_PORT."""
    if not _on_metrics_listener():
        abort(404)
    return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)


def registry() -> CollectorRegistry:
    """All workers' samples under gunicorn (multiprocess mode), else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import REGISTRY

        return REGISTRY
    from prometheus_client import multiprocess

    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def route_of(rule: str | None) -> str:
    """The label for a request: its URL rule (a bounded set), never the raw path."""
    return rule or "unmatched"
