"""Digit Canvas: draw a digit in the browser and see what a CNN thinks it is.

create_app() builds the settings (app/config.py), the Reader (app/reader), the request pipeline (app/web),
the corrections (app/corrections), the JSON API (app/api.py) and the pages (app/pages.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app import api, corrections, errors, pages, web
from app.config import ROOT, Settings, load_settings
from app.reader import build_reader
from app.web import metrics
from app.web.body import Budget
from app.web.offload import Offloader

__all__ = ["ROOT", "DigitCanvas", "create_app"]


class DigitCanvas(Flask):
    """The Flask app, with its settings and the per-worker state the request pipeline needs, typed."""

    settings: Settings
    upload_slots: Budget  # pictures read at once by this worker
    body_bytes: Budget  # bytes of request bodies held at once by this worker
    gunicorn_worker: Any = None  # set by app/gunicorn_conf.py: /api/ready says "draining" once it stops


def create_app(test_config: dict | None = None) -> DigitCanvas:
    """Build the app: defaults, then FLASK_* environment variables, then test_config (app/config.py)."""
    app = DigitCanvas(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                      instance_path=str(ROOT / "instance"))
    app.settings = load_settings(test_config)
    app.config.from_mapping(app.settings.flask_config())
    app.config.from_prefixed_env()  # Flask's own keys (FLASK_SECRET_KEY...); the settings are read above
    if test_config:
        app.config.update(test_config)
    # Loaded once per process: under gunicorn that is once per worker, after the fork.
    pool = Offloader(app.settings.decode_threads, app.settings.offload_max_waiting, app.settings.offload_deadline,
                     on_change=metrics.DECODE_QUEUE.set)
    reader = build_reader(app.settings, run=pool.run, timed=metrics.MODEL_TIME.observe, logger=app.logger)
    app.extensions["reader"] = reader
    app.upload_slots = Budget(app.settings.uploads_per_worker)
    app.body_bytes = Budget(app.settings.body_buffer_mb * 1024 * 1024)
    metrics.MODEL_INFO.labels(Path(reader.cnn.path).name, reader.cnn.sha256[:12]).set(1)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    web.init_app(app)
    corrections.init_app(app)
    errors.register(app)
    return app
