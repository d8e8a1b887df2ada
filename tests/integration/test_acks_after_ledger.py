"""A worker thread does not wait for its job's success to be written, but the message is
acked (removed from Redis) only once it is: a worker killed in between leaves the message to be
redelivered, never a job acked and recorded as running (jobs/worker/acks.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from jobs.models import Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, unacked, wait_for, wait_until_final
from tests.workbench.tasks import QUEUE, runs, slow_effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_message_is_acked_only_after_its_success_is_committed(
    workbench_worker: WorkerProcess, redis_client: Any, tmp_path: Any
) -> None:
    job = enqueue(slow_effect, "held", 0.5)
    wait_for(lambda: Job.objects.get(pk=job.id).status == JobStatus.RUNNING, 30)
    locked, release = threading.Event(), threading.Event()

    def hold_the_job_row() -> None:
        """Keep the success from being written (SQLite: the database's write lock)."""
        with connections["default"].cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            else:
                cursor.execute("BEGIN")
                cursor.execute("SELECT 1 FROM jobs_job WHERE id = %s FOR UPDATE", [job.id])
            locked.set()
            release.wait(30)
            cursor.execute("ROLLBACK")
        connections.close_all()

    holder = threading.Thread(target=hold_the_job_row)
    holder.start()
    try:
        assert locked.wait(10)
        wait_for(lambda: runs(tmp_path, "done"), 30, workbench_worker.logs)  # the actor ran
        threading.Event().wait(1.0)  # time to hand the success over and (wrongly) ack
        assert unacked(redis_client, QUEUE) == 1
        assert Job.objects.get(pk=job.id).status == JobStatus.RUNNING
    finally:
        release.set()
        holder.join(30)
    assert wait_until_final(job.id, workbench_worker).status == JobStatus.SUCCEEDED
    wait_for(lambda: unacked(redis_client, QUEUE) == 0, 30, workbench_worker.logs)
