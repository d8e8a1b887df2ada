"""Jobs in a given state, and what tests read of them, defined once for every test module."""

from __future__ import annotations

import uuid
from typing import Any

from jobs.ledger.history import timeline
from jobs.models import Job, JobStatus


def job_in(
    status: JobStatus = JobStatus.PENDING,
    *,
    actor: str = "noop",
    queue: str = "default",
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    max_retries: int | None = 0,
    **fields: Any,
) -> Job:
    """A job recorded as `enqueue()` records it (sends nothing), then moved to `status` with
    `fields` set on its row; returned as stored."""
    created = Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name=actor,
        queue_name=queue,
        args=[] if args is None else args,
        kwargs={} if kwargs is None else kwargs,
        max_retries=max_retries,
    )
    Job.objects.filter(pk=created.pk).update(status=status, **fields)
    created.refresh_from_db()
    return created


def event_kinds(job: Job) -> list[str]:
    """The kinds of the job's events in order, stored or held by its row (its timeline)."""
    return [event.kind for event in timeline(Job.objects.get(pk=job.pk))]
