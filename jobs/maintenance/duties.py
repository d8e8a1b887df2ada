"""The ledger's periodic duties, one mechanism: each duty is a function of jobs/maintenance/ and
an interval; every worker process's upkeep thread ticks (jobs/maintenance/upkeep.py) and runs
the duties that are due, each once per interval across the fleet (a `Duty` row per duty: the
process whose conditional update moves its due time runs it). What each run did, its duration
and its error are kept on that row for staff (the admin's Duties page).

Duties are not jobs: they never wait behind the work they watch in a queue, and they do not
fill the job list (before, the ledger check, retention and alerts ran as ~3,100 schedule jobs a
day in `default`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from jobs.ledger.rollups import roll_up
from jobs.maintenance.alerts import check_alerts
from jobs.maintenance.ledger_check import check_ledger
from jobs.maintenance.relay import send_pending_jobs
from jobs.maintenance.retention import prune
from jobs.models import Duty
from jobs.schedules.scheduler import run_due_schedules

logger = logging.getLogger(__name__)

#: Longest one retention run spends deleting old jobs (the next runs catch up).
RETENTION_SECONDS_PER_RUN = 10.0


@dataclass(frozen=True)
class DutySpec:
    name: str
    every: Callable[[], dt.timedelta]  # read from settings when ticked
    run: Callable[[], dict[str, Any]]
    description: str


def relay() -> dict[str, Any]:
    """Send the pending jobs whose send failed, and those pending past the relay's grace."""
    grace = dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS)
    return {"sent": send_pending_jobs(older_than=grace)}


def schedules() -> dict[str, Any]:
    """Enqueue the due instant of every schedule (each once: its uniqueness key names it)."""
    if not settings.JOBS_SCHEDULER_ENABLED:
        return {"enqueued": 0, "disabled": True}
    return {"enqueued": len(run_due_schedules())}


def ledger_check() -> dict[str, Any]:
    """The ledger against the broker, repairing what it finds."""
    findings = check_ledger(repair=True)
    for finding in findings:
        logger.warning(
            "Ledger check: %s: %s -> %s", finding.job_id, finding.problem, finding.action
        )
    return {"findings": len(findings)}


def retention(max_seconds: float = RETENTION_SECONDS_PER_RUN) -> dict[str, Any]:
    """Roll up the settled hours, then prune finished jobs past the retention period (only
    those whose hour is counted), for at most `max_seconds` (the next runs catch up)."""
    hours = roll_up()
    pruned = 0
    if settings.LEDGER_RETENTION_DAYS > 0:
        retention_period = dt.timedelta(days=settings.LEDGER_RETENTION_DAYS)
        pruned = prune(retention_period, max_seconds=max_seconds).jobs
    return {"hours_rolled_up": hours, "jobs_pruned": pruned}


def alerts() -> dict[str, Any]:
    """Open and resolve alert incidents; notify each change once per channel."""
    return {"notified": [f"{n.incident.rule}: {n}" for n in check_alerts()]}


def _seconds(setting: str, share: float = 1.0) -> Callable[[], dt.timedelta]:
    return lambda: dt.timedelta(seconds=getattr(settings, setting) * share)


#: The relay and the schedules are due every half tick: a process's ticks come every 0.8 to 1.2
#: intervals (jitter), so each of its ticks finds them due, and the fleet runs each at most
#: twice per interval.
EVERY_TICK = _seconds("LEDGER_UPKEEP_INTERVAL_SECONDS", 0.5)

DUTIES = (
    DutySpec("relay", EVERY_TICK, relay, relay.__doc__ or ""),
    DutySpec("schedules", EVERY_TICK, schedules, schedules.__doc__ or ""),
    DutySpec(
        "ledger-check",
        _seconds("LEDGER_CHECK_INTERVAL_SECONDS"),
        ledger_check,
        ledger_check.__doc__ or "",
    ),
    DutySpec("retention", lambda: dt.timedelta(minutes=1), retention, retention.__doc__ or ""),
    DutySpec("alerts", _seconds("ALERTS_INTERVAL_SECONDS"), alerts, alerts.__doc__ or ""),
)


def run_due_duties(
    worker: str, now: dt.datetime | None = None, *, only: Collection[str] | None = None
) -> list[str]:
    """Run every duty due now (of `only`, if given) that no other process took first; returns
    the names run."""
    due = claim_due(worker, now or timezone.now(), only)
    for spec in DUTIES:
        if spec.name in due:
            run_one(spec)
    return [spec.name for spec in DUTIES if spec.name in due]


def claim_due(worker: str, now: dt.datetime, only: Collection[str] | None = None) -> set[str]:
    """Move the due time of every due duty one interval on; the duties moved are this
    process's to run (row locks: two processes never take the same one)."""
    every = {spec.name: spec.every() for spec in DUTIES}
    if Duty.objects.filter(name__in=every).count() < len(every):  # a write only the first time
        Duty.objects.bulk_create(
            [Duty(name=name, next_due_at=now) for name in every], ignore_conflicts=True
        )
    names = [name for name in every if only is None or name in only]
    with transaction.atomic():
        due = list(
            Duty.objects.select_for_update(skip_locked=True).filter(
                name__in=names, next_due_at__lte=now
            )
        )
        for duty in due:
            duty.next_due_at = now + every[duty.name]
            duty.every = every[duty.name]
            duty.last_started_at, duty.taken_by = now, worker
        Duty.objects.bulk_update(due, ["next_due_at", "every", "last_started_at", "taken_by"])
    return {duty.name for duty in due}


def run_one(spec: DutySpec) -> None:
    """Run a duty and keep what it did (or its error) on its row."""
    started = time.monotonic()
    outcome: dict[str, Any] = {}
    error = ""
    try:
        outcome = spec.run()
    except (DatabaseError, RedisError, OSError) as exc:
        logger.warning("Duty %s failed; it runs again next interval.", spec.name, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug in one duty must not stop the others
        logger.exception("Duty %s failed.", spec.name)
        error = f"{type(exc).__name__}: {exc}"
    try:
        Duty.objects.filter(name=spec.name).update(
            last_finished_at=timezone.now(),
            last_seconds=time.monotonic() - started,
            last_outcome=outcome,
            last_error=error[:2000],
        )
    except DatabaseError:
        logger.warning("Could not record the run of duty %s.", spec.name, exc_info=True)
