"""The JSON API, each endpoint a few lines: parse the request, ask the Reader, answer JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import current
from app.errors import InputError
from app.web import payloads

bp = Blueprint("api", __name__)
PICTURE_OR_DRAWING = ("send a drawing as application/json (as /api/predict) or a picture as "
                      'multipart/form-data in a field named "image" (as /api/predict/image)')


@bp.get("/api/health", provide_automatic_options=False)
def health():
    """Liveness, and which model files this worker serves."""
    return jsonify(status="ok", **current.reader().describe())


@bp.get("/api/ready", provide_automatic_options=False)
def ready():
    """Readiness, for a load balancer or a rolling restart: 200 while this worker takes requests
    (corrections "degraded" when the database is down), 503 once gunicorn has told it to stop."""
    worker = current.app().gunicorn_worker
    if worker is not None and not worker.alive:
        return jsonify(status="draining"), 503
    return jsonify(status="ready", model=current.reader().describe()["model"],
                   corrections="degraded" if current.corrections().is_down() else "ok")


@bp.post("/api/predict", provide_automatic_options=False)
def predict_strokes():
    """Strokes in canvas pixels -> the ten class probabilities."""
    _, drawing = payloads.drawing()
    return jsonify(current.reader().digit(drawing))


@bp.post("/api/read", provide_automatic_options=False)
def read_number():
    """Strokes of a whole number -> its digits, left to right, each with its probabilities and box."""
    reader = current.reader()
    _, drawing = payloads.drawing(run=reader.run)
    return jsonify(reader.number(drawing))


@bp.post("/api/read/image", provide_automatic_options=False)
def read_number_image():
    """A photo or scan of a whole number (multipart field "image") -> its digits, boxes in the picture's pixels."""
    reader = current.reader()
    return jsonify(reader.number_in_picture(payloads.picture(run=reader.run)))


@bp.post("/api/predict/image", provide_automatic_options=False)
def predict_image():
    """An uploaded photo or scan of a digit (multipart field "image") -> the ten class probabilities."""
    reader = current.reader()
    return jsonify(reader.digit_in_picture(payloads.picture(run=reader.run)).answer)


@bp.post("/api/explain", provide_automatic_options=False)
def explain():
    """A drawing (JSON, as /api/predict) or a picture (multipart, as /api/predict/image) -> the answer and why."""
    reader = current.reader()
    if request.mimetype == "multipart/form-data":
        return jsonify(reader.explain_picture(payloads.picture(run=reader.run)))
    if request.mimetype != "application/json":
        raise InputError(PICTURE_OR_DRAWING, 415)
    _, drawing = payloads.drawing(run=reader.run)
    return jsonify(reader.explain(drawing))
