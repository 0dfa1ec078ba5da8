"""Static files: fingerprinted URLs cached for a year, gzip for text files, a favicon.

The page's scripts are native ES modules (static/js/). A module's fingerprint covers the modules it
imports, and its relative imports are served rewritten to their fingerprinted URLs, so every module,
not only the entry script, can be cached for a year and a change anywhere reaches every browser.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
import re
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, request, send_from_directory, url_for

_COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml"}
YEAR = 365 * 24 * 3600
# `import ... from "./x.js"`, `import "./x.js"`, `export ... from "./x.js"`: relative module specifiers.
_IMPORT = re.compile(r"""(\b(?:from|import)\s*)(["'])(\.{1,2}/[\w./-]+\.js)\2""")


@lru_cache(maxsize=128)
def _read(path: str, mtime: float) -> tuple[str, bytes, tuple[str, ...]]:
    """A file's own sha256, bytes and (a module's) relative import specifiers, once per version."""
    data = Path(path).read_bytes()
    specifiers = tuple(m.group(3) for m in _IMPORT.finditer(data.decode("utf-8", "replace"))) \
        if path.endswith(".js") else ()
    return hashlib.sha256(data).hexdigest(), data, specifiers


class StaticFiles:
    """Fingerprints and module bodies for the files under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, filename: str) -> tuple[str, bytes, tuple[str, ...]]:
        path = self.folder / filename
        return _read(str(path), path.stat().st_mtime)

    def _imports(self, filename: str) -> list[str]:
        """The static files a module imports, as paths under the folder."""
        base = posixpath.dirname(filename)
        return [posixpath.normpath(posixpath.join(base, spec)) for spec in self._file(filename)[2]]

    def fingerprint(self, filename: str, seen: frozenset = frozenset()) -> str:
        """12 hex digits that change when the file, or any module it imports, changes."""
        digest = hashlib.sha256(self._file(filename)[0].encode())
        for imported in self._imports(filename):
            if imported not in seen and (self.folder / imported).is_file():
                digest.update(self.fingerprint(imported, seen | {filename}).encode())
        return digest.hexdigest()[:12]

    def body(self, filename: str) -> bytes:
        """The file as served: a module's relative imports pointing at their fingerprinted URLs."""
        data = self._file(filename)[1]
        if not filename.endswith(".js"):
            return data
        base = posixpath.dirname(filename)

        def versioned(match: re.Match) -> str:
            target = posixpath.normpath(posixpath.join(base, match.group(3)))
            if not (self.folder / target).is_file():
                return match.group(0)
            return f"{match.group(1)}{match.group(2)}{match.group(3)}?v={self.fingerprint(target)}{match.group(2)}"

        return _IMPORT.sub(versioned, data.decode("utf-8")).encode("utf-8")


def register(app: Flask) -> None:
    """static_url() for templates, long caching of fingerprinted files, gzip, and /favicon.ico."""
    folder = Path(app.static_folder)
    files = StaticFiles(folder)

    @app.template_global()
    def static_url(filename: str) -> str:
        """The file's URL with a content hash: a new version is a new URL, so it can be cached for a year."""
        return url_for("static", filename=filename, v=files.fingerprint(filename))

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)

    @app.after_request
    def cache_and_compress(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code not in (200, 206, 304, 416):
            return response
        if response.status_code == 416 and not request.view_args["filename"].endswith(".js"):
            return response  # a range past a plain file's end: answered as send_file answered it
        # Fingerprinted URLs never change; a bare URL may (an old page, a bookmark): check each time.
        response.headers["Cache-Control"] = (f"public, max-age={YEAR}, immutable" if request.args.get("v")
                                             else "no-cache")
        filename = request.view_args["filename"]
        if filename.endswith(".js") and response.status_code in (200, 206, 416):
            # Served rewritten: its validator is the fingerprint, not the file's date, and a range is a
            # range of the rewritten body (the file's own bytes would be another module).
            response.status_code = 200  # send_file judged the range against the file: judged again below
            response.headers.pop("Content-Range", None)
            response.direct_passthrough = False
            body = files.body(filename)
            response.set_data(body)
            response.headers.pop("Last-Modified", None)
            response.set_etag(files.fingerprint(filename))
            response.make_conditional(request, accept_ranges=True, complete_length=len(body))
        if response.status_code != 200:
            return response
        if response.mimetype in _COMPRESSIBLE and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = _gzipped(files.body(filename))
            response.direct_passthrough = False
            response.set_data(body)
            response.headers["Content-Encoding"] = "gzip"
            if not filename.endswith(".js"):
                response.headers.pop("ETag", None)  # the file's ETag names the uncompressed bytes
            response.vary.add("Accept-Encoding")
        return response


@lru_cache(maxsize=32)
def _gzipped(data: bytes) -> bytes:
    """Bytes gzipped once per version."""
    return gzip.compress(data, compresslevel=9, mtime=0)
