"""Read from RabbitMQ itself (its own command line tool): a finished job's message stays unacked
there until its ledger write commits; the dashboard's oldest waiting age on RabbitMQ; what the
ledger check does there."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jobs.brokers.state import queue_states
from jobs.maintenance.ledger_check import check_ledger
from jobs.models import Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import wait_for
from tests.faults.conftest import Workers
from tests.workbench.tasks import QUEUE, runs, slow_effect

pytestmark = [
    pytest.mark.integration,
    pytest.mark.rabbitmq,
    pytest.mark.django_db(transaction=True),
]


def ready_and_unacked(queue: str) -> tuple[int, int]:
    vhost = urlsplit(settings.BROKER_URL).path.lstrip("/") or "/"
    listing = subprocess.run(
        ["rabbitmqctl", "list_queues", "-p", vhost, "name", "messages_ready",
         "messages_unacknowledged", "--quiet", "--no-table-headers"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    for line in listing.splitlines():
        name, ready, unacked = line.split("\t")
        if name == queue:
            return int(ready), int(unacked)
    return 0, 0


@contextmanager
def ledger_writes_blocked() -> Iterator[None]:
    """Hold the database's write lock from another connection: the worker's writes wait."""
    if connection.vendor == "sqlite":
        holder: Any = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = psycopg.connect(**connection.get_connection_params())
        holder.execute("LOCK TABLE jobs_job IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_finished_jobs_message_stays_unacked_in_rabbitmq_until_its_ledger_write(workers: Workers):
    workers.start("a")
    job = enqueue(slow_effect, "held", 1.5)
    wait_for(lambda: runs(workers.workdir, "started"), 30, workers.logs)

    with ledger_writes_blocked():
        wait_for(lambda: runs(workers.workdir, "done"), 30, workers.logs)
        time.sleep(1)  # the actor returned; its success write waits for the lock
        assert Job.objects.get(pk=job.id).status == JobStatus.RUNNING
        assert ready_and_unacked(QUEUE) == (0, 1)  # RabbitMQ would redeliver it if we died now

    wait_for(lambda: Job.objects.filter(pk=job.id, status=JobStatus.SUCCEEDED).exists(), 30)
    wait_for(lambda: ready_and_unacked(QUEUE) == (0, 0), 30, workers.logs)


def test_the_oldest_waiting_age_on_rabbitmq_comes_from_the_ledger(redis_url: str):
    enqueue(slow_effect, "waiting", 0.0)  # no worker: it waits
    time.sleep(1.2)
    (state,) = [q for q in queue_states() if q.name == QUEUE]
    assert state.waiting == 1
    assert state.oldest_age is not None and state.oldest_age >= 1.0


def test_the_ledger_check_on_rabbitmq_only_relays(redis_url: str, settings: Any):
    """RabbitMQ lists no message ids without consuming them: a running job whose worker is gone
    is not checked against the queue (RabbitMQ redelivers it by itself); a pending one is sent."""
    settings.RELAY_GRACE_SECONDS = 1
    long_ago = timezone.now() - dt.timedelta(hours=1)
    pending = Job.objects.create(
        actor_name="slow_effect", queue_name=QUEUE, args=["relayed", 0.0], enqueued_at=long_ago
    )
    Job.objects.create(
        actor_name="slow_effect",
        queue_name=QUEUE,
        status=JobStatus.RUNNING,
        attempts=1,
        enqueued_at=long_ago,
        started_at=long_ago,
        worker="gone:1:Thread-1",
        worker_id="a-worker-that-is-gone",
    )

    findings = check_ledger(repair=True)

    assert [(f.job_id, f.action) for f in findings] == [(None, "sent 1 by the relay")]
    # Its "queued" record is written by this process's background writer, just after the send.
    wait_for(lambda: Job.objects.filter(pk=pending.pk, status=JobStatus.QUEUED).exists(), 10)
