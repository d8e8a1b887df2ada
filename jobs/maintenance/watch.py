"""The web processes' watch: a thread in each web server process that ticks the `alerts` duty.

The rules that watch the workers (none alive, a schedule missed, a queue waiting) cannot be
checked by the workers alone: with every worker stopped nothing would check them. The web
processes tick the same duty row as the workers' upkeep (jobs/maintenance/duties.py), so the
fleet still checks once per interval, whichever process comes first. If the web is down too,
the Prometheus rules of docs/DEPLOY.md see it from outside.

Started by gunicorn's `post_worker_init` (config/gunicorn.conf.py) and by the WSGI entry point
(`runserver`, other WSGI servers); never by tests, migrations or management commands.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from redis.exceptions import RedisError

from jobs.maintenance.duties import run_due_duties

logger = logging.getLogger(__name__)

#: The duties a web process ticks: only the alerts (the others act on the broker and the jobs).
WATCHED = ("alerts",)

_started_in: int | None = None  # the pid whose watch runs (a forked child starts its own)
_lock = threading.Lock()


def start_watch() -> bool:
    """Start this process's watch thread unless it runs or is disabled; True if it runs."""
    global _started_in
    if not settings.WEB_WATCH_ENABLED:
        return False
    with _lock:
        if _started_in == os.getpid():
            return True
        _started_in = os.getpid()
    threading.Thread(target=_watch, name="offload-watch", daemon=True).start()
    return True


def tick(identity: str) -> list[str]:
    """Run the watched duties that are due; returns those this process ran."""
    close_old_connections()
    try:
        return run_due_duties(identity, only=WATCHED)
    except (DatabaseError, RedisError, OSError):
        logger.warning("The web's alerts watch failed; retrying next interval.", exc_info=True)
        connections["default"].close()
        return []


def _watch() -> None:
    identity = f"web:{socket.gethostname()}:{os.getpid()}"
    # Half an interval (with jitter): a rule fires within 1.5 intervals of its condition.
    while True:
        time.sleep(settings.ALERTS_INTERVAL_SECONDS * random.uniform(0.4, 0.6))  # noqa: S311
        tick(identity)
