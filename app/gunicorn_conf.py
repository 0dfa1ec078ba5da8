"""gunicorn settings for `make run` and bench/latency.py (environment variables override)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep HTTP keep-alive connections open, and the page's requests overlap while drawing.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 30
# No preload: each worker imports the app, and so loads the model, after the fork.
preload_app = False
accesslog = os.environ.get("ACCESS_LOG") or None
