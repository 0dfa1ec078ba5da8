"""Digit Canvas: draw a digit in the browser and see what a CNN thinks it is."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import (
    body,
    corrections,
    digit_pictures,
    explain,
    inference,
    line,
    metrics,
    numbers,
    offload,
    ratelimit,
    requestlog,
    routes,
    security,
    static_files,
    why,
)
from app.corrections.store import CorrectionStore
from app.number_reader import NumberReader

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app: defaults, then FLASK_* environment variables, then test_config."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(ROOT / "instance"))
    app.config.from_mapping(
        MODEL_PATH=str(ROOT / "models" / "digit_cnn.tflite"),
        # Drawings are also read from the pen's path; an empty path (or a missing file) serves the CNN alone.
        TRAJECTORY_MODEL_PATH=str(ROOT / "models" / "trajectory.tflite"),
        TRAJECTORY_WEIGHT=0.5,  # its share of the fused answer (make eval compares 0 and 0.5)
        REPORT_PATH=str(ROOT / "models" / "report.json"),
        # The "Why?" panel's lookalikes: real training digits embedded by MODEL_PATH (make lookalikes).
        LOOKALIKES_PATH=str(ROOT / "models" / "lookalikes.npz"),
        # Pictures of whole numbers are read by the sequence (line) reader; an empty path (or a missing
        # file) falls back to cutting the ink into digits and classifying each (app/numbers.py).
        LINE_MODEL_PATH=str(ROOT / "models" / "line.tflite"),
        # Drawn numbers: "segmenter" (grouping + DP), "line" (the sequence reader on the rendered
        # strokes) or "fused" (both; see app/reading.py). Chosen on held-out writers (make eval).
        NUMBER_STROKE_READER="segmenter",
        NUMBER_MAX_STROKES=60,  # strokes in one number (taps aside): about 20 digits; more is refused (422)
        LINE_CNN_CHECK=False,  # pictures: the single-digit CNN also reads each digit's box; a disagreement is unsure
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,  # uploads; the JSON endpoint has its own, smaller limit
        MAX_JSON_BYTES=512 * 1024,
        MAX_STROKES=200,
        MAX_POINTS=10_000,
        MAX_CANVAS=10_000,
        MAX_IMAGE_PIXELS=40_000_000,
        BODY_TIMEOUT=10.0,  # seconds for a whole request body to arrive (slow clients hold no slot for ever)
        UPLOADS_PER_WORKER=4,  # pictures read at once per worker; more get a 503 (bounds memory)
        DECODE_THREADS=1,  # picture decoders per worker, off the event loop; one per core with the 2 workers
        OFFLOAD_MAX_WAITING=16,  # pictures and numbers waiting or being read per worker; more get a 503
        OFFLOAD_DEADLINE=5.0,  # seconds one may wait for the decoder; past it a 503, not late work
        UNSURE_THRESHOLD=inference.UNSURE_THRESHOLD,
        TINY_DRAWING=0.03,  # a drawing under 3% of the canvas's shorter side (a tap, a tick) is unsure
        # Corrections: SQLite under instance/ unless DATABASE_URL names another database (PostgreSQL
        # for several app servers: postgresql+psycopg://user:password@host/db).
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'instance' / 'corrections.db'}",
        CORRECTIONS_PER_MINUTE=20,  # stored per client address and worker
        CORRECTION_MAX_POINTS=2_000,  # points in one stored drawing (the page sends a few hundred)
        CORRECTIONS_MAX_ROWS=100_000,  # the budget: a page drawing is ~2 KB, a capped one 40 KB: 0.2-4 GB
        CORRECTIONS_QUEUE=8,  # corrections waiting for the database per worker; more get a 503
        CORRECTIONS_ADMIN_TOKEN=os.environ.get("CORRECTIONS_ADMIN_TOKEN", ""),  # empty: no /corrections page
        TRUSTED_PROXIES=0,  # reverse proxies in front (deploy/nginx.conf: 1): client addresses from X-Forwarded-For
        # /metrics answers only on this port (gunicorn binds it when METRICS_PORT is set; app/metrics.py).
        METRICS_PORT=int(os.environ.get("METRICS_PORT") or 0),
        ACCESS_LOG_JSON=False,  # one JSON line per request (time, request id, route, status, ms, worker)
    )
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)

    # Loaded once per process: under gunicorn that is once per worker, after the fork.
    app.extensions["digit_model"] = inference.DigitModel(app.config["MODEL_PATH"], metrics.MODEL_TIME.observe)
    path_model = (inference.DigitModel(app.config["TRAJECTORY_MODEL_PATH"], metrics.MODEL_TIME.observe)
                  if app.config["TRAJECTORY_MODEL_PATH"] and os.path.exists(app.config["TRAJECTORY_MODEL_PATH"])
                  else None)
    app.extensions["drawing_reader"] = inference.DrawingReader(app.extensions["digit_model"], path_model,
                                                               float(app.config["TRAJECTORY_WEIGHT"]))
    app.extensions["offloader"] = offload.Offloader(
        app.config["DECODE_THREADS"], int(app.config["OFFLOAD_MAX_WAITING"]), float(app.config["OFFLOAD_DEADLINE"]),
        on_change=metrics.DECODE_QUEUE.set)
    numbers.join_prior()  # the segmenter's fitted join prior (models/join_prior.json), read once
    line_path = app.config["LINE_MODEL_PATH"]
    app.extensions["number_reader"] = NumberReader(
        # Its own interpreter: a number's candidates are one batch of up to a few hundred digits (20 ms
        # for the costliest body), and a drawing answered meanwhile must not wait for that lock.
        inference.DigitModel(app.config["MODEL_PATH"], metrics.MODEL_TIME.observe),
        line.LineReader(line.LineModel(line_path)) if line_path and os.path.exists(line_path) else None,
        unsure_threshold=app.config["UNSURE_THRESHOLD"], max_pixels=app.config["MAX_IMAGE_PIXELS"],
        stroke_way=app.config["NUMBER_STROKE_READER"], max_strokes=int(app.config["NUMBER_MAX_STROKES"]),
        cnn_check=bool(app.config["LINE_CNN_CHECK"]), run=app.extensions["offloader"].run)
    app.extensions["picture_reader"] = digit_pictures.PictureReader(
        app.extensions["digit_model"], app.extensions["number_reader"], app.config["MAX_IMAGE_PIXELS"],
        app.config["UNSURE_THRESHOLD"], app.extensions["offloader"].run)
    app.extensions["why"] = why.Why(
        explain.explainer(app.config["MODEL_PATH"], app.config["LOOKALIKES_PATH"], app.logger),
        app.extensions["drawing_reader"], app.extensions["picture_reader"], app.config["UNSURE_THRESHOLD"],
        app.extensions["offloader"].run)
    app.extensions["upload_slots"] = body.Slots(app.config["UPLOADS_PER_WORKER"])
    app.extensions["corrections"] = CorrectionStore(app.config["DATABASE_URL"], int(app.config["CORRECTIONS_MAX_ROWS"]))
    # The database is only ever used from this thread; corrections waiting for it are bounded.
    app.extensions["store_thread"] = offload.Offloader(1, int(app.config["CORRECTIONS_QUEUE"]))
    # Create and migrate the database now, in the background: a database that is down delays nothing.
    app.extensions["store_thread"].start(app.extensions["corrections"].count)
    app.extensions["corrections_limit"] = ratelimit.RateLimit(app.config["CORRECTIONS_PER_MINUTE"])
    model = app.extensions["digit_model"]
    metrics.MODEL_INFO.labels(Path(model.path).name, model.sha256[:12]).set(1)
    app.register_blueprint(routes.bp)
    app.register_blueprint(metrics.bp)
    requestlog.register(app)
    app.register_blueprint(corrections.bp)
    routes.register_error_handlers(app)
    security.register(app)
    static_files.register(app)
    if app.config["TRUSTED_PROXIES"]:
        proxies = int(app.config["TRUSTED_PROXIES"])
        # Only the headers the proxy sets and overwrites (deploy/nginx.conf: X-Forwarded-For, -Proto and
        # Host): a client's own X-Forwarded-Host passes through nginx untouched, so it is never trusted.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0)
    return app
