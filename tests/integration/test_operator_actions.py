"""Operator actions against a real worker: a retried job runs again, a cancelled one is skipped."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.test import Client

import tests.workbench.tasks as workbench
from accounts.models import User
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, wait_for, wait_until_final
from tests.factories import event_kinds

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def staff_client(staff: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    page = client.get("/admin/jobs/job/")
    client.csrf = page.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


def post(client: Client, url: str) -> None:
    response = client.post(url, {"csrfmiddlewaretoken": client.csrf})  # type: ignore[attr-defined]
    assert response.status_code == 302, response.content[:500]


def test_a_failed_job_retried_from_the_admin_runs_again_and_succeeds(
    workbench_worker: WorkerProcess, tmp_path: Path, staff: User
):
    (tmp_path / "fixme.broken").touch()
    job = enqueue(workbench.flaky, "fixme")
    assert wait_until_final(job.pk, workbench_worker).status == JobStatus.FAILED
    (tmp_path / "fixme.broken").unlink()  # the bug is fixed

    post(staff_client(staff), f"/admin/jobs/job/{job.pk}/retry/")

    job = wait_until_final(job.pk, workbench_worker)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    kinds = event_kinds(job)
    assert kinds == [
        "enqueued",
        "queued",
        "started",
        "failed",
        "retried",
        "queued",
        "started",
        "succeeded",
    ]
    assert [line.split()[0] for line in workbench.runs(tmp_path, "attempts")] == ["fixme"] * 2
    assert len(workbench.runs(tmp_path, "done")) == 1


def test_a_cancelled_job_is_skipped_by_the_worker_when_it_arrives(
    workbench_worker: WorkerProcess, tmp_path: Path, staff: User
):
    job = enqueue(workbench.flaky, "later", delay=dt.timedelta(seconds=2))
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SCHEDULED, 10)

    post(staff_client(staff), f"/admin/jobs/job/{job.pk}/cancel/")

    wait_for(
        lambda: Job.objects.get(pk=job.pk).events.filter(kind=EventKind.SKIPPED).exists(),
        30,
        workbench_worker.logs,
    )
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert workbench.runs(tmp_path, "attempts") == []


def test_secret_arguments_reach_the_actor_after_run_again(
    workbench_worker: WorkerProcess, tmp_path: Path, staff: User
):
    job = enqueue(workbench.with_secrets, "s1", "tok-1", password="pw-1", iban="DE-1")
    assert wait_until_final(job.pk, workbench_worker).status == JobStatus.SUCCEEDED

    post(staff_client(staff), f"/admin/jobs/job/{job.pk}/run-again/")

    copy = wait_until_final(Job.objects.get(copy_of=job).pk, workbench_worker)
    assert copy.status == JobStatus.SUCCEEDED
    assert copy.kwargs == {"password": "[redacted]", "iban": "[redacted]"}
    received = [line.rsplit(" pid=", 1)[0] for line in workbench.runs(tmp_path, "secrets")]
    assert received == ["s1 tok-1 pw-1 DE-1"] * 2  # the original run and the copy


def test_the_dashboard_lists_the_running_worker(workbench_worker: WorkerProcess, staff: User):
    client = Client()
    client.force_login(staff)

    def listed_alive() -> list[str]:
        page = client.get("/admin/jobs/job/dashboard/", {"partial": "1"}).json()["sections"][
            "queues-workers"
        ]["html"]
        return re.findall(
            r"<td title=\"[-0-9a-f]+\">([^<]+)</td>\s*<td>4</td>.*?<td>alive</td>", page, re.S
        )

    [process] = wait_for(listed_alive, 20, workbench_worker.logs)
    assert process.split(":")[1].isdigit()  # host:pid of the worker process
