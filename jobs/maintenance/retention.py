"""Retention: delete finished jobs (and their events) older than a cutoff, in short batches.

Each batch is one transaction touching only its own rows (ids picked through the finished-at
index, events deleted through their job index, plain DELETEs without Django's collector), so the
admin and the workers never wait long on it. The batch size adapts to keep each batch near
TARGET_BATCH_SECONDS. Run by `manage.py prune_jobs` and, with LEDGER_RETENTION_DAYS set, by the
workers' periodic ledger check.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from django.db import connection, connections, transaction
from django.utils import timezone

from jobs.ledger.rollups import rolled_up_until
from jobs.models import Job, JobEvent, JobStatus

logger = logging.getLogger(__name__)

#: Aim for batches this long: long enough to be efficient, far below any lock worth noticing.
TARGET_BATCH_SECONDS = 0.2
MIN_BATCH, MAX_BATCH = 100, 20_000


@dataclass
class Pruned:
    jobs: int = 0
    events: int = 0
    seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def prune(
    older_than: dt.timedelta,
    *,
    batch_size: int = 2000,
    max_seconds: float | None = None,
    parallel: int = 1,
) -> Pruned:
    """Delete finished jobs that finished more than `older_than` ago, and only those whose hour
    is counted (`prune_cutoff`); stop after `max_seconds`.

    `parallel` > 1 (PostgreSQL): that many connections prune at once, each taking batches the
    others have not locked (SKIP LOCKED).
    """
    cutoff = prune_cutoff(older_than)
    if cutoff is None:
        return Pruned()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    started = time.monotonic()
    if parallel > 1 and connection.vendor == "postgresql":
        results: list[Pruned] = []

        def run() -> None:
            try:
                results.append(_prune_until_done(cutoff, batch_size, deadline))
            finally:
                connections.close_all()  # this thread's own connection

        threads = [threading.Thread(target=run) for _ in range(parallel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = Pruned(
            jobs=sum(r.jobs for r in results),
            events=sum(r.events for r in results),
            batch_seconds=[b for r in results for b in r.batch_seconds],
        )
    else:
        result = _prune_until_done(cutoff, batch_size, deadline)
    result.seconds = time.monotonic() - started
    if result.jobs:
        logger.info(
            "Pruned %d finished jobs and %d events older than %s in %.1f s.",
            result.jobs,
            result.events,
            older_than,
            result.seconds,
        )
    return result


def prune_cutoff(older_than: dt.timedelta) -> dt.datetime | None:
    """Jobs finished before this may be pruned: `older_than` ago, or earlier while the rollups
    catch up, so that no counter of /metrics or the dashboard drops (jobs/ledger/rollups.py);
    None while nothing is counted yet. Every pruning goes through here: the duty and
    `manage.py prune_jobs` (which once pruned without it)."""
    counted_until = rolled_up_until()
    if counted_until is None:
        return None
    return min(timezone.now() - older_than, counted_until)


def _prune_until_done(cutoff: dt.datetime, batch_size: int, deadline: float | None) -> Pruned:
    result = Pruned()
    while deadline is None or time.monotonic() < deadline:
        batch_started = time.monotonic()
        deleted_jobs, deleted_events = _prune_batch(cutoff, batch_size)
        elapsed = time.monotonic() - batch_started
        if not deleted_jobs:
            break
        result.jobs += deleted_jobs
        result.events += deleted_events
        result.batch_seconds.append(elapsed)
        # Adapt: aim at TARGET_BATCH_SECONDS per batch whatever the machine and row sizes.
        scale = TARGET_BATCH_SECONDS / max(elapsed, 1e-3)
        # Grow slowly, shrink fast: one slow batch (a checkpoint) must not double the next.
        batch_size = int(min(MAX_BATCH, max(MIN_BATCH, batch_size * min(1.5, max(0.25, scale)))))
    return result


def _prune_batch(cutoff: dt.datetime, size: int) -> tuple[int, int]:
    if connection.vendor == "postgresql":
        return _prune_batch_postgresql(cutoff, size)
    with transaction.atomic():
        ids = list(
            Job.objects.filter(status__in=JobStatus.final(), finished_at__lt=cutoff)
            .order_by("finished_at")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return 0, 0
        # Plain DELETEs: Django's delete() would first load every job and event it removes
        # (its collector), which is most of the cost at scale. What the collector would do
        # besides is done here: events first, and copies of a pruned job only lose the link.
        database = Job.objects.db
        events = JobEvent.objects.filter(job_id__in=ids)._raw_delete(database)
        Job.objects.filter(copy_of_id__in=ids).update(copy_of=None)
        jobs = Job.objects.filter(pk__in=ids)._raw_delete(database)
    return jobs, events


def _prune_batch_postgresql(cutoff: dt.datetime, size: int) -> tuple[int, int]:
    """The same batch as one statement: no ids travel to Python and back three times, and
    SKIP LOCKED leaves rows another transaction holds (e.g. a staff action) for a later batch."""
    final = [str(status) for status in JobStatus.final()]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH doomed AS (
                SELECT id FROM jobs_job
                WHERE status = ANY(%s) AND finished_at < %s
                ORDER BY finished_at
                LIMIT %s
                FOR UPDATE SKIP LOCKED
            ),
            events AS (
                DELETE FROM jobs_jobevent WHERE job_id IN (SELECT id FROM doomed) RETURNING 1
            ),
            unlinked AS (
                UPDATE jobs_job SET copy_of_id = NULL
                WHERE copy_of_id IN (SELECT id FROM doomed) RETURNING 1
            ),
            jobs AS (
                DELETE FROM jobs_job WHERE id IN (SELECT id FROM doomed) RETURNING 1
            )
            SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM events),
                   (SELECT count(*) FROM unlinked)
            """,
            [final, cutoff, size],
        )
        jobs, events, _unlinked = cursor.fetchone()
    return int(jobs), int(events)
