"""What the broker holds right now: queue depths and latency, live workers, dead letters.

Read by the admin dashboard and /metrics; written by the workers' upkeep thread (the worker
registry: a table, for any broker) and by a staff retry (which removes the job's dead-letter
copy). Dramatiq's Redis broker shows all of it; RabbitMQ tells queue depths and dead letters
by count, and the oldest waiting age comes from the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from django.conf import settings
from django.db.models import Min
from django.db.models.functions import Coalesce
from django.utils import timezone
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker

from jobs.brokers.identity import broker_id
from jobs.models import Job, JobStatus, WorkerProcess

#: A registry entry not refreshed for this long belongs to a process that is gone.
WORKER_FORGET_SECONDS = 600


@dataclass(frozen=True)
class QueueState:
    name: str
    waiting: int
    """In the Redis list, not yet fetched by any worker."""
    in_workers: int
    """Fetched by a worker: prefetched or running."""
    delayed: int
    """Delayed messages and scheduled retries (their eta not reached)."""
    dead: int
    """Dead-lettered (kept by the broker for a week)."""
    oldest_age: float | None
    """Seconds the message at the head of the queue has waited (Redis: since it was enqueued;
    RabbitMQ: the oldest due job sent to the queue, from the ledger)."""


@dataclass(frozen=True)
class WorkerState:
    broker_id: str
    host: str = "?"
    pid: int = 0
    threads: int = 0
    queues: list[str] = field(default_factory=list)
    started: float | None = None
    heartbeat: float | None = None
    """When it last announced itself (epoch seconds)."""
    alive: bool = False


def redis_broker() -> Any:
    broker = dramatiq.get_broker()
    return broker if isinstance(broker, RedisBroker) else None


def ping() -> None:
    """Raise if the broker cannot be reached (for readiness checks)."""
    broker: Any = dramatiq.get_broker()
    if isinstance(broker, RedisBroker):
        broker.client.ping()
    elif isinstance(broker, RabbitmqBroker):
        broker.channel  # noqa: B018 (opens, or reuses, this thread's channel: raises if down)


def queue_states() -> list[QueueState]:
    broker: Any = dramatiq.get_broker()
    if isinstance(broker, RabbitmqBroker):
        return _rabbitmq_queue_states(broker)
    if not isinstance(broker, RedisBroker):
        return []
    client, namespace = broker.client, broker.namespace
    queues = sorted(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
    pipe: Any = client.pipeline(transaction=False)
    for queue in queues:
        base = f"{namespace}:{queue}"
        pipe.llen(base).hlen(f"{base}.msgs").hlen(f"{base}.DQ.msgs").zcard(f"{base}.XQ")
        pipe.lindex(base, 0)
    replies = pipe.execute()
    states = []
    for index, queue in enumerate(queues):
        waiting, stored, delayed, dead, head = replies[index * 5 : index * 5 + 5]
        states.append(
            QueueState(
                name=queue,
                waiting=waiting,
                in_workers=max(0, stored - waiting),
                delayed=delayed,
                dead=dead,
                oldest_age=_age_of(client, f"{namespace}:{queue}.msgs", head),
            )
        )
    return states


def _rabbitmq_queue_states(broker: RabbitmqBroker) -> list[QueueState]:
    states = []
    for queue in sorted(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ"))):
        waiting, delayed, dead = broker.get_queue_message_counts(queue)
        oldest = oldest_waiting_in_ledger(queue) if waiting else None
        states.append(QueueState(queue, waiting, 0, delayed, dead, oldest_age=oldest))
    return states


def oldest_waiting_in_ledger(queue: str) -> float | None:
    """Seconds the oldest job sent to `queue` and due has waited for a worker, from the ledger:
    RabbitMQ cannot show its head message without taking it off the queue."""
    now = timezone.now()
    since = (
        Job.objects.filter(
            queue_name=queue,
            status__in=(JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SCHEDULED),
        )
        .annotate(since=Coalesce("next_eta", "sent_at"))
        .filter(since__lte=now)
        .aggregate(oldest=Min("since"))["oldest"]
    )
    return None if since is None else (now - since).total_seconds()


def _age_of(client: Any, messages_key: str, redis_id: bytes | None) -> float | None:
    if redis_id is None:
        return None
    payload = client.hget(messages_key, redis_id)
    try:
        enqueued_ms = json.loads(payload)["message_timestamp"]
    except (TypeError, ValueError, KeyError):
        return None
    return max(0.0, time.time() - float(enqueued_ms) / 1000)


def worker_states() -> list[WorkerState]:
    """Worker processes that announced themselves lately, most recently seen first. Alive: seen
    within the broker's heartbeat timeout (Redis') or three upkeep intervals."""
    now = timezone.now()
    broker: Any = dramatiq.get_broker()
    heartbeat_timeout = broker.heartbeat_timeout / 1000 if isinstance(broker, RedisBroker) else 0
    timeout = max(heartbeat_timeout, 3 * settings.LEDGER_UPKEEP_INTERVAL_SECONDS)
    rows = WorkerProcess.objects.filter(
        seen_at__gte=now - dt.timedelta(seconds=WORKER_FORGET_SECONDS)
    )
    return [
        WorkerState(
            broker_id=row.broker_id,
            host=row.host,
            pid=row.pid,
            threads=row.threads,
            queues=list(row.queues),
            started=row.started_at.timestamp(),
            heartbeat=row.seen_at.timestamp(),
            alive=row.seen_at >= now - dt.timedelta(seconds=timeout),
        )
        for row in rows
    ]


def announce_worker(broker: Any, worker: Any, started: float) -> None:
    """Register this worker process (called periodically by its upkeep thread)."""
    now = timezone.now()
    WorkerProcess.objects.update_or_create(
        broker_id=broker_id(broker),
        defaults={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "threads": getattr(worker, "worker_threads", 0),
            "queues": sorted(getattr(worker, "queues", None) or broker.get_declared_queues()),
            "started_at": dt.datetime.fromtimestamp(started, tz=dt.UTC),
            "seen_at": now,
        },
    )
    WorkerProcess.objects.filter(
        seen_at__lt=now - dt.timedelta(seconds=WORKER_FORGET_SECONDS)
    ).delete()


def withdraw_worker(broker: Any) -> None:
    WorkerProcess.objects.filter(broker_id=broker_id(broker)).delete()


def forget_dead_letter(queue_name: str, job_id: str, delivery_id: str) -> None:
    """Remove a job's copy from its queue's dead-letter set, before staff retry it.

    The ledger check fails any unfinished job whose message sits in a dead-letter queue; a
    retried job's old dead copy must not fail it again. `delivery_id` is the broker id of the
    job's last delivery (its dead copy's key); without one, the set is scanned.
    """
    broker = redis_broker()
    if broker is None:
        return
    client = broker.client
    dead_key = f"{broker.namespace}:{queue_name}.XQ"
    redis_ids = [delivery_id] if delivery_id else []
    if not redis_ids:
        for redis_id, payload in client.hscan_iter(f"{dead_key}.msgs", count=1000):
            try:
                if json.loads(payload)["message_id"] == job_id:
                    redis_ids.append(_text(redis_id))
            except (ValueError, KeyError, TypeError):
                continue
    if redis_ids:
        client.pipeline(transaction=True).zrem(dead_key, *redis_ids).hdel(
            f"{dead_key}.msgs", *redis_ids
        ).execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
