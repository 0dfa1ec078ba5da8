"""What every request goes through, whatever it asks: its body read in full (body), an id and a log line
(requestlog), the metrics (metrics, on a listener of their own), the security headers (security, headers),
static files (static_files), a per-address limit (ratelimit), and the pool that keeps costly work off the
event loop (offload). gunicorn's settings are app/gunicorn_conf.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from app.web import body, metrics, requestlog, security, static_files

if TYPE_CHECKING:
    from app import DigitCanvas


def init_app(app: DigitCanvas) -> None:
    """Register the request pipeline on the app: the request log first, so that every answer (an OPTIONS,
    a 413 or 503 while the body is read) carries the request's id."""
    requestlog.register(app)
    metrics.init_app(app)
    body.init_app(app)
    security.register(app)
    static_files.register(app)
    proxies = app.settings.trusted_proxies
    if proxies:
        # Only the headers the proxy sets and overwrites (deploy/nginx.conf: X-Forwarded-For, -Proto and
        # Host): a client's own X-Forwarded-Host passes through nginx untouched, so it is never trusted.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0)
