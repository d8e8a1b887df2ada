"""LedgerUpkeep: the periodic work worker processes do for the ledger.

Every interval, each worker process runs the outbox relay (safe to run N times at once: jobs are
leased). About once a minute, one process of the whole fleet (a Redis lock) also runs the ledger
check against Redis (ledger_check.py), rolls up the settled hours (jobs/ledger/rollups.py) and
prunes jobs past the retention period (retention.py), and each process refreshes its entry in the
worker registry the admin dashboard shows. No extra daemon to deploy.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone
from dramatiq import Broker
from dramatiq.middleware import Middleware
from redis.exceptions import RedisError

from jobs.brokers.state import announce_worker, withdraw_worker
from jobs.ledger.rollups import roll_up, rolled_up_until
from jobs.maintenance.ledger_check import check_ledger
from jobs.maintenance.relay import send_pending_jobs
from jobs.maintenance.retention import prune

logger = logging.getLogger(__name__)

#: Cache key held by the worker running the ledger check.
FLEET_LOCK = "jobs:ledger-check"
#: Longest a ledger check spends deleting old jobs (it catches up over the following checks).
RETENTION_SECONDS_PER_CHECK = 5.0


class LedgerUpkeep(Middleware):
    def __init__(self, *, interval: float | None = None, relay_grace: float | None = None) -> None:
        self.interval = interval or settings.LEDGER_UPKEEP_INTERVAL_SECONDS
        self.relay_grace = dt.timedelta(seconds=relay_grace or settings.RELAY_GRACE_SECONDS)
        self.check_interval = settings.LEDGER_CHECK_INTERVAL_SECONDS
        self._next_check = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._worker: Any = None
        self._started = time.time()
        self._owner = uuid.uuid4().hex  # who holds the fleet lock, for anyone reading it

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self._broker, self._worker, self._started = broker, worker, time.time()
        try:
            announce_worker(broker, worker, self._started)  # on the dashboard from the start
        except RedisError:
            logger.warning("Could not register this worker; retrying next interval.")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-upkeep", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            withdraw_worker(broker)
        except RedisError:
            logger.warning("Could not withdraw this worker from the registry.", exc_info=True)

    def _run(self) -> None:
        # Jitter, so the workers of one deploy do not all relay at the same instant.
        while not self._stop.wait(self.interval * random.uniform(0.8, 1.2)):  # noqa: S311
            self.run_once()
        connections.close_all()

    def run_once(self) -> None:
        close_old_connections()
        try:
            if self._broker is not None:
                announce_worker(self._broker, self._worker, self._started)
            send_pending_jobs(older_than=self.relay_grace)
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + self.check_interval
                if self._take_fleet_lock():
                    for finding in check_ledger(repair=True):
                        logger.warning(
                            "Ledger check: %s: %s -> %s",
                            finding.job_id,
                            finding.problem,
                            finding.action,
                        )
                    roll_up()
                    if settings.LEDGER_RETENTION_DAYS > 0 and (age := prunable_age()):
                        prune(age, max_seconds=RETENTION_SECONDS_PER_CHECK)
        except (DatabaseError, RedisError, OSError):
            logger.warning("Ledger upkeep failed; retrying next interval.", exc_info=True)
            connections["default"].close()

    def _take_fleet_lock(self) -> bool:
        """One ledger check per interval across all workers (it scans the broker): an atomic
        add in the cache every web and worker process shares, whatever the broker."""
        return bool(cache.add(FLEET_LOCK, self._owner, max(1, int(self.check_interval * 0.9))))


def prunable_age() -> dt.timedelta | None:
    """The retention period, or longer while the rollups catch up: a job is pruned only once
    its hour is counted (jobs/ledger/rollups.py)."""
    retention = dt.timedelta(days=settings.LEDGER_RETENTION_DAYS)
    counted_until = rolled_up_until()
    if counted_until is None:
        return None  # nothing counted yet
    return max(retention, timezone.now() - counted_until)
