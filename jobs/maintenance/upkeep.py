"""LedgerUpkeep: the thread in each worker process that ticks the ledger's periodic duties.

At boot and every interval it checks the database and the broker (this process's health file,
jobs/worker/health.py), refreshes this process's entry in the worker registry, stores this process's
schedule declarations (once), and runs the duties that are due (jobs/maintenance/duties.py: the
relay, the schedules, the ledger check, retention with rollups, alerts), each once per
interval across the fleet. No extra daemon to deploy, and no upkeep job in any queue.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from dramatiq import Broker
from dramatiq.middleware import Middleware
from redis.exceptions import RedisError

from jobs.brokers.state import announce_worker, withdraw_worker
from jobs.maintenance.duties import run_due_duties
from jobs.schedules.scheduler import sync_declarations
from jobs.worker import health

logger = logging.getLogger(__name__)


class LedgerUpkeep(Middleware):
    def __init__(self, *, interval: float | None = None) -> None:
        self.interval = interval or settings.LEDGER_UPKEEP_INTERVAL_SECONDS
        self._synced = False  # this process's schedule declarations stored
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._worker: Any = None
        self._started = time.time()

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self._broker, self._worker, self._started = broker, worker, time.time()
        self._stop.clear()
        # The thread starts whatever the database and broker say now: it retries each tick.
        # (It once started only after a registration that caught Redis errors alone, so a
        # worker booted while the database was down never ran its upkeep.)
        self._thread = threading.Thread(target=self._run, name="ledger-upkeep", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        health.forget()
        try:
            withdraw_worker(broker)
        except (DatabaseError, RedisError):
            logger.warning("Could not withdraw this worker from the registry.", exc_info=True)

    def _run(self) -> None:
        self.run_once()  # on the dashboard, and healthy, from the start
        # Jitter, so the workers of one deploy do not all relay at the same instant.
        while not self._stop.wait(self.interval * random.uniform(0.8, 1.2)):  # noqa: S311
            self.run_once()
        connections.close_all()

    def run_once(self) -> list[str]:
        """One tick: returns the duties this process ran."""
        close_old_connections()
        found = health.problems()
        try:
            health.record(found)
        except OSError:
            logger.warning("Could not write this worker's health file.", exc_info=True)
        if found:
            logger.warning("Worker unhealthy, retrying next interval: %s", "; ".join(found))
            return []
        try:
            if self._broker is not None:
                announce_worker(self._broker, self._worker, self._started)
            if settings.JOBS_SCHEDULER_ENABLED and not self._synced:
                sync_declarations()
                self._synced = True
            return run_due_duties(self._identity())
        except (DatabaseError, RedisError, OSError):
            logger.warning("Ledger upkeep failed; retrying next interval.", exc_info=True)
            connections["default"].close()
            return []

    def _identity(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"
