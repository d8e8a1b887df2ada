"""The outbox relay: send jobs committed to the ledger that never reached the broker.

A job stays `pending` when its on-commit send failed (Redis down or hung) or its web process died
between commit and send. Workers run the relay periodically (jobs/maintenance/upkeep.py);
operators can run it once with `manage.py send_pending_jobs`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid

import dramatiq
from django.utils import timezone
from dramatiq import Message

from jobs.brokers.priorities import priority_options
from jobs.ledger.messages import recorded_options
from jobs.ledger.redaction import SealError, open_arguments
from jobs.models import EventKind, Job
from jobs.outbox import send

logger = logging.getLogger(__name__)

#: A pending job younger than this may still be in its web process's on-commit send.
DEFAULT_GRACE = dt.timedelta(seconds=30)
#: How long a relay keeps a job to itself while sending it (far above the Redis timeout).
LEASE_SECONDS = 60.0


def message_for(job: Job) -> Message[object]:
    """Rebuild the job's message with its original id, so the ledger row is the same job.

    Raises SealError if its secret arguments cannot be opened.
    """
    args, kwargs = open_arguments(job.args, job.kwargs, job.sealed_arguments)
    return Message(
        queue_name=job.queue_name,
        actor_name=job.actor_name,
        args=tuple(args),
        kwargs=kwargs,
        options={
            **recorded_options(job.request_id),
            **priority_options(dramatiq.get_broker(), job.priority),
        },
        message_id=str(job.id),
    )


def send_pending_jobs(*, older_than: dt.timedelta = DEFAULT_GRACE, limit: int = 100) -> int:
    """Send up to `limit` jobs whose send failed, or pending for longer than `older_than` (their
    web process may have died between commit and send); return how many were sent.

    Safe with many relays at once: each job is leased to one relay by a conditional UPDATE before
    it is sent, and no database lock is held during the send (a hung Redis would otherwise hold
    it for the whole socket timeout, and on SQLite block every web request's write).
    A job sent twice anyway (a send that timed out but landed) is refused by the worker's claim.
    Stops at the first broker error: the broker is down and the jobs stay pending.
    """
    broker = dramatiq.get_broker()
    cutoff = timezone.now() - older_than
    candidates = Job.objects.due_for_relay(enqueued_before=cutoff).order_by("enqueued_at")[:limit]
    sent = 0
    for job in candidates:
        if job.actor_name not in broker.actors:
            logger.error("Pending job %s names unknown actor %r; not sent.", job.id, job.actor_name)
            continue
        if not lease_for_relay(job.id, seconds=LEASE_SECONDS):
            continue  # another relay has it, or it was sent meanwhile
        waited = (timezone.now() - job.enqueued_at).total_seconds()
        note = (
            f"Pending for {waited:.1f} s (its send at commit failed or never ran); "
            f"sent by the relay in process {os.getpid()}."
        )
        try:
            message = message_for(job)
        except SealError:
            logger.exception("Pending job %s cannot be sent.", job.id)
            continue
        # A delayed job keeps its due time (a send with what is left of the delay).
        left = (job.next_eta - timezone.now()).total_seconds() if job.next_eta else 0
        delay_ms = int(left * 1000) if left > 0 else None
        if not send(message, delay_ms, kind=EventKind.RESENT, note=note):
            break  # send() gave the job back to the next tick (an expired lease)
        sent += 1
    if sent:
        logger.info("Relay sent %d pending job(s).", sent)
    return sent


def lease_for_relay(job_id: uuid.UUID, *, seconds: float) -> bool:
    """Reserve a pending job for one relay: a single conditional UPDATE, no lock held after.

    The lease expires by itself, so a relay that dies mid-send delays the job, never loses it.
    """
    until = timezone.now() + dt.timedelta(seconds=seconds)
    return bool(Job.objects.relayable().filter(pk=job_id).update(relay_lease_until=until))
