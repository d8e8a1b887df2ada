"""What the tracker records outside an attempt's claim and outcome: a message sent without
`enqueue()` (a bare `actor.send()`), a delivery refused by the claim, a message dead-lettered
without running. Each is one write, retried on database errors, and loud if lost."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import DatabaseError
from dramatiq import Broker

from jobs.brokers.sealing import message_arguments
from jobs.ledger import transitions
from jobs.ledger.history import append
from jobs.ledger.messages import AnyMessage, eta_of, max_retries_of, message_job_id
from jobs.ledger.redaction import SealError
from jobs.ledger.retries import OUTCOME_WRITE_BUDGET, SENT_WRITE_BUDGET, write_with_retries
from jobs.models import EventKind, Job, JobEvent

logger = logging.getLogger(__name__)


def record_unseen_send(broker: Broker, message: AnyMessage) -> None:
    """A message that reached the broker without `enqueue()`: recorded as queued."""
    try:
        write_with_retries(
            lambda: create_from_message(broker, message), "unseen", budget=SENT_WRITE_BUDGET
        )
    except DatabaseError:
        # The message is in the broker and will be recorded when a worker claims it.
        logger.exception("Could not record that job %s was sent.", message.message_id)


def create_from_message(broker: Broker, message: AnyMessage) -> None:
    """Insert the job of a message the ledger has not seen (a no-op if it has)."""
    try:
        args, kwargs = message_arguments(message)  # re-sealed by the ledger as it stores them
    except SealError:  # sealed with a key we lack: recorded as it came, redacted
        args, kwargs = list(message.args), dict(message.kwargs)
    Job.objects.create_from_message(
        job_id=message_job_id(message),
        actor_name=message.actor_name,
        queue_name=message.queue_name.removesuffix(".DQ"),
        args=args,
        kwargs=kwargs,
        max_retries=max_retries_of(broker, message),
        eta=eta_of(message),
    )


def record_refusal(job_id: uuid.UUID, retries: int, worker: str) -> str | None:
    """Record a delivery that must not run: a duplicate, or the job is final/cancelled.

    Returns the job's status, or None if it could not be read.
    """
    try:
        job = Job.objects.only("status", "attempts").get(pk=job_id)
        reason = (
            f"Delivery for attempt {retries + 1} refused: job is {job.status} "
            f"with {job.attempts} attempt(s) recorded."
        )
        append(
            [
                JobEvent(
                    job_id=job_id,
                    kind=EventKind.SKIPPED,
                    attempt=retries + 1,
                    worker=worker,
                    message=reason,
                )
            ]
        )
        logger.warning("Skipping job %s: %s", job_id, reason)
    except DatabaseError:
        logger.exception("Could not record the refused delivery of job %s.", job_id)
        return None
    return str(job.status)


def record_unrunnable(broker: Broker, message: Any) -> None:
    """A message dead-lettered without running (its actor is unknown here)."""
    reason = (
        f"No actor named {message.actor_name!r} in this worker (renamed or removed by a "
        "deploy?): the message was dead-lettered without running."
    )

    def record() -> None:
        create_from_message(broker, message)  # no-op if the job is already recorded
        transitions.mark_failed_unrunnable(message_job_id(message), reason=reason)

    try:
        write_with_retries(record, "unrunnable", budget=OUTCOME_WRITE_BUDGET)
    except DatabaseError:
        logger.critical("LEDGER WRITE LOST: %s (job %s)", reason, message.message_id)
