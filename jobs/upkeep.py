"""LedgerUpkeep: the periodic work each worker process does for the ledger (the outbox relay).

Running it inside the workers means no extra daemon to deploy: with N worker processes on M
machines it runs N*M times per interval, which the relay's row locking makes safe.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from dramatiq import Broker
from dramatiq.middleware import Middleware
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class LedgerUpkeep(Middleware):
    def __init__(self, *, interval: float | None = None, relay_grace: float | None = None) -> None:
        self.interval = interval or settings.LEDGER_UPKEEP_INTERVAL_SECONDS
        self.relay_grace = dt.timedelta(seconds=relay_grace or settings.RELAY_GRACE_SECONDS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-upkeep", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        # Jitter, so the workers of one deploy do not all relay at the same instant.
        while not self._stop.wait(self.interval * random.uniform(0.8, 1.2)):  # noqa: S311
            self.run_once()
        connections.close_all()

    def run_once(self) -> None:
        from .relay import send_pending_jobs  # lazy: django-dramatiq loads middleware first

        close_old_connections()
        try:
            send_pending_jobs(older_than=self.relay_grace)
        except (DatabaseError, RedisError, OSError):
            logger.warning("Ledger upkeep failed; retrying next interval.", exc_info=True)
            connections["default"].close()
