"""Every transition a worker, the relay or the ledger check makes to a job, one function each.

Claim, success and send also run in bulk: each is defined once, as the batch SQL of
jobs/ledger/batch_sql.py, and a single job is written as a batch of one. The rarer ones (a
failed attempt, a skip, a lost worker, an unrunnable message) are ORM code, one job at a time.

Each is a conditional UPDATE that cannot move a job backwards (a slow write from one process
must not undo a later one from another) plus the event that records it, in one transaction.
`attempt` guards the worker's transitions: only the claim of attempt N can finish attempt N.
Staff actions are in jobs/ledger/staff_actions.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.ledger.batch_sql import write_batch
from jobs.ledger.error_groups import error_group
from jobs.ledger.history import append, keep_row_events
from jobs.ledger.redaction import hide_argument_values
from jobs.ledger.requests import ClaimRequest, SentRequest, SuccessRequest
from jobs.models import (
    ERROR_SUMMARY_LENGTH,
    MAX_LOST_DELIVERIES,
    WORKER_LOST_ERROR,
    EventKind,
    Job,
    JobEvent,
    JobQuerySet,
    JobStatus,
)


def claim(
    job_id: uuid.UUID, *, retries: int, worker: str, worker_id: str, delivery_id: str
) -> tuple[int, dt.datetime] | None:
    """Start attempt `retries + 1` unless the ledger already counted it.

    `retries` is the message's count of failed attempts. The claim succeeds only while the
    job is unfinished and has recorded no more attempts than that, so a duplicate delivery
    (its attempt already counted), a cancelled or a finished job is refused. `running` is
    accepted because Retries re-enqueues before the failed attempt is marked `retrying`;
    fewer recorded attempts than `retries` happen when a claim itself failed (database down)
    and Retries still counted that attempt. Returns (attempt, started_at), or None.
    """
    request = ClaimRequest(job_id, retries, worker, delivery_id)
    outcome = write_batch([request], [], worker_id=worker_id, prepared=False)
    return (retries + 1, outcome.at) if job_id in outcome.claimed else None


def mark_succeeded(
    job_id: uuid.UUID, *, attempt: int, started_at: dt.datetime, worker: str, result: Any = None
) -> bool:
    """Attempt `attempt` succeeded: `succeeded` if it is still the running one (the row then
    holds the event), else a `succeeded` event row says the attempt ended so."""
    request = SuccessRequest(job_id, attempt, started_at, worker, result)
    outcome = write_batch([], [request], worker_id="", prepared=False)
    return job_id in outcome.moved


def mark_sent(
    job_id: uuid.UUID,
    *,
    at: dt.datetime,
    eta: dt.datetime | None = None,
    kind: EventKind = EventKind.QUEUED,
    note: str = "",
) -> bool:
    """The broker accepted the message (sent at `at`). Only a pending job moves to queued
    (scheduled, with an `eta`).

    A plain send is held by its row (`sent_at`), also when a worker claimed the job first (it
    can be faster than this write); a send with a due time or a note, or one that finds
    `sent_at` set, is an event row. True if the row now holds it.
    """
    request = SentRequest(job_id, at, eta, kind, note)
    outcome = write_batch([], [], [request], worker_id="", prepared=False)
    return job_id in outcome.sent


def mark_sent_many(job_ids: list[uuid.UUID], *, at: dt.datetime, note: str) -> None:
    """mark_sent for messages sent together (bulk enqueues, staff actions): one batch."""
    requests = [SentRequest(job_id, at, None, EventKind.QUEUED, note) for job_id in job_ids]
    write_batch([], [], requests, worker_id="", prepared=False)


def mark_send_failed(job_ids: list[uuid.UUID], *, at: dt.datetime) -> None:
    """Their send failed (the broker was unreachable): the relay may send them from `at` on,
    without the grace that covers a web process still sending (Job.relay_lease_until)."""
    Job.objects.pending().filter(pk__in=job_ids).update(relay_lease_until=at)


def reclaim_after_worker_lost(
    job_id: uuid.UUID, *, retries: int, worker: str, worker_id: str, delivery_id: str
) -> tuple[int, dt.datetime] | str | None:
    """Re-run an attempt whose worker died, if this is the broker redelivering it.

    A redelivery carries the same broker delivery id as the running attempt; the broker only
    sends it again once that worker's heartbeat has expired. After MAX_LOST_DELIVERIES losses
    the job is failed instead. Returns (attempt, started_at) to re-run, the reason if it failed
    the job, or None (not a redelivery of the running attempt).
    """
    if not delivery_id:
        return None
    now = timezone.now()
    attempt = retries + 1
    with transaction.atomic():
        lost = (
            _running_attempt(job_id, attempt)
            .select_for_update()
            .filter(delivery_id=delivery_id)
            .first()
        )
        if lost is None:
            return None
        losses = lost.lost_deliveries + 1
        append(
            [
                JobEvent(
                    job_id=job_id,
                    kind=EventKind.WORKER_LOST,
                    at=now,
                    attempt=attempt,
                    worker=lost.worker,
                    message=(
                        f"Worker {lost.worker} stopped during attempt {attempt} "
                        f"(loss {losses} of at most {MAX_LOST_DELIVERIES})."
                    ),
                )
            ]
        )
        if losses >= MAX_LOST_DELIVERIES:
            reason = (
                f"The job's worker was lost {losses} times: it probably kills its worker "
                "(out of memory, a crash); not running it again."
            )
            _fail(
                Job.objects.filter(pk=job_id),
                job_id,
                reason,
                error_type=WORKER_LOST_ERROR,
                attempt=attempt,
                lost_deliveries=losses,
            )
            return f"{WORKER_LOST_ERROR}: {reason}"
        keep_row_events([job_id])  # the lost start, before the row holds the new one
        Job.objects.filter(pk=job_id).update(
            lost_deliveries=losses, started_at=now, worker=worker, worker_id=worker_id
        )
    return attempt, now


def exception_type_of(error: BaseException) -> str:
    """How the ledger names an exception's class, from the object (not its text): the import
    path, builtins by bare name (`ValueError`, `smtplib.SMTPResponseException`)."""
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def mark_attempt_failed(
    job_id: uuid.UUID,
    *,
    attempt: int,
    started_at: dt.datetime,
    worker: str,
    exception_type: str,
    message: str,
    traceback: str,
    final: bool,
    eta: dt.datetime | None = None,
    arguments: tuple[Any, Any] = ((), {}),
) -> bool:
    """Record a failed attempt: `retrying` with its eta, or `failed` when `final`.

    The event is written even if the status update is refused (the next attempt may already
    have claimed the job): the error of every attempt is kept. `arguments` (the message's
    args and kwargs) are kept out of the error group, which every staff member sees.
    """
    now = timezone.now()
    grouped = hide_argument_values(message, *arguments)
    name = exception_type.rsplit(".", 1)[-1]  # the job's summary: the class's own name
    error = {
        "last_error": f"{name}: {message}"[:ERROR_SUMMARY_LENGTH],
        "error_type": name[:255],
        "error_group": error_group(name, grouped),
    }
    with transaction.atomic():
        keep_row_events([job_id])  # this attempt's start, before the next claim's overwrites it
        if final:
            moved = _running_attempt(job_id, attempt).update(
                status=JobStatus.FAILED,
                finished_at=now,
                duration=now - started_at,
                next_eta=None,
                **error,
            )
        else:
            moved = _running_attempt(job_id, attempt).update(
                status=JobStatus.RETRYING, next_eta=eta, **error
            )
        append(
            [
                JobEvent(
                    job_id=job_id,
                    kind=EventKind.FAILED if final else EventKind.ATTEMPT_FAILED,
                    at=now,
                    attempt=attempt,
                    worker=worker,
                    exception_type=exception_type,
                    message=message,
                    traceback=traceback,
                    eta=None if final else eta,
                )
            ]
        )
    return bool(moved)


def mark_skipped(job_id: uuid.UUID, *, attempt: int, worker: str, reason: str) -> bool:
    """A claimed attempt did not run (another middleware skipped it, e.g. its age limit)."""
    now = timezone.now()
    with transaction.atomic():
        moved = _running_attempt(job_id, attempt).update(status=JobStatus.SKIPPED, finished_at=now)
        append(
            [
                JobEvent(
                    job_id=job_id,
                    kind=EventKind.SKIPPED,
                    at=now,
                    attempt=attempt,
                    worker=worker,
                    message=reason,
                )
            ]
        )
    return bool(moved)


def mark_failed_unrunnable(job_id: uuid.UUID, *, reason: str) -> bool:
    """A job the broker dead-lettered without running it (e.g. its actor no longer exists)."""
    with transaction.atomic():
        return _fail(
            Job.objects.filter(pk=job_id, status__in=JobStatus.waiting()),
            job_id,
            reason,
            error_type="ActorNotFound",
        )


def mark_lost(job_id: uuid.UUID, *, attempt: int, reason: str) -> bool:
    """A running attempt whose worker and message are both gone: failed, outcome unknown."""
    with transaction.atomic():
        if not _fail(
            _running_attempt(job_id, attempt),
            job_id,
            reason,
            error_type=WORKER_LOST_ERROR,
            attempt=attempt,
        ):
            return False
        append(
            [JobEvent(job_id=job_id, kind=EventKind.WORKER_LOST, attempt=attempt, message=reason)]
        )
    return True


def _fail(
    jobs: JobQuerySet,
    job_id: uuid.UUID,
    reason: str,
    *,
    error_type: str,
    attempt: int = 0,
    **fields: Any,
) -> bool:
    """Fail the job if `jobs` (its allowed current states) still matches; record why.

    For failures decided outside an attempt (lost worker, unknown actor, dead letter);
    `error_type` names the cause for error grouping. Callers hold the transaction.
    """
    moved = jobs.update(
        status=JobStatus.FAILED,
        finished_at=timezone.now(),
        last_error=reason[:ERROR_SUMMARY_LENGTH],
        error_type=error_type,
        error_group=error_group(error_type, reason),
        **fields,
    )
    if moved:
        append(
            [
                JobEvent(
                    job_id=job_id,
                    kind=EventKind.FAILED,
                    attempt=attempt,
                    exception_type=error_type,
                    message=reason,
                )
            ]
        )
    return bool(moved)


def _running_attempt(job_id: uuid.UUID, attempt: int) -> JobQuerySet:
    """The guard of every transition that ends or re-runs an attempt (the batch SQL's success
    spells the same in SQL): the job is running this very attempt."""
    running: JobQuerySet = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, attempts=attempt)
    return running
