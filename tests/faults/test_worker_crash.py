"""A worker killed with SIGKILL mid-job: its job comes back, runs once more, and a job that keeps
killing its worker is failed instead of looping."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from jobs.models import MAX_LOST_DELIVERIES, EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import wait_for
from tests.faults.conftest import Workers
from tests.workbench.tasks import kill_my_worker, runs, slow_effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def worker_pid(job: Job) -> int:
    return int(job.worker.split(":")[1])


def test_a_job_whose_worker_is_killed_runs_again_on_the_other_worker(
    workers: Workers, figures: dict[str, Any]
):
    workers.start("a")
    workers.start("b")
    job = enqueue(slow_effect, "crash-me", 4.0)

    running = wait_for(
        lambda: Job.objects.filter(pk=job.id, status=JobStatus.RUNNING).first(), 20, workers.logs
    )
    # "running" is committed just before the actor's body starts: kill it mid-body, not before.
    wait_for(lambda: runs(workers.workdir, "started"), 20, workers.logs)
    os.kill(worker_pid(running), signal.SIGKILL)
    killed_at = time.monotonic()

    done = wait_for(
        lambda: Job.objects.filter(pk=job.id, status=JobStatus.SUCCEEDED).first(), 90, workers.logs
    )
    figures.update(
        expected=1,
        succeeded=1,
        failed=0,
        lost=0,
        duplicate_side_effects=len(runs(workers.workdir, "done")) - 1,
        recovery_seconds=round(time.monotonic() - killed_at, 1),
    )
    lost = done.events.filter(kind=EventKind.WORKER_LOST)
    assert lost.count() == 1
    assert lost.get().worker == running.worker
    assert done.attempts == 1  # the same attempt, run again: not a retry
    assert done.lost_deliveries == 1
    assert done.worker != running.worker
    assert len(runs(workers.workdir, "started")) == 2  # killed mid-way, then run again
    assert len(runs(workers.workdir, "done")) == 1  # the side effect happened once


def test_a_job_that_keeps_killing_its_worker_is_failed_after_three_losses(
    redis_url: str, transactional_db: None, tmp_path, settings: Any, figures: dict[str, Any]
):
    # Faster heartbeats so three crash cycles fit in a test; the mechanism is the same.
    fast = {"DRAMATIQ_HEARTBEAT_TIMEOUT_MS": "4000", "DRAMATIQ_MAINTENANCE_INTERVAL_SECONDS": "1"}
    pool = Workers(redis_url, tmp_path, settings.MEDIA_ROOT, env=fast)
    try:
        pool.start("a")
        pool.start("b")
        job = enqueue(kill_my_worker, "poison")

        def failed() -> Job | None:
            pool.restart_dead()  # the supervisor's job in production
            return Job.objects.filter(pk=job.id, status=JobStatus.FAILED).first()

        final = wait_for(failed, 150, pool.logs)
    finally:
        pool.stop_all()

    figures.update(
        expected=1, failed=1, worker_restarts=pool.restarts, runs=len(runs(tmp_path, "started"))
    )
    assert final.lost_deliveries == MAX_LOST_DELIVERIES
    assert final.events.filter(kind=EventKind.WORKER_LOST).count() == MAX_LOST_DELIVERIES
    assert "lost 3 times" in final.last_error
    assert len(runs(tmp_path, "started")) == MAX_LOST_DELIVERIES
    # Failed for good by the claim of its last redelivery: the actor's hook ran, once.
    (gave_up,) = runs(tmp_path, "gave_up")
    assert gave_up.startswith("poison: WorkerLost: The job's worker was lost 3 times")
