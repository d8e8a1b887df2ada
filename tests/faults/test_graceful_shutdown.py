"""SIGTERM under load: a worker stopped gracefully with 200 jobs queued loses none and runs none
twice; what it had prefetched goes back to the queue for the next worker."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import wait_for
from tests.faults.conftest import Workers
from tests.workbench.tasks import quick_effect, runs, slow_effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_sigterm_under_load_finishes_every_job_exactly_once(
    workers: Workers, figures: dict[str, Any]
):
    keys = [f"job-{n}" for n in range(200)]
    for key in keys:
        enqueue(quick_effect, key)

    first = workers.start("first")
    wait_for(lambda: Job.objects.filter(status=JobStatus.SUCCEEDED).count() >= 30, 60, workers.logs)
    # To the master only, as systemd's KillMode=mixed or Kubernetes do: it forwards one SIGTERM
    # to its worker processes. A second SIGTERM (e.g. to the whole group) means "kill now".
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=60)
    done_by_first = Job.objects.filter(status=JobStatus.SUCCEEDED).count()
    interrupted = Job.objects.filter(status=JobStatus.RUNNING).count()

    workers.start("second")
    wait_for(
        lambda: Job.objects.filter(status=JobStatus.SUCCEEDED).count() == 200, 120, workers.logs
    )

    effects = runs(workers.workdir, "done")
    keys_done = [line.split()[0] for line in effects]
    figures.update(
        expected=200,
        succeeded=Job.objects.filter(status=JobStatus.SUCCEEDED).count(),
        done_by_first_worker=done_by_first,
        left_running_by_sigterm=interrupted,
        failed=Job.objects.filter(status=JobStatus.FAILED).count(),
        lost=200 - len(set(keys_done)),
        duplicate_side_effects=len(keys_done) - len(set(keys_done)),
    )
    assert first.process.returncode == 0  # a clean, graceful exit
    assert interrupted == 0  # in-flight jobs finished before the worker exited
    assert sorted(keys_done) == sorted(keys)  # every job once, none twice
    assert not Job.objects.filter(events__kind=EventKind.WORKER_LOST).exists()
    # What the first worker finished it also acked before exiting (its acks wait for the
    # ledger writer): nothing came back to the second worker to be refused.
    assert not Job.objects.filter(events__kind=EventKind.SKIPPED).exists()


def run_workers_with_a_job_running(workers: Workers) -> tuple[Any, Job]:
    """`manage.py run_workers` (1 process x 2 threads) with a 2 s job seen running."""
    worker = workers.start(
        "wrapped", command=("run_workers", "--", "--processes", "1", "--threads", "2")
    )
    job = enqueue(slow_effect, "in-flight", 2.0)
    wait_for(
        lambda: Job.objects.filter(pk=job.id, status=JobStatus.RUNNING).exists(), 30, workers.logs
    )
    return worker, job


def test_run_workers_stops_gracefully_even_when_its_whole_process_group_is_signalled(
    workers: Workers, figures: dict[str, Any]
):
    # What honcho (make run) and systemd's default KillMode do: SIGTERM to every process of the
    # group. Plain rundramatiq's worker would get two SIGTERMs and kill its in-flight job.
    worker, job = run_workers_with_a_job_running(workers)

    os.killpg(worker.process.pid, signal.SIGTERM)
    worker.process.wait(timeout=60)

    job.refresh_from_db()
    figures.update(
        expected=1,
        succeeded=int(job.status == JobStatus.SUCCEEDED),
        returncode=worker.process.returncode,
    )
    assert worker.process.returncode == 0
    assert job.status == JobStatus.SUCCEEDED  # finished before the worker exited
    assert runs(workers.workdir, "done")[0].startswith("in-flight")


def test_a_killed_run_workers_leaves_no_worker_consuming_behind_it(
    workers: Workers, figures: dict[str, Any]
):
    # A supervisor that kills only the pid it started (or an OOM kill of it): Dramatiq runs in a
    # session of its own and would go on consuming beside the run_workers restarted next.
    worker, job = run_workers_with_a_job_running(workers)
    children = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children")
    (master,) = (int(pid) for pid in children.read_text().split())

    worker.process.kill()
    worker.process.wait(timeout=10)

    wait_for(lambda: not Path(f"/proc/{master}").exists() or _zombie(master), 60, workers.logs)
    job.refresh_from_db()
    figures.update(expected=1, succeeded=int(job.status == JobStatus.SUCCEEDED))
    assert job.status == JobStatus.SUCCEEDED  # told to stop gracefully: it finished its job first


def _zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
