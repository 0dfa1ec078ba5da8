"""The corrections' views: POST /api/corrections and the owner's /corrections page.

What is stored: the strokes (or, for a picture, only the 28x28 image the model saw), the canvas
size, the true label, the model's answer and the model file's sha256, and the time. No IP address,
no cookie: the rate limit keeps client addresses in memory only, for a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlsplit

import numpy as np
from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for

from app import current
from app.corrections.store import StoreFullError, StoreUnavailableError
from app.errors import Busy, InputError
from app.reader import preprocessing
from app.reader.answers import DigitAnswer, image_png, preview_data_url
from app.reader.drawing import Drawing
from app.web import metrics, payloads

bp = Blueprint("corrections", __name__)
PAGE_SIZE = 50  # corrections per owner page
MAX_ID = 2**63 - 1  # the largest id either database stores


@bp.post("/api/corrections", provide_automatic_options=False)
def add_correction():
    """Store one drawing (JSON strokes) or picture (multipart image) with its true label: 201 {"id": n}; the
    same drawing or picture with the same label again is stored once: 200 {"id": n, "duplicate": true}."""
    if _cross_site():
        return jsonify(error="corrections are accepted only from this site's own page"), 403
    store = current.corrections()
    address = request.remote_addr or "?"
    wait = store.limit.retry_after(address)
    if wait:
        response = jsonify(error="too many corrections from this address: try again in a minute")
        return response, 429, {"Retry-After": str(int(wait) + 1)}
    row = _row_of_request()
    try:
        new_id, new = store.run(store.store.add, row)
    except Busy:  # the database is slow: the waiting line is full, so do not join it
        return jsonify(error="corrections are queued to the limit: try again shortly"), 503, {"Retry-After": "5"}
    except StoreUnavailableError:  # logged once per outage by the store's breaker
        metrics.CORRECTIONS.labels("failed").inc()
        return jsonify(error="corrections cannot be saved right now: try again later"), 503, {"Retry-After": "5"}
    except StoreFullError:
        metrics.CORRECTIONS.labels("refused").inc()
        return jsonify(error="the corrections store is full: nothing more is stored for now"), 507
    if not new:  # a replay (a double click, a retried request): nothing more to learn, nothing counted
        metrics.CORRECTIONS.labels("duplicate").inc()
        return jsonify(id=new_id, duplicate=True), 200
    store.limit.record(address)  # only what was stored counts
    metrics.CORRECTIONS.labels("stored").inc()
    return jsonify(id=new_id), 201


def _cross_site() -> bool:
    """A browser says where a request comes from: another site's page (Sec-Fetch-Site, else an Origin
    that is not this host) may not write training data. Scripts and curl send neither, and may."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "")
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin", "")
    return bool(origin) and (origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower())


def _row_of_request() -> dict:
    """The row to store for this request's drawing or picture and label (InputError for bad input)."""
    settings = current.settings()
    if request.mimetype == "application/json":
        payload, drawing = payloads.drawing()
        if sum(len(s) for s in drawing.strokes) > settings.correction_max_points:
            raise InputError(f"a correction holds at most {settings.correction_max_points} points", 413)
        if drawing.only_taps(settings.tiny_drawing):
            raise InputError("no digit to learn from: taps and dots are not a digit", 422)
        label = _label(payload.get("label"))
        row = _stroke_row(drawing)
    else:
        data = payloads.picture(run=current.reader().run)
        label = _label(request.form.get("label"))
        row = _picture_row(data)
    return {**row, "label": label}


def _label(value: object) -> int:
    """The true digit: an integer 0-9 in JSON, or exactly one of the texts "0".."9" in a form (" 7 " or "07"
    is refused: a client that sends it is not our page, and a label is not a place to guess)."""
    if isinstance(value, str) and len(value) == 1 and value in "0123456789":
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return value
    raise InputError("label must be the true digit, 0 to 9")


def _stroke_row(drawing: Drawing) -> dict:
    """The row for a drawing: its strokes and the model's answer to them, as /api/predict gives it."""
    answer = current.reader().digit(drawing)
    return {"source": "strokes", "strokes": json.dumps([s.tolist() for s in drawing.strokes]),
            "width": drawing.width, "height": drawing.height, **_model_answer(answer)}


