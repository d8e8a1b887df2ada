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
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .models import Job, JobEvent, JobStatus

logger = logging.getLogger(__name__)

#: Aim for batches this long: long enough to be efficient, far below any lock worth noticing.
TARGET_BATCH_SECONDS = 0.25
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
) -> Pruned:
    """Delete finished jobs that finished more than `older_than` ago; stop after `max_seconds`."""
    cutoff = timezone.now() - older_than
    result = Pruned()
    started = time.monotonic()
    while max_seconds is None or time.monotonic() - started < max_seconds:
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
        batch_size = int(min(MAX_BATCH, max(MIN_BATCH, batch_size * min(2.0, max(0.5, scale)))))
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


def _prune_batch(cutoff: dt.datetime, size: int) -> tuple[int, int]:
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
