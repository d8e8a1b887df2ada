"""Django's Tasks framework through TASKS = OffloadBackend: tasks enqueued from Python, run by a
real worker, read back with get_result() / refresh(); failures, run_after, async and context."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import tests.workbench.tasks as workbench
from jobs import JobFailedError, result
from jobs.models import Job, JobStatus
from jobs.tasks_framework import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
)
from jobs.tasks_framework.backend import OffloadBackend
from tests.conftest import WorkerProcess, run_coroutine, wait_until_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_backend_says_what_it_supports():
    backend = task_backends["default"]
    assert isinstance(backend, OffloadBackend)
    assert (backend.supports_defer, backend.supports_async_task, backend.supports_get_result) == (
        True,
        True,
        True,
    )
    # Where the broker orders by priority: RabbitMQ, not Redis (test_tasks_framework_contract.py).
    assert backend.supports_priority is bool(settings.BROKER_URL)
    with pytest.raises(InvalidTask, match="Queue 'elsewhere'"):
        workbench.add.using(queue_name="elsewhere")
    with pytest.raises(TaskResultDoesNotExist):
        workbench.add.get_result("not-a-job-id")


def test_a_task_is_a_ledger_job_run_by_the_worker_and_read_back(workbench_worker: WorkerProcess):
    task_result = workbench.add.enqueue(2, 3)

    assert str(task_result.status) == TaskResultStatus.READY
    job = Job.objects.get(pk=task_result.id)
    assert (job.actor_name, job.queue_name, job.args) == (
        "tests.workbench.tasks.add",
        "default",
        [2, 3],
    )
    assert result(job, timeout=30) == 5
    task_result.refresh()
    assert task_result.status == TaskResultStatus.SUCCESSFUL
    assert task_result.return_value == 5
    assert task_result.attempts == 1 and task_result.worker_ids[0]
    assert task_result.errors == []
    again = workbench.add.get_result(task_result.id)
    assert (again.status, again.return_value, again.args) == (
        TaskResultStatus.SUCCESSFUL,
        5,
        [2, 3],
    )
    assert again.started_at and again.finished_at and again.started_at <= again.finished_at


def test_a_failing_task_reports_its_error_and_traceback(workbench_worker: WorkerProcess):
    task_result = workbench.explode.enqueue("boom")

    with pytest.raises(JobFailedError):
        result(task_result.id, timeout=30)
    task_result.refresh()
    assert task_result.status == TaskResultStatus.FAILED
    [error] = task_result.errors
    assert error.exception_class is ValueError
    assert "boom exploded" in error.traceback
    with pytest.raises(ValueError, match="failed"):
        task_result.return_value  # noqa: B018  # the framework's answer for a failed task


def test_run_after_defers_the_task(workbench_worker: WorkerProcess):
    due = timezone.now() + dt.timedelta(seconds=2)
    task_result = workbench.add.using(run_after=due).enqueue(1, 1)

    assert workbench.add.get_result(task_result.id).status == TaskResultStatus.READY
    assert result(task_result.id, timeout=30) == 2
    job = wait_until_final(task_result.id, workbench_worker)
    assert job.first_started_at is not None and job.first_started_at >= due


def test_an_async_task_with_context_enqueued_from_async_code(workbench_worker: WorkerProcess):
    async def go() -> tuple[str, dict[str, object]]:
        task_result = await workbench.attempt_of.aenqueue("ctx")
        value = await asyncio.to_thread(result, task_result.id, timeout=30)
        await task_result.arefresh()
        assert task_result.status == TaskResultStatus.SUCCESSFUL
        return task_result.id, value

    task_id, value = run_coroutine(go())
    assert value == {"key": "ctx", "attempt": 1, "id": task_id}


def test_a_task_enqueued_in_a_rolled_back_transaction_never_exists(workbench_worker):
    class RollbackError(Exception):
        pass

    with pytest.raises(RollbackError), transaction.atomic():
        task_id = workbench.add.enqueue(7, 7).id
        raise RollbackError
    assert not Job.objects.filter(pk=task_id).exists()
    later = workbench.add.enqueue(1, 2)
    assert wait_until_final(later.id, workbench_worker).status == JobStatus.SUCCEEDED
