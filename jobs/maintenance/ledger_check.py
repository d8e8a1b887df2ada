"""Find jobs the ledger and the broker disagree about, and repair what can be repaired.

The ledger can drift from reality when a process dies at the wrong moment or a write is lost:
- `running` while its worker stopped heart-beating: Dramatiq redelivers the message if it still
  holds it; if the message is gone too, nobody can tell whether the job ran (failed, said so);
- `queued`/`retrying` long past its due time while the broker holds no message for it: the
  message was lost (e.g. a Redis blip stranded a scheduled retry in a worker's memory): resent;
- `pending` past the relay's grace period: sent by the relay;
- a message in a dead-letter queue whose job is not final: marked failed.
Run by `manage.py check_ledger` and periodically by the workers (jobs/maintenance/upkeep.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
from django.conf import settings
from django.utils import timezone
from dramatiq import Message

from jobs.brokers.state import live_worker_ids, worker_timeout
from jobs.brokers.view import Place, view
from jobs.ledger import transitions
from jobs.ledger.redaction import SealError, open_arguments
from jobs.ledger.stuck import stuck
from jobs.maintenance.relay import message_for, send_pending_jobs
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import send
from jobs.worker.hooks import call_hook

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    job_id: uuid.UUID | None
    problem: str
    action: str


def check_ledger(*, repair: bool) -> list[Finding]:
    broker = view()
    now = timezone.now()
    # The stuck jobs as the dashboard counts them (jobs/ledger/stuck.py), alive workers as
    # brokers/state.py defines them for both.
    kinds = {kind.kind: kind for kind in stuck(now, live_worker_ids(), worker_timeout())}
    pending = _pending_past_grace(kinds["pending"].jobs().count(), repair)
    if broker.live_worker_ids() is None:
        # The broker redelivers a dead consumer's messages by itself and lists no message ids
        # without consuming them (RabbitMQ): what is left to check is what the relay sends.
        return pending
    # The ledger's suspects first: only they need the broker's live and delayed messages, which
    # are every queued job's (decoding them all took the GIL from a busy worker for seconds).
    orphans = list(kinds["orphaned"].jobs())
    overdue = list(kinds["queued"].jobs() | kinds["retrying"].jobs() | kinds["scheduled"].jobs())
    in_broker = broker.message_places(dead_only=not (orphans or overdue)) or {}
    findings = [
        *_running_without_worker(orphans, in_broker, repair),
        *_overdue_without_message(overdue, in_broker, repair),
        *_dead_lettered_but_unfinished(in_broker, repair),
    ]
    return [*findings, *pending]


def _pending_past_grace(unsent: int, repair: bool) -> list[Finding]:
    if not unsent:
        return []
    grace = dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS)
    sent = send_pending_jobs(older_than=grace) if repair else 0
    action = f"sent {sent} by the relay" if repair else "the relay sends them"
    return [Finding(None, f"{unsent} job(s) pending past the relay's grace", action)]


def _running_without_worker(
    orphans: list[Job], in_broker: dict[str, Place], repair: bool
) -> Iterator[Finding]:
    for job in orphans:
        problem = f"running, but worker {job.worker or '?'} stopped heart-beating"
        if in_broker.get(str(job.id)) == "live":
            yield Finding(job.id, problem, "none: the broker redelivers its message")
            continue
        reason = (
            f"Worker {job.worker} stopped during attempt {job.attempts} and the broker no longer "
            "holds its message: whether it finished is unknown. Check its effects, then retry."
        )
        if repair and transitions.mark_lost(job.id, attempt=job.attempts, reason=reason):
            try:
                args, kwargs = open_arguments(job.args, job.kwargs, job.sealed_arguments)
            except SealError:
                args, kwargs = job.args, job.kwargs
            call_hook(dramatiq.get_broker(), job.actor_name, args, kwargs, f"WorkerLost: {reason}")
        yield Finding(
            job.id, problem + "; message gone", "marked failed" if repair else "mark failed"
        )


def _overdue_without_message(
    overdue: list[Job], in_broker: dict[str, Place], repair: bool
) -> Iterator[Finding]:
    for job in overdue:
        if str(job.id) in in_broker:
            continue  # waiting its turn in a long queue
        problem = f"{job.status} since long ago, but the broker holds no message for it"
        if repair:
            resend_attempt(job)
        yield Finding(job.id, problem, "resent" if repair else "resend")


def resend_attempt(job: Job) -> bool:
    """Send the job's next attempt again, with the retry count its claim expects."""
    try:
        message: Message[object] = message_for(job)
    except SealError:
        logger.exception("Job %s cannot be sent again.", job.id)
        return False
    message.options["retries"] = job.attempts
    note = (
        f"{job.status} since long ago and the broker held no message for it: "
        "sent again by the ledger check."
    )
    return send(message, kind=EventKind.RESENT, note=note)


def _dead_lettered_but_unfinished(in_broker: dict[str, Place], repair: bool) -> Iterator[Finding]:
    dead = [uuid.UUID(message_id) for message_id, place in in_broker.items() if place == "dead"]
    for job in Job.objects.unfinished().filter(pk__in=dead).exclude(status=JobStatus.RUNNING):
        reason = "Its message is in the dead-letter queue: no worker will run it."
        if repair:
            transitions.mark_failed_unrunnable(job.id, reason=reason)
        yield Finding(
            job.id, f"{job.status}, but dead-lettered", "marked failed" if repair else "mark failed"
        )
