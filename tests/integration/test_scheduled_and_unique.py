"""Scheduled jobs (a delay shown as `scheduled` with its due time, then run; run now) and unique
jobs (one job per key, even from several processes enqueueing at once), on a real worker."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.db import transaction
from django.test import Client

import tests.workbench.tasks as workbench
from jobs.ledger.unique import Unique
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import ROOT, WorkerProcess, database_url, wait_for, wait_until_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_delayed_job_is_scheduled_with_its_due_time_then_runs(
    workbench_worker: WorkerProcess, tmp_path: Path
):
    job = enqueue(workbench.flaky, "later", delay=dt.timedelta(seconds=3))
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SCHEDULED, 10)

    body = json.loads(Client().get(f"/jobs/{job.pk}").content)
    assert body["status"] == "scheduled"
    due = dt.datetime.fromisoformat(body["due_at"])
    assert (
        job.enqueued_at + dt.timedelta(seconds=2.5)
        < due
        < job.enqueued_at + dt.timedelta(seconds=5)
    )
    assert workbench.runs(tmp_path, "attempts") == []

    job = wait_until_final(job.pk, workbench_worker)
    assert job.first_started_at is not None and job.first_started_at >= due
    assert job.status == JobStatus.SUCCEEDED
    # A bare Dramatiq send with a delay is recorded as scheduled too.
    workbench.flaky.send_with_options(args=("bare",), delay=60_000)
    bare = wait_for(lambda: Job.objects.filter(args=["bare"]).first(), 10)
    assert bare.status == JobStatus.SCHEDULED and bare.next_eta is not None


def test_staff_run_a_scheduled_job_now_and_its_delayed_copy_is_refused(
    workbench_worker: WorkerProcess, tmp_path: Path, staff: Any
):
    job = enqueue(workbench.flaky, "now", delay=dt.timedelta(seconds=4))
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SCHEDULED, 10)
    client = Client()
    client.force_login(staff)

    response = client.post(f"/admin/jobs/job/{job.pk}/run-now/")
    assert response.status_code == 302
    job = wait_until_final(job.pk, workbench_worker)
    assert job.status == JobStatus.SUCCEEDED
    assert job.first_started_at is not None
    assert job.first_started_at < job.enqueued_at + dt.timedelta(seconds=3)
    # At the due time the delayed message arrives and is refused: the job ran once.
    wait_for(lambda: job.events.filter(kind=EventKind.SKIPPED).exists(), 20, workbench_worker.logs)
    assert len(workbench.runs(tmp_path, "done")) == 1
    assert job.events.filter(kind=EventKind.RUN_NOW, operator=staff).exists()


def test_a_unique_job_is_enqueued_once_while_unfinished(workbench_worker: WorkerProcess):
    unique = Unique(key="report-42", scope="waiting")
    # One transaction: the first job is sent at commit, so it is still waiting for the second.
    with transaction.atomic():
        first = enqueue(workbench.slow_effect, "u1", 2, unique=unique)
        again = enqueue(workbench.slow_effect, "u1", 2, unique=unique)
    assert again.pk == first.pk and again.was_duplicate  # type: ignore[attr-defined]
    assert Job.objects.get(pk=first.pk).duplicates == 1

    # Running: no longer waiting, so the key is free for a new job in scope "waiting".
    wait_for(lambda: Job.objects.get(pk=first.pk).status == JobStatus.RUNNING, 10)
    second = enqueue(workbench.slow_effect, "u1", 2, unique=unique)
    assert second.pk != first.pk and second.unique_key == "report-42"


SCRIPT = """
import os, time, django
django.setup()
from jobs.ledger.unique import Unique
from jobs.outbox import enqueue
import tests.workbench.tasks as workbench
time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
ids = {str(enqueue(workbench.noop, unique=Unique(key="one-of-a-kind")).pk) for _ in range(5)}
print(" ".join(sorted(ids)))
"""


def test_concurrent_enqueues_of_one_key_from_several_processes_make_one_job(redis_url: str):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "EXTRA_INSTALLED_APPS": "tests.workbench",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "DRAMATIQ_NAMESPACE": getattr(dramatiq.get_broker(), "namespace", "offload"),
        "START_AT": str(time.time() + 4),  # every process imported and waiting by then
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    answers = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)

    [job] = Job.objects.filter(unique_key="one-of-a-kind")
    assert answers == {str(job.pk)}  # every enqueue of every process got the same job
    assert job.duplicates == 4 * 5 - 1