def _picture_row(data: bytes) -> dict:
    """The row for a picture: only the 28x28 image the model saw (not the photo), and the answer
    /api/predict/image gives for it (second look included)."""
    seen = current.reader().digit_in_picture(data)
    return {"source": "picture", "image_png": image_png(seen.image), **_model_answer(seen.answer)}


def _model_answer(answer: DigitAnswer) -> dict:
    """What the model answered (an API answer), as stored beside the label."""
    return {"model_digit": answer["digit"], "model_probabilities": answer["probabilities"],
            "model_sha256": current.reader().cnn.sha256}


@bp.get("/corrections")
def admin_page():
    """The owner's page: corrections newest first, PAGE_SIZE at a time, each with a delete button."""
    _require_owner()
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before <= MAX_ID:  # an id the database cannot hold: no page, no outage
        abort(400)
    try:
        store = current.corrections()
        rows = store.run(store.store.latest, PAGE_SIZE + 1, before)
    except StoreUnavailableError:
        return _private(render_template("corrections.html", rows=None), 503)
    items = [{**row, "thumbnail": _thumbnail(row), "check": _delete_check(row["id"]),
              "confidence": max(json.loads(row["model_probabilities"]))} for row in rows[:PAGE_SIZE]]
    older = items[-1]["id"] if len(rows) > PAGE_SIZE else None
    return _private(render_template("corrections.html", rows=items, older=older, first=before is None))


def _private(body: str, status: int = 200) -> Response:
    """The owner's page is never stored by a browser or a proxy."""
    return Response(body, status, {"Cache-Control": "no-store"}, mimetype="text/html")


@bp.post("/corrections/<int:correction_id>/delete")
def delete_correction(correction_id: int):
    """Delete a mislabelled correction (the form carries a check only the owner's page can make)."""
    _require_owner()
    if not hmac.compare_digest(request.form.get("check", ""), _delete_check(correction_id)):
        abort(403)
    try:
        store = current.corrections()
        store.run(store.store.delete, correction_id)
    except StoreUnavailableError:
        abort(503)
    return redirect(url_for("corrections.admin_page"), 303)


def _require_owner() -> None:
    """404 unless CORRECTIONS_ADMIN_TOKEN is set; 401 (HTTP Basic, the token as password) unless it is given;
    429 for a minute for an address that gave a wrong token OWNER_FAILURES times in a minute (its right
    token too: guessing is not slowed by answers that tell a right guess apart)."""
    token = current.settings().corrections_admin_token
    if not token:
        abort(404)
    failures, address = current.corrections().owner_failures, request.remote_addr or "?"
    wait = failures.retry_after(address)
    if wait:
        abort(Response("too many wrong tokens from this address: try again in a minute", 429,
                       {"Retry-After": str(int(wait) + 1), "Cache-Control": "no-store"}))
    given = request.authorization.password if request.authorization else ""
    if not hmac.compare_digest((given or "").encode(), token.encode()):
        if given:  # a browser's first, credential-less request is no guess
            failures.record(address)
        abort(Response("the owner's token is required", 401,
                       {"WWW-Authenticate": 'Basic realm="Digit Canvas corrections", charset="UTF-8"'}))


def _delete_check(correction_id: int) -> str:
    """A per-correction secret for the delete form: a cross-site form cannot forge it (Basic auth would
    otherwise be sent along by the owner's browser)."""
    key = current.settings().corrections_admin_token.encode()
    return hmac.new(key, f"delete {correction_id}".encode(), hashlib.sha256).hexdigest()


def _thumbnail(row: dict) -> str:
    """The 28x28 image as a data URL: the stored one for a picture, the strokes redrawn for a drawing."""
    if row["image_png"]:
        return "data:image/png;base64," + base64.b64encode(row["image_png"]).decode("ascii")
    drawing = [np.asarray(s, np.float64).reshape(-1, 2) for s in json.loads(row["strokes"])]
    return preview_data_url(preprocessing.render_strokes(drawing))
