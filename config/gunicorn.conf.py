"""gunicorn's settings for `make serve`: its asyncio (ASGI) worker, so a slow client costs a
coroutine, not a worker (docs/PERFORMANCE.md, slow clients). Each value from the environment."""

from __future__ import annotations

import multiprocessing
import os

wsgi_app = "config.asgi:application"
worker_class = "asgi"
bind = [f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"]  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Open connections per worker process (slow ones included) before it stops accepting.
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "1000"))
# Load the app once in the master: a bad setting (e.g. SECRET_KEY) stops the start with its line.
preload_app = True
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# One JSON object per access line, like every other log line in production; values escaped.
logger_class = "config.gunicorn_logging.JsonAccessLogger"
access_log_format = (
    '{"time": "%(t)s", "level": "INFO", "logger": "gunicorn.access", "request_id": '
    '"%({x-request-id}o)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"bytes": "%(B)s", "seconds": %(L)s, "remote": "%(h)s"}'
)


def post_worker_init(worker: object) -> None:
    """Each web process watches the alerts (jobs/maintenance/watch.py): a thread started after
    the fork, since a preloading master's threads do not survive it."""
    from jobs.maintenance.watch import start_watch

    start_watch()
