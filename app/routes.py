"""HTTP routes: the drawing page, the model page and the JSON prediction API."""

from __future__ import annotations

import json
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app import body, inference, inputs, offload, payloads, why

bp = Blueprint("digits", __name__)
REPORT_PICTURES = {
    "training_curves.png": "Loss and accuracy per epoch, on the training and the validation data",
    "confusion_matrix.png": "MNIST test confusion matrix: true digit in rows, predicted digit in columns",
    "mistakes.png": "MNIST test digits the model gets wrong, with the true and the predicted digit",
    "drawn_mistakes.png": "Real pen digits by unseen writers that the model gets wrong, as the network saw them",
}
# Endpoints that take only JSON: their bodies are held to MAX_JSON_BYTES whatever the Content-Type says.
JSON_ONLY = {"digits.predict_strokes", "digits.read_number"}


@bp.before_app_request
def answer_options() -> Response | None:
    """OPTIONS on an API path: 204 and the methods it allows (no CORS: the API is same-origin)."""
    routing = request.routing_exception
    if request.method == "OPTIONS" and isinstance(routing, MethodNotAllowed) and request.path.startswith("/api/"):
        return Response(status=204, headers={"Allow": ", ".join(sorted({*routing.valid_methods, "OPTIONS"}))})
    return None


@bp.before_app_request
def read_body() -> None:
    """Read a POST body in full, bounded in size and time, before any view parses it (app/body.py)."""
    if request.method != "POST" or request.routing_exception is not None:
        return
    is_json = request.endpoint in JSON_ONLY or request.mimetype == "application/json"
    limit_key = "MAX_JSON_BYTES" if is_json else "MAX_CONTENT_LENGTH"
    if not is_json:  # an upload: a few at a time per worker bounds the memory
        if not current_app.extensions["upload_slots"].take():
            raise inputs.InputError("too many pictures being read right now: try again in a moment", 503,
                                    {"Retry-After": "1"})
        g.upload_slot = True
    body.buffer_body(request, current_app.config[limit_key], current_app.config["BODY_TIMEOUT"])


@bp.teardown_app_request
def free_upload_slot(_error: BaseException | None) -> None:
    """Give back the upload slot read_body took, however the request ended."""
    if g.pop("upload_slot", False):
        current_app.extensions["upload_slots"].give_back()


@bp.get("/")
def index() -> str:
    """The drawing page."""
    return render_template("index.html")


@bp.get("/model")
def model_page() -> str:
    """The model page: the training report and its pictures."""
    path = Path(current_app.config["REPORT_PATH"])
    report = json.loads(path.read_text()) if path.is_file() else None
    figures = [(name, caption) for name, caption in REPORT_PICTURES.items() if (path.parent / name).is_file()]
    drawn_path = path.parent / "drawn_eval.json"
    drawn = json.loads(drawn_path.read_text()) if drawn_path.is_file() else None
    return render_template("model.html", report=report, figures=figures, drawn=drawn)


@bp.get("/model/<name>")
def model_picture(name: str):
    """One of the report's pictures."""
    if name not in REPORT_PICTURES:
        abort(404)
    return send_from_directory(Path(current_app.config["REPORT_PATH"]).parent, name)


@bp.get("/api/health", provide_automatic_options=False)
def health():
    """Liveness, and which model file this worker serves."""
    path_model = current_app.extensions["drawing_reader"].path_model
    return jsonify(status="ok", model=Path(current_app.extensions["digit_model"].path).name,
                   trajectory_model=Path(path_model.path).name if path_model else None)


@bp.get("/api/ready", provide_automatic_options=False)
def ready():
    """Readiness, for a load balancer or a rolling restart: 200 while this worker takes requests
    (corrections "degraded" when the database is down), 503 once gunicorn has told it to stop."""
    worker = current_app.extensions.get("gunicorn_worker")
    if worker is not None and not worker.alive:
        return jsonify(status="draining"), 503
    store = current_app.extensions["corrections"]
    return jsonify(status="ready", model=Path(current_app.extensions["digit_model"].path).name,
                   corrections="degraded" if store.breaker.down_since is not None else "ok")


@bp.post("/api/predict", provide_automatic_options=False)
def predict_strokes():
    """Strokes in canvas pixels -> the ten class probabilities."""
    payload, strokes = payloads.drawing()
    image = payloads.drawn_image(strokes)
    return jsonify(inference.answer_drawing(current_app.extensions["drawing_reader"].predict(strokes, image), image,
                                            strokes, payloads.tiny_extent(payload),
                                            current_app.config["UNSURE_THRESHOLD"]))


@bp.post("/api/read", provide_automatic_options=False)
def read_number():
    """Strokes of a whole number -> its digits, left to right, each with its probabilities and box."""
    payload, strokes = payloads.drawing(run=current_app.extensions["offloader"].run)
    return jsonify(current_app.extensions["number_reader"].strokes(strokes, payloads.tiny_extent(payload)))


@bp.post("/api/read/image", provide_automatic_options=False)
def read_number_image():
    """A photo or scan of a whole number (multipart field "image") -> its digits, boxes in the picture's pixels."""
    return jsonify(current_app.extensions["number_reader"].picture(payloads.picture()))


@bp.post("/api/predict/image", provide_automatic_options=False)
def predict_image():
    """An uploaded photo or scan of a digit (multipart field "image") -> the ten class probabilities."""
    return jsonify(current_app.extensions["picture_reader"].read(payloads.picture())[0])


@bp.post("/api/explain", provide_automatic_options=False)
def explain():
    """A drawing (JSON, as /api/predict) or a picture (multipart, as /api/predict/image) -> the answer and why."""
    return jsonify(why.explain_request())


def register_error_handlers(app: Flask) -> None:
    """Every API failure is a JSON {"error": ...} with a 4xx status, never an HTML page or a trace."""

    @app.errorhandler(inputs.InputError)
    def input_error(error: inputs.InputError):
        return jsonify(error=str(error)), error.status, error.headers

    @app.errorhandler(offload.BusyError)
    def busy(_error: offload.BusyError):
        return jsonify(error="the server is busy reading other pictures and numbers: try again in a moment"), \
            503, {"Retry-After": "1"}

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
