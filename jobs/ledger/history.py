"""A job's history: every event of every attempt, as staff and code read it.

The happy path of a job is four facts its row already holds: enqueued (`enqueued_at`), sent
(`sent_at`), the current attempt's start (`started_at`, `attempts`, `worker`) and its success
(`finished_at`, status `succeeded`). Written again as event rows they were most of the ledger's
database cost per job (docs/PERFORMANCE.md), so while the row holds them they are not stored
twice: the hot transitions (jobs/ledger/batch_sql.py) store an event row only for what the row
cannot say (a send with a due time or a note, a success that came after the job moved on), and
everything else (failures, retries, skips, lost workers, staff actions) is a JobEvent row.

`timeline()` merges the two into the one history; `keep_row_events()` stores the row's facts
as event rows before a write overwrites them (a failed attempt, a lost worker, staff retry or
run now), so nothing of an earlier attempt or send is lost. One rule (`row_events`) serves both.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from jobs.models import EventKind, Job, JobEvent, JobStatus

#: The columns `row_events` reads.
ROW_FIELDS = (
    "id",
    "status",
    "attempts",
    "enqueued_at",
    "sent_at",
    "started_at",
    "finished_at",
    "worker",
)

#: The event kinds whose facts a row can hold, and the stored kinds that already say them.
_SAID_BY = {
    # A job first recorded as sent (a bare `actor.send()`) was never enqueued through the ledger.
    EventKind.ENQUEUED: {EventKind.ENQUEUED, EventKind.QUEUED},
    EventKind.QUEUED: {EventKind.QUEUED, EventKind.RESENT},
    EventKind.STARTED: {EventKind.STARTED},
    EventKind.SUCCEEDED: {EventKind.SUCCEEDED},
}
#: Order of events at the same instant: a job's life in order.
_RANK: dict[str, int] = {
    EventKind.ENQUEUED: 0,
    EventKind.QUEUED: 1,
    EventKind.RESENT: 1,
    EventKind.STARTED: 2,
}


def row_events(job: Job, stored: Iterable[JobEvent]) -> list[JobEvent]:
    """The events the job's row holds that no stored event says already (unsaved)."""
    said = {(event.kind, event.attempt, event.at) for event in stored}

    def unsaid(kind: EventKind, attempt: int, at: object) -> bool:
        return not any((other, attempt, at) in said for other in _SAID_BY[kind])

    events: list[JobEvent] = []
    if unsaid(EventKind.ENQUEUED, 0, job.enqueued_at):
        events.append(JobEvent(job=job, kind=EventKind.ENQUEUED, at=job.enqueued_at))
    if job.sent_at is not None and unsaid(EventKind.QUEUED, 0, job.sent_at):
        events.append(JobEvent(job=job, kind=EventKind.QUEUED, at=job.sent_at))
    attempt = job.attempts
    if attempt and job.started_at is not None:
        if unsaid(EventKind.STARTED, attempt, job.started_at):
            events.append(
                JobEvent(
                    job=job,
                    kind=EventKind.STARTED,
                    at=job.started_at,
                    attempt=attempt,
                    worker=job.worker,
                )
            )
        finished = job.finished_at
        if (
            job.status == JobStatus.SUCCEEDED
            and finished is not None
            and unsaid(EventKind.SUCCEEDED, attempt, finished)
        ):
            events.append(
                JobEvent(
                    job=job,
                    kind=EventKind.SUCCEEDED,
                    at=finished,
                    attempt=attempt,
                    worker=job.worker,
                )
            )
    return events


def timeline(job: Job) -> list[JobEvent]:
    """Every event of the job, stored or held by its row, in the order they happened."""
    stored = list(job.events.select_related("operator"))
    events = stored + row_events(job, stored)
    return sorted(events, key=lambda event: (event.at, _RANK.get(event.kind, 3), event.pk or 0))


def append(events: Iterable[JobEvent]) -> None:
    """Store event rows: the one way to, besides the hot transitions' SQL
    (jobs/ledger/batch_sql.py) and a new job's row (JobManager)."""
    JobEvent.objects.bulk_create(events)


def keep_row_events(job_ids: Iterable[uuid.UUID]) -> None:
    """Store the row-held events of these jobs as event rows, before a write overwrites the
    row's facts (call inside that write's transaction, after locking or guarding the rows)."""
    ids = list(job_ids)
    stored: dict[uuid.UUID, list[JobEvent]] = defaultdict(list)
    for event in JobEvent.objects.filter(
        job_id__in=ids, kind__in=set().union(*_SAID_BY.values())
    ).only("job_id", "kind", "attempt", "at"):
        stored[event.job_id].append(event)
    append(
        event
        for job in Job.objects.filter(pk__in=ids).only(*ROW_FIELDS)
        for event in row_events(job, stored[job.pk])
    )
