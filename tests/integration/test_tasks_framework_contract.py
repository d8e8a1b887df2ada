"""The Tasks framework's contract where OffloadBackend broke it (one test per break): signals
from the worker, validation at enqueue, the exception class from the object, return values and
arguments as given, tasks outside tasks.py, and the task as `using()` made it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

import tests.workbench.more_tasks as more
import tests.workbench.tasks as workbench
from jobs import enqueue, result
from jobs.maintenance.relay import message_for
from jobs.models import EventKind, Job, JobStatus
from jobs.tasks_framework import InvalidTask, Task, TaskResultStatus, task
from tests.conftest import WorkerProcess, wait_for, wait_until_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(task_result: Any, worker: WorkerProcess) -> Any:
    wait_until_final(task_result.id, worker, timeout=60)
    task_result.refresh()
    return task_result


def test_the_worker_sends_task_started_and_task_finished(workbench_worker: WorkerProcess):
    ok = finished(workbench.add.enqueue(2, 2), workbench_worker)
    failed = finished(workbench.explode.enqueue("kaboom"), workbench_worker)

    def logged(task_result: Any, state: str) -> bool:
        line = f"Task id={task_result.id} path={task_result.task.module_path} state={state}"
        return line in workbench_worker.logs()

    wait_for(lambda: logged(failed, "FAILED"), 10, workbench_worker.logs)
    assert logged(ok, "RUNNING") and logged(ok, "SUCCESSFUL")
    assert logged(failed, "RUNNING") and "kaboom exploded" in workbench_worker.logs()


def test_the_signals_carry_the_worker_and_the_attempt(workbench_worker: WorkerProcess, tmp_path):
    ok = finished(workbench.add.enqueue(1, 2), workbench_worker)
    job = Job.objects.get(pk=ok.id)

    def signals() -> list[dict[str, Any]]:
        lines = [line.rsplit(" pid=", 1)[0] for line in workbench.runs(tmp_path, "task_signals")]
        return [seen for seen in map(json.loads, lines) if seen["id"] == ok.id]

    wait_for(lambda: len(signals()) == 2, 10, lambda: str(signals()))
    started, done = signals()
    assert started["signal"] == "started" and started["status"] == "RUNNING"
    assert done["signal"] == "finished" and done["status"] == "SUCCESSFUL"
    for seen in (started, done):
        assert seen["attempts"] == 1 and seen["worker_ids"] == [job.worker]


@pytest.mark.redis
def test_a_priority_is_refused_on_redis_with_the_frameworks_error():
    with pytest.raises(InvalidTask, match="does not support setting priority"):
        workbench.add.using(priority=10)
    assert workbench.add.using(priority=0).enqueue(1, 1).task.priority == 0


@pytest.mark.rabbitmq
def test_rabbitmq_runs_a_queue_by_priority_then_in_order(
    redis_url: str, tmp_path, settings: Any, monkeypatch: Any
):
    # Enqueued while no worker runs: low first, then a plain actor's send, then high.
    low = workbench.add.using(priority=-100).enqueue(1, 0)
    plain = enqueue(workbench.plain_in_the_default_queue)
    normal = workbench.add.enqueue(2, 0)
    high = workbench.add.using(priority=100).enqueue(3, 0)
    assert Job.objects.get(pk=high.id).priority == 100
    # A resend (the relay, staff's retry) rebuilds the message with the job's priority.
    assert message_for(Job.objects.get(pk=high.id)).options["broker_priority"] == 10
    assert message_for(Job.objects.get(pk=low.id)).options["broker_priority"] == 0
    monkeypatch.setenv("WORKBENCH_DIR", str(tmp_path))
    one_at_a_time = WorkerProcess(
        redis_url,
        tmp_path,
        settings.MEDIA_ROOT,
        command=("rundramatiq", "--processes", "1", "--threads", "1"),
        extra_env={
            "EXTRA_INSTALLED_APPS": "tests.workbench",
            "WORKBENCH_DIR": str(tmp_path),
            "dramatiq_queue_prefetch": "1",
        },
    )
    try:
        for job_id in (low.id, plain.pk, normal.id, high.id):
            wait_until_final(job_id, one_at_a_time, timeout=60)
    finally:
        one_at_a_time.stop()
    started = Job.objects.filter(pk__in=[low.id, plain.pk, normal.id, high.id])
    order = [str(job.pk) for job in started.order_by("first_started_at")]
    # The plain send ranks as priority 0: after high, before low, in its order with `normal`.
    assert order == [high.id, str(plain.pk), normal.id, low.id]


def test_enqueue_validates_the_task_against_the_backend_again():
    made_here = workbench.add.using(queue_name="default")
    tasks = {
        "default": {"BACKEND": "jobs.tasks_framework.backend.OffloadBackend", "QUEUES": ["other"]}
    }

    with override_settings(TASKS=tasks), pytest.raises(InvalidTask, match="default"):
        made_here.enqueue(1, 1)
    assert not Job.objects.exists()


def test_the_exception_class_comes_from_the_exception_not_its_text(
    workbench_worker: WorkerProcess,
):
    failed = finished(more.raise_with_a_note.enqueue(), workbench_worker)

    [error] = failed.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "hint: look at the second line" in error.traceback


def test_the_return_value_is_what_the_task_returned(workbench_worker: WorkerProcess):
    done = finished(more.returns_lookalike_keys.enqueue(), workbench_worker)

    assert done.return_value == {
        "token_count": 3,
        "footprint": "small",
        "secretary": "Ann",
        "api_token": "tok-9",
    }


def test_the_caller_gets_the_real_arguments_and_the_ledger_keeps_them_sealed(
    workbench_worker: WorkerProcess,
):
    enqueued = more.with_token.enqueue("ann", api_token="tok-Real-1")

    assert (enqueued.args, enqueued.kwargs) == (["ann"], {"api_token": "tok-Real-1"})
    job = Job.objects.get(pk=enqueued.id)
    assert job.kwargs == {"api_token": "[redacted]"}
    done = finished(enqueued, workbench_worker)
    assert done.return_value == "ann:tok-Real-1"
    assert more.with_token.get_result(enqueued.id).kwargs == {"api_token": "tok-Real-1"}


def test_a_task_outside_tasks_py_runs(workbench_worker: WorkerProcess):
    done = finished(more.multiply.enqueue(6, 7), workbench_worker)

    assert (done.status, done.return_value) == (TaskResultStatus.SUCCESSFUL, 42)
    enqueued = Job.objects.get(pk=done.id).events.get(kind=EventKind.ENQUEUED)
    assert enqueued.message.endswith("tests.workbench.more_tasks.multiply")


def test_a_task_that_cannot_be_imported_fails_with_the_reason(workbench_worker: WorkerProcess):
    def vanished(a: int) -> int:
        return a

    vanished.__module__ = "tests.workbench.no_such_module"
    vanished.__qualname__ = "vanished"  # as if defined at the top of that module
    ghost: Task[Any, Any] = task()(vanished)

    job = wait_until_final(ghost.enqueue(1).id, workbench_worker, timeout=60)

    assert job.status == JobStatus.FAILED
    assert "tests.workbench.no_such_module.vanished cannot be imported" in job.last_error
    assert "No module named 'tests.workbench.no_such_module'" in job.last_error


def test_get_result_gives_back_the_task_as_using_made_it(workbench_worker: WorkerProcess):
    due = timezone.now() + dt.timedelta(seconds=1)
    made = workbench.add.using(queue_name="default", run_after=due)
    enqueued = made.enqueue(3, 4)

    assert workbench.add.get_result(enqueued.id).task == made
    # The ledger's own record says it came through the framework, and which task it is.
    said = Job.objects.get(pk=enqueued.id).events.get(kind=EventKind.ENQUEUED).message
    assert said == f"Enqueued through Django's Tasks framework: {made.module_path}"
    assert result(enqueued.id, timeout=30) == 7
    again = workbench.add.get_result(enqueued.id)
    assert again.task == enqueued.task and again.task.run_after == due
