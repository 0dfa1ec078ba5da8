"""Every setting of the server, in one place: defaults here, then the environment, then test overrides.

A setting `max_strokes` is overridden by the environment variable FLASK_MAX_STROKES (the value read as
JSON when it parses, as Flask's from_prefixed_env does: FLASK_LINE_CNN_CHECK=true) and by a test
config's key MAX_STROKES. Three plain variables are read too, as deployments name them: DATABASE_URL,
CORRECTIONS_ADMIN_TOKEN and METRICS_PORT. The settings are built once, frozen, and every part of the
server reads them from here (app.current.settings() in a request, the Reader's own copy elsewhere).

gunicorn's own variables (HOST, PORT, WEB_CONCURRENCY, GUNICORN_WORKER_CLASS, GUNICORN_CONNECTIONS,
GUNICORN_THREADS, GUNICORN_KEEPALIVE, ACCESS_LOG, METRICS_HOST) are read by app/gunicorn_conf.py,
which the gunicorn master loads before any of the app.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
PLAIN_VARIABLES = ("DATABASE_URL", "CORRECTIONS_ADMIN_TOKEN", "METRICS_PORT")
StrokeWay = Literal["segmenter", "line", "fused", "online"]


@dataclass(frozen=True)
class Settings:
    """The server's settings; each field documents what it bounds or chooses."""

    # --- the models (app/reader) ---
    model_path: str = str(MODELS / "digit_cnn.tflite")  # the single-digit CNN (int8 TFLite)
    # Drawings are also read from the pen's path; an empty path (or a missing file) serves the CNN alone.
    trajectory_model_path: str = str(MODELS / "trajectory.tflite")
    trajectory_weight: float = 0.5  # the path model's share of the fused answer (make eval compares 0 and 0.5)
    report_path: str = str(MODELS / "report.json")  # the training report the /model page shows
    # The "Why?" panel's lookalikes: real training digits embedded by model_path (make lookalikes).
    lookalikes_path: str = str(MODELS / "lookalikes.npz")
    # Pictures of whole numbers are read by the sequence (line) reader; an empty path (or a missing file)
    # falls back to cutting the ink into digits and classifying each (app/reader/segmenter.py).
    line_model_path: str = str(MODELS / "line.tflite")
    # Pictures of whole numbers are read first by a recognizer pretrained on real text, cut to digits and
    # marks (make pretrained; app/reader/pretrained.py); an empty path (or a missing file) leaves the line reader.
    picture_model_path: str = str(MODELS / "digits_rec.onnx")
    # Drawn numbers: the online sequence reader over the pen path (make online); an empty path (or a missing
    # file) leaves only the segmenter and the line reader.
    online_model_path: str = str(MODELS / "online.tflite")
    # Drawn numbers: the segmenter's fitted prior that a stroke joins the digit before it (make join-prior).
    join_prior_path: str = str(MODELS / "join_prior.json")

    # --- reading (app/reader) ---
    # Drawn numbers: "segmenter" (grouping + DP), "line" (the sequence reader on the rendered strokes) or
    # "fused" (both; see app/reader/number_readers.py). Chosen on held-out writers (make eval).
    number_stroke_reader: StrokeWay = "segmenter"
    # A drawn number whose best split of the strokes into digits is less than this far (log score) ahead of
    # the next best is unsure: a close second is how a digit split in two shows. With the digit bar below,
    # chosen by nested folds: each fold's pair picked on the other folds' held-out numbers (docs/accuracy.md).
    number_split_margin: float = 0.5
    number_digit_unsure: float = 0.7  # a drawn number's digit under this top probability is unsure
    # A drawn number whose least sure digit is under drawn_referee_below is read again as a picture by the
    # pretrained recognizer (in the picture process, where there is one); a number it gives less than
    # drawn_referee_unsure probability is unsure. Chosen on pen writers neither model trained on
    # (docs/accuracy.md); asked for about a fifth of numbers. 0: never asked.
    drawn_referee_below: float = 0.99
    drawn_referee_unsure: float = 0.01
    # And where it reads its own number, of another count of digits, with at least this probability, that
    # number is the answer (0: never). Overruling same-count readings too broke 5 of fold 5's pendigits
    # numbers and mended none; with the count rule, 19 mended and 2 broken on the dev writers, 3 and 0 on
    # stop 48's fold-5 readings, 6 and 2 on make eval's (docs/accuracy.md).
    drawn_referee_overrule: float = 0.95
    number_max_strokes: int = 60  # strokes in one number (taps aside): about 20 digits; more is refused (422)
    line_cnn_check: bool = False  # pictures: the single-digit CNN also reads each digit's box; a disagreement is unsure
    # Pictures: fuse the pretrained recognizer with our line model by decoding (app/reader/line_fusion.py).
    # Off: since the recognizer was fine-tuned on our numbers it reads better alone, on writers no model
    # trained on and on both evaluations (docs/accuracy.md); kept for the bench's comparison column.
    picture_fusion: bool = False
    # Below this top probability an answer is "unsure": chosen on the validation split so that about 1%
    # of real digits and most scribbles fall under it (bench/drawn_eval.py).
    unsure_threshold: float = 0.75
    # A drawn digit (/api/predict: the CNN and the pen path fused) is unsure under this. The fused answer
    # is sharper than the CNN's alone, so it has its own bar: at 0.65, 0.35% of the held-out pendigits
    # writers' digits and 0.86% of the held-out UNIPEN contributors' are flagged (0.45% and 1.38% at
    # 0.75), random scribbles 99.3% and letters 99.2% as at 0.75; a third of the wrong answers, not half
    # (docs/accuracy.md, "Unsure answers").
    drawing_unsure: float = 0.65
    tiny_drawing: float = 0.03  # a drawing under 3% of the canvas's shorter side (a tap, a tick) is no digit
    second_look_sure: float = 0.97  # how sure the line reader must be of a picture's one digit to overrule the CNN
    # Pictures are decoded and read in a child process per decoder thread (app/reader/picture_process.py),
    # each job under an operating-system budget: past it, a quick 422 (CPU) or 413 (memory).
    picture_process: bool = True
    picture_cpu_seconds: float = 0.5  # CPU time one picture may cost, decoding and reading (a 12 MP photo: ~0.1 s)
    picture_memory_mb: int = 320  # memory one picture may take beyond the child's own (a 40 MP picture: ~250)

    # --- request limits (app/web, app/reader/drawing.py) ---
    max_content_length: int = 10 * 1024 * 1024  # uploads; the JSON endpoints have their own, smaller limit
    max_json_bytes: int = 512 * 1024
    max_strokes: int = 200
    max_points: int = 10_000
    max_canvas: int = 10_000
    max_image_pixels: int = 40_000_000  # a JPEG (decoded at 1/2..1/8 scale: a 40 MP photo costs ~0.1 CPU-s)
    # PNG, WebP, GIF and BMP decode every pixel: 12 MP of RGBA PNG costs ~0.25 CPU-s of the 0.5 a picture may
    # (16 MP cost 0.35, and past 0.5 on a loaded machine)
    max_lossless_pixels: int = 12_000_000
    body_timeout: float = 10.0  # seconds for a whole request body to arrive (slow clients hold no slot for ever)
    uploads_per_worker: int = 4  # pictures read at once per worker, taken once a body is in; more get a 503
    body_buffer_mb: int = 64  # request bodies held at once per worker, counted as they arrive; past it a 503
    decode_threads: int = 1  # picture decoders per worker, off the event loop; one per core with the 2 workers
    offload_max_waiting: int = 16  # pictures and numbers waiting or being read per worker; more get a 503
    offload_deadline: float = 5.0  # seconds one may wait for the decoder; past it a 503, not late work

    # --- corrections (app/corrections) ---
    # SQLite under instance/ unless DATABASE_URL names another database (PostgreSQL for several app
    # servers: postgresql+psycopg://user:password@host/db).
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'corrections.db'}"
    corrections_per_minute: int = 20  # stored per client address and worker
    correction_max_points: int = 2_000  # points in one stored drawing (the page sends a few hundred)
    corrections_max_rows: int = 100_000  # the budget: a page drawing is ~2 KB, a capped one 40 KB: 0.2-4 GB
    corrections_queue: int = 8  # corrections waiting for the database per worker; more get a 503
    corrections_admin_token: str = ""  # empty: no /corrections page

    # --- operations (app/web) ---
    trusted_proxies: int = 0  # reverse proxies in front (deploy/nginx.conf: 1): client addresses from X-Forwarded-For
    # The host names this server answers to, comma-separated ("digits.example.com" behind nginx, or
    # "localhost,127.0.0.1"); any other Host header is a 400 before anything runs, so a page that rebinds
    # its own name to this server's address is not "same-origin". Empty: every name (make run on a laptop or
    # a phone's network); docs/security.md has the trade-off.
    allowed_hosts: str = ""
    metrics_port: int = 0  # /metrics answers only on this port (gunicorn binds it when METRICS_PORT is set)
    access_log_json: bool = False  # one JSON line per request (time, request id, route, status, ms, worker)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (the CLI's flags, a bench's reader)."""
        return dataclasses.replace(self, **changes)

    def flask_config(self) -> dict[str, Any]:
        """The settings as Flask config keys (MAX_CONTENT_LENGTH is Flask's own limit on uploads;
        TRUSTED_HOSTS Flask's own check of the Host header, from allowed_hosts)."""
        config = {field.name.upper(): getattr(self, field.name) for field in dataclasses.fields(self)}
        hosts = [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]
        return {**config, "TRUSTED_HOSTS": hosts or None}


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The defaults, then the environment (FLASK_* and the plain variables), then `overrides` (keys in
    either case, as a test config names them); keys that are not settings are ignored here."""
    environ = os.environ if environ is None else environ
    fields = {field.name: field for field in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for name in PLAIN_VARIABLES:
        if environ.get(name):
            values[name.lower()] = environ[name]
    for name in fields:
        if f"FLASK_{name.upper()}" in environ:
            values[name] = _json_or_text(environ[f"FLASK_{name.upper()}"])
    for key, value in (overrides or {}).items():
        if key.lower() in fields:
            values[key.lower()] = value
    return Settings(**{name: _typed(fields[name], value) for name, value in values.items()})


def _json_or_text(value: str) -> Any:
    """An environment value as JSON when it parses (numbers, true/false), else the text itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _typed(field: dataclasses.Field, value: Any) -> Any:
    """A value as its field's type: "5" for an int field is 5; a wrong type is a clear error at start."""
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    try:
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return value if kind == "StrokeWay" else str(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {field.name.upper()} must be {kind}, not {value!r}") from None
