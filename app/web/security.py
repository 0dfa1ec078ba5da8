"""Security headers on every response: no inline script, no framing, no MIME sniffing, no referrer."""

from __future__ import annotations

from flask import Flask, Response

from app.web.headers import HEADERS

_HEADER_LIST = list(HEADERS.items())


def register(app: Flask) -> None:
    """Add HEADERS to every response the app sends, errors included."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers.extend(_HEADER_LIST)  # no view sets these; extend skips a lookup per header
        return response
