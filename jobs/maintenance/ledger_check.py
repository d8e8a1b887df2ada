"""Find jobs the ledger and Redis disagree about, and repair what can be repaired.

The ledger can drift from reality when a process dies at the wrong moment or a write is lost:
- `running` while its worker stopped heart-beating: Dramatiq redelivers the message if it still
  holds it; if the message is gone too, nobody can tell whether the job ran (failed, said so);
- `queued`/`retrying` long past its due time while Redis holds no message for it: the message was
  lost (e.g. a Redis blip stranded a scheduled retry in a worker's memory): resent;
- `pending` past the relay's grace period: sent by the relay;
- a message in a dead-letter queue whose job is not final: marked failed.
Run by `manage.py check_ledger` and periodically by the workers (jobs/maintenance/upkeep.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
from django.conf import settings
from django.utils import timezone
from dramatiq import Message

from jobs.brokers.redis import RedisBroker
from jobs.ledger import transitions
from jobs.ledger.redaction import SealError
from jobs.maintenance.relay import message_for, send_pending_jobs
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import send

logger = logging.getLogger(__name__)

#: A queued or retrying job this long past due with no message in Redis has lost its message.
OVERDUE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Finding:
    job_id: uuid.UUID | None
    problem: str
    action: str


def broker_messages(broker: Any, *, dead_only: bool = False) -> dict[str, str]:
    """Every message id Redis holds, with where: waiting/being processed, delayed, dead."""
    client, namespace = broker.client, broker.namespace
    where: dict[str, str] = {}
    pattern = f"{namespace}:*.XQ.msgs" if dead_only else f"{namespace}:*.msgs"
    for raw_key in client.scan_iter(match=pattern, count=1000):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        place = (
            "dead"
            if key.endswith(".XQ.msgs")
            else "delayed"
            if key.endswith(".DQ.msgs")
            else "live"
        )
        for _redis_id, payload in client.hscan_iter(key, count=1000):
            try:
                where[json.loads(payload)["message_id"]] = place
            except (ValueError, KeyError, TypeError):
                continue  # undecodable: the poison handling deals with it
    return where


def live_workers(broker: Any) -> set[str]:
    cutoff = dt.datetime.now(tz=dt.UTC).timestamp() * 1000 - broker.heartbeat_timeout
    members = broker.client.zrangebyscore(f"{broker.namespace}:__heartbeats__", cutoff, "+inf")
    return {m.decode() if isinstance(m, bytes) else m for m in members}


def check_ledger(*, repair: bool) -> list[Finding]:
    broker: Any = dramatiq.get_broker()
    now = timezone.now()
    if not isinstance(broker, RedisBroker):
        # RabbitMQ lists no message ids without consuming them, and redelivers a dead
        # consumer's messages by itself: what is left to check is what the relay sends.
        return _pending_past_grace(now, repair)
    alive = live_workers(broker)
    # The ledger's suspects first: only they need Redis's live and delayed messages, which are
    # every queued job's (decoding them all took the GIL from a busy worker for seconds).
    started_before = now - dt.timedelta(milliseconds=broker.heartbeat_timeout)
    orphans = list(
        Job.objects.running().filter(started_at__lt=started_before).exclude(worker_id__in=alive)
    )
    overdue = list(
        Job.objects.filter(
            status__in=(JobStatus.RETRYING, JobStatus.SCHEDULED), next_eta__lt=now - OVERDUE
        )
        | Job.objects.filter(status=JobStatus.QUEUED, sent_at__lt=now - OVERDUE)
    )
    in_redis = broker_messages(broker, dead_only=not (orphans or overdue))
    findings = [
        *_running_without_worker(orphans, in_redis, repair),
        *_overdue_without_message(overdue, in_redis, repair),
        *_dead_lettered_but_unfinished(in_redis, repair),
    ]
    return [*findings, *_pending_past_grace(now, repair)]


def _pending_past_grace(now: dt.datetime, repair: bool) -> list[Finding]:
    grace = dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS)
    unsent = Job.objects.pending().filter(enqueued_at__lt=now - grace).count()
    if not unsent:
        return []
    sent = send_pending_jobs(older_than=grace) if repair else 0
    action = f"sent {sent} by the relay" if repair else "the relay sends them"
    return [Finding(None, f"{unsent} job(s) pending past the relay's grace", action)]


def _running_without_worker(
    orphans: list[Job], in_redis: dict[str, str], repair: bool
) -> Iterator[Finding]:
    for job in orphans:
        problem = f"running, but worker {job.worker or '?'} stopped heart-beating"
        if in_redis.get(str(job.id)) == "live":
            yield Finding(job.id, problem, "none: the broker redelivers its message")
            continue
        reason = (
            f"Worker {job.worker} stopped during attempt {job.attempts} and the broker no longer "
            "holds its message: whether it finished is unknown. Check its effects, then retry."
        )
        if repair:
            transitions.mark_lost(job.id, attempt=job.attempts, reason=reason)
        yield Finding(
            job.id, problem + "; message gone", "marked failed" if repair else "mark failed"
        )


def _overdue_without_message(
    overdue: list[Job], in_redis: dict[str, str], repair: bool
) -> Iterator[Finding]:
    for job in overdue:
        if str(job.id) in in_redis:
            continue  # waiting its turn in a long queue
        problem = f"{job.status} since long ago, but Redis holds no message for it"
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
        f"{job.status} since long ago and Redis held no message for it: "
        "sent again by the ledger check."
    )
    return send(message, kind=EventKind.RESENT, note=note)


def _dead_lettered_but_unfinished(in_redis: dict[str, str], repair: bool) -> Iterator[Finding]:
    dead = [uuid.UUID(message_id) for message_id, place in in_redis.items() if place == "dead"]
    for job in Job.objects.unfinished().filter(pk__in=dead).exclude(status=JobStatus.RUNNING):
        reason = "Its message is in the dead-letter queue: no worker will run it."
        if repair:
            transitions.mark_failed_unrunnable(job.id, reason=reason)
        yield Finding(
            job.id, f"{job.status}, but dead-lettered", "marked failed" if repair else "mark failed"
        )
