"""Waiting for a job's result from Python, sync (`result`) or async (`aresult`).

Reads the job's row with a backoff (10 ms, doubling to 1 s): a job that ends quickly is seen
quickly, a long one costs one primary-key read per second. A job that failed, was skipped or
cancelled raises JobFailedError carrying the recorded error and traceback.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from jobs.models import EventKind, Job, JobEvent, JobStatus

FIRST_POLL_SECONDS = 0.01
LONGEST_POLL_SECONDS = 1.0
FIELDS = ("status", "result", "error_type", "last_error")


class JobFailedError(Exception):
    """The job ended without a result: failed (its recorded error), skipped or cancelled."""

    def __init__(self, job_id: uuid.UUID, status: str, error_type: str, error: str, tb: str):
        self.job_id, self.status = job_id, status
        self.error_type, self.error, self.traceback = error_type, error, tb
        detail = error or error_type or "no error recorded"  # the recorded error names its type
        super().__init__(f"Job {job_id} {status}: {detail}")


@dataclass
class _Poll:
    job_id: uuid.UUID
    deadline: float | None
    delay: float = FIRST_POLL_SECONDS

    def next_delay(self) -> float:
        """How long to sleep before the next read; TimeoutError once the deadline passed."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            raise TimeoutError(f"Job {self.job_id} did not finish in time.")
        delay = self.delay
        self.delay = min(self.delay * 2, LONGEST_POLL_SECONDS)
        return delay if self.deadline is None else min(delay, self.deadline - now)


def _job_id(job: Job | uuid.UUID | str) -> uuid.UUID:
    return job.pk if isinstance(job, Job) else uuid.UUID(str(job))


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _check(job_id: uuid.UUID) -> tuple[bool, Any]:
    """(finished?, result); raises for a job that ended without a result, or does not exist."""
    row = Job.objects.filter(pk=job_id).values(*FIELDS).first()
    if row is None:
        raise Job.DoesNotExist(f"No job {job_id}.")
    if row["status"] == JobStatus.SUCCEEDED:
        return True, row["result"]
    if row["status"] not in JobStatus.final():
        return False, None
    event = (
        JobEvent.objects.filter(
            job_id=job_id, kind__in=[EventKind.FAILED, EventKind.ATTEMPT_FAILED]
        )
        .exclude(traceback="")
        .order_by("-at", "-id")
        .first()
    )
    raise JobFailedError(
        job_id,
        row["status"],
        row["error_type"],
        row["last_error"],
        event.traceback if event else "",
    )


def result(job: Job | uuid.UUID | str, *, timeout: float | None = 60.0) -> Any:
    """Wait until the job finishes and return its result (the actor's return value, as stored).

    Raises JobFailedError if it failed, was skipped or cancelled; TimeoutError after `timeout`
    seconds (None: wait for ever); Job.DoesNotExist for an unknown id.
    """
    job_id = _job_id(job)
    poll = _Poll(job_id, _deadline(timeout))
    while True:
        finished, value = _check(job_id)
        if finished:
            return value
        time.sleep(poll.next_delay())


def _check_from_async(job_id: uuid.UUID) -> tuple[bool, Any]:
    """_check in asgiref's shared thread, which sees no request start or end, where Django drops
    a connection that broke (a database restart): done here, as per request, or it stays broken."""
    close_old_connections()
    return _check(job_id)


async def aresult(job: Job | uuid.UUID | str, *, timeout: float | None = 60.0) -> Any:
    """`result()` for async code: the same, awaiting instead of blocking the event loop."""
    job_id = _job_id(job)
    poll = _Poll(job_id, _deadline(timeout))
    while True:
        finished, value = await sync_to_async(_check_from_async)(job_id)
        if finished:
            return value
        await asyncio.sleep(poll.next_delay())
