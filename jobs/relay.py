"""The outbox relay: send jobs committed to the ledger that never reached the broker.

A job stays `pending` when its on-commit send failed (Redis down or hung) or its web process died
between commit and send. Workers run the relay periodically (jobs/upkeep.py); operators can run it
once with `manage.py send_pending_jobs`.
"""

from __future__ import annotations

import datetime as dt
import logging

import dramatiq
from django.db import transaction
from django.utils import timezone
from dramatiq import Message

from .enqueue import send
from .models import Job

logger = logging.getLogger(__name__)

#: A pending job younger than this may still be in its web process's on-commit send.
DEFAULT_GRACE = dt.timedelta(seconds=30)
#: Message option telling the tracker this send is the relay's (recorded as "resent").
RESENT_OPTION = "offload_resent"


def message_for(job: Job) -> Message[object]:
    """Rebuild the job's message with its original id, so the ledger row is the same job."""
    return Message(
        queue_name=job.queue_name,
        actor_name=job.actor_name,
        args=tuple(job.args),
        kwargs=job.kwargs,
        options={RESENT_OPTION: True},
        message_id=str(job.id),
    )


def send_pending_jobs(*, older_than: dt.timedelta = DEFAULT_GRACE, limit: int = 100) -> int:
    """Send up to `limit` jobs pending for longer than `older_than`; return how many were sent.

    Safe with many relays at once: rows are locked (FOR UPDATE SKIP LOCKED on PostgreSQL; on
    SQLite the IMMEDIATE transaction serializes relays), so no job is sent twice on purpose.
    A job sent twice anyway (a send that timed out but landed) is refused by the worker's claim.
    Stops at the first broker error: the broker is down and the jobs stay pending.
    """
    broker = dramatiq.get_broker()
    cutoff = timezone.now() - older_than
    sent = 0
    with transaction.atomic():
        batch = (
            Job.objects.pending()
            .filter(created_at__lt=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("created_at")[:limit]
        )
        for job in batch:
            if job.actor_name not in broker.actors:
                logger.error(
                    "Pending job %s names unknown actor %r; not sent.", job.id, job.actor_name
                )
                continue
            # The tracker's after_enqueue marks it queued, in this transaction, under our lock.
            if not send(message_for(job)):
                break
            sent += 1
    if sent:
        logger.info("Relay sent %d pending job(s).", sent)
    return sent
