"""Send jobs that were committed to the ledger but never reached the broker (the outbox)."""

from __future__ import annotations

import datetime as dt
import logging

import dramatiq
from django.utils import timezone
from dramatiq import Message

from .enqueue import send
from .models import Job

logger = logging.getLogger(__name__)

#: A pending job younger than this may still be in its web process's on-commit send.
DEFAULT_GRACE = dt.timedelta(seconds=30)


def message_for(job: Job) -> Message[object]:
    """Rebuild the job's message with its original id, so the ledger row is the same job."""
    return Message(
        queue_name=job.queue_name,
        actor_name=job.actor_name,
        args=tuple(job.args),
        kwargs=job.kwargs,
        options={},
        message_id=str(job.id),
    )


def send_pending_jobs(*, older_than: dt.timedelta = DEFAULT_GRACE, limit: int = 1000) -> int:
    """Send up to `limit` pending jobs older than `older_than`; return how many were sent.

    Sending a job twice is harmless: the worker's claim refuses the second delivery.
    Stops at the first broker error (the broker is down; the jobs stay pending).
    """
    broker = dramatiq.get_broker()
    cutoff = timezone.now() - older_than
    sent = 0
    for job in Job.objects.pending().filter(created_at__lt=cutoff).order_by("created_at")[:limit]:
        if job.actor_name not in broker.actors:
            logger.error("Pending job %s names unknown actor %r; not sent.", job.id, job.actor_name)
            continue
        if not send(message_for(job)):
            break
        sent += 1
    return sent
