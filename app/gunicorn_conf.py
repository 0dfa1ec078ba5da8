"""gunicorn settings for `make run` and bench/latency.py (environment variables override)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent: one event loop per worker holds every keep-alive connection (the page posts every 50 ms
# while someone draws) without a thread hop per request. Against gthread with 4 threads, medians
# of 3 bench runs: p50 1.18 ms vs 1.33 ms, 1379 vs 1351 req/s. A prediction is CPU work that never
# yields, so a worker runs one at a time either way; the workers use the cores.
# GUNICORN_WORKER_CLASS=gthread switches.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_CONNECTIONS", "1000"))  # per gevent worker
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # per gthread worker
keepalive = 30
# No preload: each worker imports the app, and so loads the model, after the fork.
preload_app = False
accesslog = os.environ.get("ACCESS_LOG") or None
