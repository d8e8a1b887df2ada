"""What the broker holds right now: queue depths and latency, live workers, dead letters.

Read by the admin dashboard and /metrics; written by the workers' upkeep thread (the worker
registry: a table, for any broker). The broker answers through jobs/brokers/view.py: Redis shows
all of it; RabbitMQ tells queue depths and dead letters by count, and the oldest waiting age
comes from the ledger.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Min
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.brokers.identity import broker_id
from jobs.brokers.view import QueueState, view
from jobs.models import Job, JobStatus, WorkerProcess

#: A registry entry not refreshed for this long belongs to a process that is gone.
WORKER_FORGET_SECONDS = 600


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


def ping() -> None:
    """Raise if the broker cannot be reached (for readiness checks)."""
    view().ping()


def queue_states() -> list[QueueState]:
    return view().queue_states()


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


def worker_timeout() -> float:
    """Seconds a worker process may stay silent before it counts as gone: the broker's heartbeat
    timeout (after which it redelivers the worker's messages) or three upkeep intervals (the
    registry's refresh), the longer."""
    return max(view().worker_timeout_seconds, 3 * float(settings.LEDGER_UPKEEP_INTERVAL_SECONDS))


def live_worker_ids() -> set[str]:
    """The one definition of an alive worker process, for the dashboard, /metrics, the alerts
    and the ledger check, whatever the broker: its registry entry refreshed within
    `worker_timeout()` (by its upkeep thread, which also checks that it reaches the database
    and the broker). The ledger check repairs a running job of a worker gone by this only if
    the broker no longer holds its message, so a worker alive to the broker loses nothing."""
    since = timezone.now() - dt.timedelta(seconds=worker_timeout())
    return set(WorkerProcess.objects.filter(seen_at__gte=since).values_list("broker_id", flat=True))


def worker_states() -> list[WorkerState]:
    """Worker processes that announced themselves lately, most recently seen first; alive as
    `live_worker_ids()` says."""
    now = timezone.now()
    alive = live_worker_ids()
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
            alive=row.broker_id in alive,
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
