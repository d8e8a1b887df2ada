"""The transitions that also run in bulk: claim, success, send. Each is defined once, as the
batch SQL of jobs/ledger/batch_sql.py; a single job is written as a batch of one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from jobs.ledger.batch_sql import write_batch
from jobs.ledger.requests import ClaimRequest, SentRequest, SuccessRequest
from jobs.models import EventKind


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
    """Attempt `attempt` succeeded: `succeeded` if it is still the running one. The event is
    written either way."""
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
    """The broker accepted the message (sent at `at`). Only a pending job moves to queued.

    The event is written even when a worker already claimed the job (it can be faster than
    this write): the send happened, at `at`, before the claim.
    """
    request = SentRequest(job_id, at, eta, kind, note)
    outcome = write_batch([], [], [request], worker_id="", prepared=False)
    return job_id in outcome.sent


def mark_sent_many(job_ids: list[uuid.UUID], *, at: dt.datetime, note: str) -> None:
    """mark_sent for messages sent together (bulk enqueues, staff actions): one batch."""
    requests = [SentRequest(job_id, at, None, EventKind.QUEUED, note) for job_id in job_ids]
    write_batch([], [], requests, worker_id="", prepared=False)
