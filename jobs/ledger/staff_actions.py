"""What staff do to jobs from the admin: retry, cancel, delete, run again. One transaction per
batch of ids, with row locks so a concurrent transition waits instead of racing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.ledger import rollups
from jobs.ledger.history import append, keep_row_events
from jobs.models import UNDECODABLE_ACTOR, EventKind, Job, JobEvent, JobStatus


def retry_failed(ids: Iterable[uuid.UUID], *, operator: Any) -> list[Job]:
    """Failed jobs among `ids` go back to `pending` for a new attempt series (attempts
    counted from one again, history kept). Returns the jobs moved; the caller sends them
    (or the relay does, if the broker is down)."""
    now = timezone.now()
    with transaction.atomic():
        # Row locks: a concurrent transition waits instead of racing this one.
        jobs = list(
            Job.objects.select_for_update()
            .filter(pk__in=ids)
            .retryable()
            .exclude(actor_name=UNDECODABLE_ACTOR)
        )
        rollups.keep_counts_of((job.pk for job in jobs), deleted=False)
        keep_row_events(job.pk for job in jobs)  # the attempts' starts and the send, kept
        Job.objects.filter(pk__in=[job.pk for job in jobs]).update(
            status=JobStatus.PENDING,
            attempts=0,
            lost_deliveries=0,
            finished_at=None,
            next_eta=None,
            duration=None,
            # Reserved for the caller's send, like a fresh job's grace period; the relay
            # takes over if that send fails.
            relay_lease_until=now + dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS),
        )
        append(
            JobEvent(
                job_id=job.pk,
                kind=EventKind.RETRIED,
                at=now,
                operator=operator,
                message=(
                    f"Retried by {operator} after {job.attempts} attempt(s): "
                    "attempts count from one again."
                ),
            )
            for job in jobs
        )
    return jobs


def cancel(ids: Iterable[uuid.UUID], *, operator: Any) -> int:
    """Cancel the waiting jobs among `ids`; a worker that receives one skips it."""
    now = timezone.now()
    with transaction.atomic():
        cancelled = list(
            Job.objects.select_for_update()
            .filter(pk__in=ids)
            .cancellable()
            .values_list("pk", "status")
        )
        Job.objects.filter(pk__in=[pk for pk, _ in cancelled]).update(
            status=JobStatus.CANCELLED, finished_at=now, next_eta=None, relay_lease_until=None
        )
        append(
            JobEvent(
                job_id=pk,
                kind=EventKind.CANCELLED,
                at=now,
                operator=operator,
                message=f"Cancelled by {operator} while {status}.",
            )
            for pk, status in cancelled
        )
    return len(cancelled)


def run_now(ids: Iterable[uuid.UUID], *, operator: Any) -> list[Job]:
    """Scheduled jobs among `ids` go back to `pending` to be sent now, without their delay.
    Returns the jobs moved; the caller sends them (or the relay does). Their delayed message
    still arrives at the due time and is refused by the claim (the attempt is taken)."""
    now = timezone.now()
    with transaction.atomic():
        jobs = list(Job.objects.select_for_update().filter(pk__in=ids).scheduled())
        keep_row_events(job.pk for job in jobs)  # the first send, before the one now
        Job.objects.filter(pk__in=[job.pk for job in jobs]).update(
            status=JobStatus.PENDING,
            next_eta=None,
            relay_lease_until=now + dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS),
        )
        append(
            JobEvent(
                job=job,
                kind=EventKind.RUN_NOW,
                at=now,
                operator=operator,
                message=f"Run now by {operator}, before its due time {job.next_eta:%H:%M:%S}.",
            )
            for job in jobs
        )
    return jobs


def delete_finished(ids: Iterable[uuid.UUID]) -> list[Job]:
    """Delete the finished jobs among `ids` with their events; returns the deleted jobs."""
    with transaction.atomic():
        jobs = list(
            Job.objects.select_for_update()
            .filter(pk__in=ids, status__in=JobStatus.final())
            .only("id", "actor_name")
        )
        pks = [job.pk for job in jobs]
        rollups.keep_counts_of(pks, deleted=True)
        JobEvent.objects.filter(job_id__in=pks).delete()
        Job.objects.filter(pk__in=pks).delete()
    return jobs


def record_copied(original: Job, copy: Job, *, operator: Any) -> None:
    append(
        [
            JobEvent(
                job=original,
                kind=EventKind.COPIED,
                operator=operator,
                message=f"Run again as new job {copy.pk} by {operator}.",
            )
        ]
    )
