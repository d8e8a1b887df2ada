"""A busy worker with 8 threads on the embedded default: no lock errors, no lost ledger writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

import tests.workbench.tasks as workbench
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, wait_for
from tests.factories import event_kinds

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOBS = 400


def test_eight_threads_record_every_event_of_every_job_without_lock_errors(
    redis_url: str, tmp_path: Path, settings: Any, monkeypatch: Any
):
    monkeypatch.setenv("WORKBENCH_DIR", str(tmp_path))
    worker = WorkerProcess(
        redis_url,
        tmp_path,
        settings.MEDIA_ROOT,
        extra_env={"EXTRA_INSTALLED_APPS": "tests.workbench", "WORKBENCH_DIR": str(tmp_path)},
        command=("rundramatiq", "--processes", "1", "--threads", "8"),
    )
    try:
        with transaction.atomic():
            ids = [enqueue(workbench.quick_effect, f"job-{n}").pk for n in range(JOBS)]
        wait_for(
            lambda: Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == JOBS,
            120,
            worker.logs,
        )
    finally:
        worker.stop()
    # The sends were recorded by this process's background writer, maybe after a job's end:
    # each in the row's sent_at all the same (about 8 % of jobs had none).
    sends = Job.objects.filter(pk__in=ids, sent_at__isnull=False)
    wait_for(lambda: sends.count() == JOBS, 10)

    expected = [EventKind.ENQUEUED, EventKind.QUEUED, EventKind.STARTED, EventKind.SUCCEEDED]
    for job in Job.objects.filter(pk__in=ids):
        assert sorted(event_kinds(job)) == sorted(expected), job.pk
    logs = worker.logs()
    assert "database is locked" not in logs
    assert "LEDGER WRITE LOST" not in logs
    assert "Ledger write failed" not in logs  # not even a retried write
    done = [line.split()[0] for line in workbench.runs(tmp_path, "done")]
    assert sorted(done) == sorted(f"job-{n}" for n in range(JOBS))  # each ran exactly once
