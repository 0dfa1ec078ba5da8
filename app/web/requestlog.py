"""Request ids and the per-request record: every answer says its X-Request-ID (nginx's, else a new one),
is counted in the metrics, and, with ACCESS_LOG_JSON, logged as one JSON line."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from typing import TYPE_CHECKING

from flask import Response, g, request

from app.web import metrics

if TYPE_CHECKING:
    from app import DigitCanvas

_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # what nginx's $request_id and uuids look like
_log = logging.getLogger("digit_canvas.access")


def register(app: DigitCanvas) -> None:
    """Give every request an id, and record it when it is answered."""
    as_json = app.settings.access_log_json
    if as_json and not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
        _log.propagate = False

    @app.before_request
    def start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex  # a request refused before start() ran
        response.headers["X-Request-ID"] = request_id
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        route = metrics.route_of(request.url_rule.rule if request.url_rule else None)
        metrics.REQUESTS.labels(route, str(response.status_code)).inc()
        metrics.LATENCY.labels(route).observe(seconds)
        if as_json:
            _log.info(json.dumps({"time": round(time.time(), 3), "request_id": request_id, "method": request.method,
                                  "route": route, "status": response.status_code, "ms": round(seconds * 1000, 2),
                                  "worker": os.getpid()}))
        return response
