"""LedgerUpkeep: the periodic work worker processes do for the ledger, in a thread of each.

Every interval, each worker process refreshes its entry in the worker registry, runs the outbox
relay (safe to run N times at once: jobs are leased) and the scheduler (jobs/schedules: each
instant's job enqueued once across the fleet). The ledger check, rollups with retention, and the
alert rules are schedules of their own (jobs/tasks.py), run as jobs. No extra daemon to deploy.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from typing import Any

from django.conf import settings
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
from jobs.schedules.scheduler import run_due_schedules, sync_declarations

logger = logging.getLogger(__name__)

#: Longest one retention run spends deleting old jobs (the next runs catch up).
RETENTION_SECONDS_PER_RUN = 30.0


class LedgerUpkeep(Middleware):
    def __init__(self, *, interval: float | None = None, relay_grace: float | None = None) -> None:
        self.interval = interval or settings.LEDGER_UPKEEP_INTERVAL_SECONDS
        self.relay_grace = dt.timedelta(seconds=relay_grace or settings.RELAY_GRACE_SECONDS)
        self._synced = False  # this process's schedule declarations stored
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._worker: Any = None
        self._started = time.time()

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
            if settings.JOBS_SCHEDULER_ENABLED:
                if not self._synced:
                    sync_declarations()
                    self._synced = True
                run_due_schedules()
        except (DatabaseError, RedisError, OSError):
            logger.warning("Ledger upkeep failed; retrying next interval.", exc_info=True)
            connections["default"].close()


def ledger_check_duty() -> int:
    """The ledger check, repairing what it finds; returns how many findings."""
    findings = check_ledger(repair=True)
    for finding in findings:
        logger.warning(
            "Ledger check: %s: %s -> %s", finding.job_id, finding.problem, finding.action
        )
    return len(findings)


def retention_duty(max_seconds: float = RETENTION_SECONDS_PER_RUN) -> dict[str, int]:
    """Roll up the settled hours, then prune finished jobs past the retention period (only
    those whose hour is counted), for at most `max_seconds` (the next runs catch up)."""
    hours = roll_up()
    pruned = 0
    if settings.LEDGER_RETENTION_DAYS > 0 and (age := prunable_age()):
        pruned = prune(age, max_seconds=max_seconds).jobs
    return {"hours_rolled_up": hours, "jobs_pruned": pruned}


def prunable_age() -> dt.timedelta | None:
    """The retention period, or longer while the rollups catch up: a job is pruned only once
    its hour is counted (jobs/ledger/rollups.py)."""
    retention = dt.timedelta(days=settings.LEDGER_RETENTION_DAYS)
    counted_until = rolled_up_until()
    if counted_until is None:
        return None  # nothing counted yet
    return max(retention, timezone.now() - counted_until)
