"""HTTP routes: the drawing page, the model page and the JSON prediction API."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException

from app import inference, inputs, preprocessing

bp = Blueprint("digits", __name__)
REPORT_PICTURES = ("training_curves.png", "confusion_matrix.png", "mistakes.png", "drawn_mistakes.png")


@bp.get("/")
def index() -> str:
    """The drawing page."""
    return render_template("index.html")


@bp.get("/model")
def model_page() -> str:
    """The model page: the training report and its pictures."""
    path = Path(current_app.config["REPORT_PATH"])
    report = json.loads(path.read_text()) if path.is_file() else None
    pictures = [name for name in REPORT_PICTURES if (path.parent / name).is_file()]
    drawn_path = path.parent / "drawn_eval.json"
    drawn = json.loads(drawn_path.read_text()) if drawn_path.is_file() else None
    return render_template("model.html", report=report, pictures=pictures, drawn=drawn)


@bp.get("/model/<name>")
def model_picture(name: str):
    """One of the report's pictures."""
    if name not in REPORT_PICTURES:
        abort(404)
    return send_from_directory(Path(current_app.config["REPORT_PATH"]).parent, name)


@bp.get("/api/health")
def health():
    """Liveness, and which model file this worker serves."""
    return jsonify(status="ok", model=Path(current_app.extensions["digit_model"].path).name)


@bp.post("/api/predict")
def predict_strokes():
    """Strokes in canvas pixels -> the ten class probabilities."""
    if not request.is_json:
        raise inputs.InputError("send Content-Type: application/json", 415)
    if (request.content_length or 0) > current_app.config["MAX_JSON_BYTES"]:
        raise inputs.InputError(f"body too large: at most {current_app.config['MAX_JSON_BYTES']} bytes", 413)
    body = request.get_json(silent=True)
    if body is None:
        raise inputs.InputError("the body is not valid JSON")
    strokes = inputs.parse_strokes(body, current_app.config)
    image = preprocessing.render_strokes(strokes)
    return jsonify(inference.answer_image(current_app.extensions["digit_model"], image,
                                          current_app.config["UNSURE_THRESHOLD"]))


@bp.post("/api/predict/image")
def predict_image():
    """An uploaded photo or scan of a digit (multipart field "image") -> the ten class probabilities."""
    upload = request.files.get("image")
    if upload is None:
        raise inputs.InputError('send the picture as multipart/form-data in a field named "image"')
    gray = inputs.decode_image(upload.read(), current_app.config["MAX_IMAGE_PIXELS"])
    result = inference.answer_picture(current_app.extensions["digit_model"], gray,
                                      current_app.config["UNSURE_THRESHOLD"])
    if result is None:
        raise inputs.InputError("no digit found in the image: it looks blank", 422)
    return jsonify(result)


def register_error_handlers(app: Flask) -> None:
    """Every API failure is a JSON {"error": ...} with a 4xx status, never an HTML page or a trace."""

    @app.errorhandler(inputs.InputError)
    def input_error(error: inputs.InputError):
        return jsonify(error=str(error)), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if not request.path.startswith("/api/"):
            return error
        message = error.description or error.name
        allowed = getattr(error, "valid_methods", None)
        if allowed:  # 405: say what would work
            message = f"{request.method} is not allowed here; use {' or '.join(sorted(set(allowed) - {'OPTIONS'}))}"
        return jsonify(error=message), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unexpected error on %s", request.path)
        return jsonify(error="internal error"), 500
