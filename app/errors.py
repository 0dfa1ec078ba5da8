"""What a request can get wrong, and how every failure is answered: JSON {"error": ...}, never a trace.

Readers raise these (never return None for "no digit"); the handlers below turn them into answers.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

NO_INK_DRAWN = "no ink: draw a digit first"
NO_DIGIT_IN_PICTURE = "no digit found in the image: send a picture of a written number"
BLANK_PICTURE = "no digit found in the image: it looks blank"
# Said to a person: what went wrong in their words, not the measure that tripped (pieces of centre line...).
TOO_MUCH_INK = ("too much ink to read as a number: this looks like a drawing, a pattern or a whole page; "
                "send a picture of a written number on plain paper")
BUSY = "the server is busy reading other pictures and numbers: try again in a moment"


class InputError(ValueError):
    """A request the server cannot answer; carries the HTTP status to send."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class NoInk(InputError):  # noqa: N818 - named for what the person did, like the API's message
    """A drawing or picture with nothing to read (422); the message says which."""

    def __init__(self, message: str = NO_INK_DRAWN) -> None:
        super().__init__(message, 422)


class TooMuchInk(InputError):  # noqa: N818 - as NoInk
    """A picture with far more ink than any written number (noise, hatching, a page of text): 422 in plain
    words; `detail` keeps the measure that tripped, for logs and tests."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(TOO_MUCH_INK, 422)
        self.detail = detail


class Busy(Exception):  # noqa: N818 - "the server is busy", as the 503 says
    """Too many jobs wait already, or this one waited past its deadline: the client should retry (503)."""


def register(app: Flask) -> None:
    """Every API failure is a JSON {"error": ...} with a 4xx status (503 when busy), never an HTML page or a trace."""

    @app.errorhandler(InputError)
    def input_error(error: InputError):
        return jsonify(error=str(error)), error.status, error.headers

    @app.errorhandler(Busy)
    def busy(_error: Busy):
        return jsonify(error=BUSY), 503, {"Retry-After": "1"}

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
