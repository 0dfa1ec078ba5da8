"""The drawing or picture in a request, validated the same way for every endpoint that takes one."""

from __future__ import annotations

from collections.abc import Callable

from flask import Request, request
from werkzeug.exceptions import HTTPException

from app import current
from app.errors import InputError
from app.reader.drawing import Drawing, parse_drawing

PICTURE_FIELD_MISSING = 'send the picture as multipart/form-data in a field named "image"'


def drawing(run: Callable | None = None) -> tuple[dict, Drawing]:
    """The JSON body and its validated drawing; 415, 400, 413 or 422 as the API promises.

    run: where to parse (the reader's pool, for endpoints whose bodies may be large and whose work runs
    off the event loop anyway: parsing 10,000 points takes about 9 ms); here by default.
    """
    if request.mimetype != "application/json":
        raise InputError("send Content-Type: application/json", 415)
    if run is None:
        return parse_drawing(request.get_data(), current.settings())
    return run(parse_drawing, request.get_data(), current.settings())


def picture(run: Callable | None = None) -> bytes:
    """The bytes of the multipart field "image"; 415 when not multipart, 400 when malformed or missing.

    run: where to parse the form (the reader's pool: werkzeug parses a 10 MB body in Python for about 14 ms,
    which on the event loop would hold up every drawing meanwhile); here by default.
    """
    if request.mimetype != "multipart/form-data":
        raise InputError(PICTURE_FIELD_MISSING, 415)
    if run is None:
        return picture_field(request._get_current_object())
    return run(picture_field, request._get_current_object())


def picture_field(request: Request) -> bytes:
    """picture() for a given request, in any thread."""
    try:
        upload = request.files.get("image")
        data = upload.read() if upload is not None else None
    except HTTPException:  # too many parts or fields over the form limits: 413
        raise
    except Exception:  # noqa: BLE001 - a malformed multipart body is the client's error
        raise InputError("could not read the multipart form") from None
    # The form is parsed (its fields are kept): the raw body, up to 10 MB, is not needed while the picture
    # is read, and several uploads at once per worker each held a copy of it.
    request.environ["wsgi.input"].close()
    if data is None:
        raise InputError(PICTURE_FIELD_MISSING)
    return data
