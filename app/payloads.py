"""The drawing or picture in a request, validated the same way for every endpoint that takes one."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from flask import current_app, request
from werkzeug.exceptions import HTTPException

from app import inputs, preprocessing

PICTURE_FIELD_MISSING = 'send the picture as multipart/form-data in a field named "image"'


def drawing(run: Callable[..., tuple[dict, list[np.ndarray]]] | None = None) -> tuple[dict, list[np.ndarray]]:
    """The JSON body and its validated strokes; 415, 400, 413 or 422 as the API promises.

    run: where to parse (the offloader, for endpoints whose bodies may be large and whose work runs
    off the event loop anyway: parsing 10,000 points takes about 9 ms); here by default.
    """
    if request.mimetype != "application/json":
        raise inputs.InputError("send Content-Type: application/json", 415)
    limits = {key: current_app.config[key] for key in ("MAX_STROKES", "MAX_POINTS", "MAX_CANVAS")}
    if run is None:
        return parse_drawing(request.get_data(), limits)
    return run(parse_drawing, request.get_data(), limits)


def parse_drawing(data: bytes, limits: Mapping[str, int]) -> tuple[dict, list[np.ndarray]]:
    """A drawing body's JSON and its validated strokes (no request context: runs in any thread)."""
    payload = inputs.parse_json(data)
    return payload, inputs.parse_strokes(payload, limits)


def drawn_image(strokes: list[np.ndarray]) -> np.ndarray:
    """The strokes drawn as the model's 28x28 input; 422 when that holds no ink."""
    image = preprocessing.render_strokes(strokes)
    if not preprocessing.has_ink(image):
        raise inputs.InputError("no ink: draw a digit first", 422)
    return image


def tiny_extent(payload: dict) -> float:
    """The size under which a drawing is a tap or a tick, not a digit: a share of the canvas's shorter side."""
    return current_app.config["TINY_DRAWING"] * min(payload["width"], payload["height"])


def picture() -> bytes:
    """The bytes of the multipart field "image"; 415 when not multipart, 400 when malformed or missing."""
    if request.mimetype != "multipart/form-data":
        raise inputs.InputError(PICTURE_FIELD_MISSING, 415)
    try:
        upload = request.files.get("image")
        data = upload.read() if upload is not None else None
    except HTTPException:  # too many parts or fields over the form limits: 413
        raise
    except Exception:  # noqa: BLE001 - a malformed multipart body is the client's error
        raise inputs.InputError("could not read the multipart form") from None
    if data is None:
        raise inputs.InputError(PICTURE_FIELD_MISSING)
    return data
