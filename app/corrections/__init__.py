"""Corrections people send ("Wrong? It was a 4"): POST /api/corrections and the owner's /corrections page.

What is stored: the strokes (or, for a picture, only the 28x28 image the model saw), the canvas
size, the true label, the model's answer and the model file's sha256, and the time. No IP address,
no cookie: the rate limit keeps client addresses in memory only, for a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import numpy as np
from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for

from app import inference, inputs, payloads, pictures, preprocessing
from app.corrections.store import StoreUnavailableError

bp = Blueprint("corrections", __name__)


@bp.post("/api/corrections", provide_automatic_options=False)
def add_correction():
    """Store one drawing (JSON strokes) or picture (multipart image) with its true label: 201 {"id": n}."""
    wait = current_app.extensions["corrections_limit"].retry_after(request.remote_addr or "?")
    if wait:
        response = jsonify(error="too many corrections from this address: try again in a minute")
        return response, 429, {"Retry-After": str(int(wait) + 1)}
    if request.mimetype == "application/json":
        payload, strokes = payloads.drawing()
        label = _label(payload.get("label"))
        row = _stroke_row(payload, strokes)
    else:
        data = payloads.picture()
        label = _label(request.form.get("label"))
        row = _picture_row(data)
    row["label"] = label
    store = current_app.extensions["corrections"]
    try:
        new_id = current_app.extensions["store_thread"].run(store.add, row)
    except StoreUnavailableError as error:
        current_app.logger.warning("corrections store unavailable: %s", error)
        return jsonify(error="corrections cannot be saved right now: try again later"), 503
    return jsonify(id=new_id), 201


def _label(value: object) -> int:
    """The true digit: an integer 0-9 in JSON, or the text "0".."9" in a form."""
    if isinstance(value, str) and value.strip() in tuple("0123456789"):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return value
    raise inputs.InputError("label must be the true digit, 0 to 9")


def _stroke_row(payload: dict, strokes: list[np.ndarray]) -> dict:
    """The row for a drawing: its strokes and the model's answer to them, as /api/predict gives it."""
    image = payloads.drawn_image(strokes)
    probabilities = current_app.extensions["drawing_reader"].predict(strokes, image)
    return {"source": "strokes", "strokes": json.dumps([s.tolist() for s in strokes]),
            "width": float(payload["width"]), "height": float(payload["height"]), **_model_answer(probabilities)}


def _picture_row(data: bytes) -> dict:
    """The row for a picture: only the 28x28 image the model saw (not the photo), and the model's answer."""
    image = current_app.extensions["offloader"].run(pictures.picture_to_mnist, data,
                                                    current_app.config["MAX_IMAGE_PIXELS"])
    if not image.any():
        raise inputs.InputError("no digit found in the image: it looks blank", 422)
    probabilities = current_app.extensions["digit_model"].predict(image[None])[0]
    return {"source": "picture", "image_png": inference.image_png(image), **_model_answer(probabilities)}


def _model_answer(probabilities: np.ndarray) -> dict:
    """What the model answered, as stored beside the label."""
    model = current_app.extensions["digit_model"]
    answer = inference.summarize(probabilities, current_app.config["UNSURE_THRESHOLD"])
    return {"model_digit": answer["digit"], "model_probabilities": answer["probabilities"],
            "model_sha256": model.sha256}


@bp.get("/corrections")
def admin_page():
    """The owner's page: the latest corrections as 28x28 thumbnails, each with a delete button."""
    _require_owner()
    try:
        rows = current_app.extensions["store_thread"].run(current_app.extensions["corrections"].latest, 200)
    except StoreUnavailableError:
        return render_template("corrections.html", rows=None), 503
    items = [{**row, "thumbnail": _thumbnail(row), "check": _delete_check(row["id"]),
              "confidence": max(json.loads(row["model_probabilities"]))} for row in rows]
    return render_template("corrections.html", rows=items)


@bp.post("/corrections/<int:correction_id>/delete")
def delete_correction(correction_id: int):
    """Delete a mislabelled correction (the form carries a check only the owner's page can make)."""
    _require_owner()
    if not hmac.compare_digest(request.form.get("check", ""), _delete_check(correction_id)):
        abort(403)
    try:
        current_app.extensions["store_thread"].run(current_app.extensions["corrections"].delete, correction_id)
    except StoreUnavailableError:
        abort(503)
    return redirect(url_for("corrections.admin_page"), 303)


def _require_owner() -> None:
    """404 unless CORRECTIONS_ADMIN_TOKEN is set; 401 (HTTP Basic, the token as password) unless it is given."""
    token = current_app.config.get("CORRECTIONS_ADMIN_TOKEN") or ""
    if not token:
        abort(404)
    given = request.authorization.password if request.authorization else ""
    if not hmac.compare_digest((given or "").encode(), token.encode()):
        abort(Response("the owner's token is required", 401,
                       {"WWW-Authenticate": 'Basic realm="Digit Canvas corrections", charset="UTF-8"'}))


def _delete_check(correction_id: int) -> str:
    """A per-correction secret for the delete form: a cross-site form cannot forge it (Basic auth would
    otherwise be sent along by the owner's browser)."""
    key = current_app.config["CORRECTIONS_ADMIN_TOKEN"].encode()
    return hmac.new(key, f"delete {correction_id}".encode(), hashlib.sha256).hexdigest()


def _thumbnail(row: dict) -> str:
    """The 28x28 image as a data URL: the stored one for a picture, the strokes redrawn for a drawing."""
    if row["image_png"]:
        return "data:image/png;base64," + base64.b64encode(row["image_png"]).decode("ascii")
    drawing = [np.asarray(s, np.float64).reshape(-1, 2) for s in json.loads(row["strokes"])]
    return inference.preview_data_url(preprocessing.render_strokes(drawing))
