"""Static files: fingerprinted URLs cached for a year, gzip for text files, a favicon."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, request, send_from_directory, url_for

_COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml"}
YEAR = 365 * 24 * 3600


def register(app: Flask) -> None:
    """static_url() for templates, long caching of fingerprinted files, gzip, and /favicon.ico."""
    folder = Path(app.static_folder)

    @lru_cache(maxsize=64)
    def fingerprint(filename: str, mtime: float) -> str:
        return hashlib.sha256((folder / filename).read_bytes()).hexdigest()[:12]

    @app.template_global()
    def static_url(filename: str) -> str:
        """The file's URL with a content hash: a new version is a new URL, so it can be cached for a year."""
        version = fingerprint(filename, (folder / filename).stat().st_mtime)
        return url_for("static", filename=filename, v=version)

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)

    @app.after_request
    def cache_and_compress(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code != 200:
            return response
        # Fingerprinted URLs never change; a bare URL may (an old page, a bookmark): check each time.
        response.headers["Cache-Control"] = (f"public, max-age={YEAR}, immutable" if request.args.get("v")
                                             else "no-cache")
        if response.mimetype in _COMPRESSIBLE and "gzip" in request.headers.get("Accept-Encoding", ""):
            path = folder / request.view_args["filename"]
            body = _gzipped(str(path), path.stat().st_mtime)
            response.direct_passthrough = False
            response.set_data(body)
            response.headers["Content-Encoding"] = "gzip"
            response.headers.pop("ETag", None)  # the file's ETag names the uncompressed bytes
            response.vary.add("Accept-Encoding")
        return response


@lru_cache(maxsize=32)
def _gzipped(path: str, mtime: float) -> bytes:
    """A static file's bytes, gzipped once per version."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)
