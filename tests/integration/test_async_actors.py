"""`async def` actors on a real worker, tracked like sync ones; results read back from Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

import tests.workbench.tasks as workbench
from jobs import JobFailedError, aresult, result
from jobs.models import EventKind, JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, run_coroutine, wait_for, wait_until_final
from tests.factories import event_kinds

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_async_actor_runs_is_tracked_and_its_result_read_sync_and_async(
    workbench_worker: WorkerProcess, tmp_path: Path
):
    job = enqueue(workbench.async_effect, "a1")

    # The attempt's context reaches the coroutine: CurrentMessage, and the job on log lines.
    expected = {"key": "a1", "message_id": str(job.pk)}
    assert result(job, timeout=30) == expected
    assert run_coroutine(aresult(job.pk, timeout=5)) == expected
    job = wait_until_final(job.pk, workbench_worker)
    assert (job.status, job.attempts, job.result) == (JobStatus.SUCCEEDED, 1, expected)
    assert event_kinds(job) == ["enqueued", "queued", "started", "succeeded"]
    assert [line.split()[0] for line in workbench.runs(tmp_path, "done")] == ["a1"]
    [line] = [line for line in workbench_worker.logs().splitlines() if "async effect a1" in line]
    assert str(job.pk) in line and "async_effect" in line
    # Not Dramatiq's false warning that the returned value was discarded: the ledger kept it.
    assert "has been discarded" not in workbench_worker.logs()


def test_an_async_actor_that_fails_is_retried_and_then_succeeds(
    workbench_worker: WorkerProcess, tmp_path: Path
):
    job = enqueue(workbench.async_fails_once, "r1")

    assert result(job, timeout=30) == "r1 done"
    job = wait_until_final(job.pk, workbench_worker)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert event_kinds(job) == [
        "enqueued",
        "queued",
        "started",
        "attempt_failed",
        "started",
        "succeeded",
    ]
    failed = job.events.get(kind=EventKind.ATTEMPT_FAILED)
    assert "first attempt fails" in failed.message and "async_fails_once" in failed.traceback


def test_an_async_actor_over_its_time_limit_is_stopped_and_failed(
    workbench_worker: WorkerProcess, tmp_path: Path
):
    job = enqueue(workbench.async_sleeper, "t1", 30)

    with pytest.raises(JobFailedError) as failure:
        result(job, timeout=30)
    assert failure.value.error_type == "TimeLimitExceeded"
    assert failure.value.status == JobStatus.FAILED
    assert "TimeLimitExceeded" in failure.value.traceback
    # Said, not an empty message: the limit and when it stopped.
    assert re.fullmatch(
        r"TimeLimitExceeded: Time limit of 0.5 s exceeded: stopped after \d+\.\d s\.",
        failure.value.error,
    ), failure.value.error
    job = wait_until_final(job.pk, workbench_worker)
    assert job.duration is not None and job.duration.total_seconds() < 10
    assert workbench.runs(tmp_path, "started") and not workbench.runs(tmp_path, "done")


def test_a_sync_actor_over_its_time_limit_says_so(workbench_worker: WorkerProcess):
    job = enqueue(workbench.sync_sleeper, "s1", 30)

    with pytest.raises(JobFailedError) as failure:
        result(job, timeout=30)
    assert failure.value.error_type == "TimeLimitExceeded"
    assert failure.value.error.startswith(
        "TimeLimitExceeded: Time limit of 0.5 s exceeded: stopped after"
    )


def test_an_async_actor_blocking_its_event_loop_is_recorded_truthfully_and_reported(
    workbench_worker: WorkerProcess, tmp_path: Path
):
    """A blocking call in async code: its time limit cannot stop it. The ledger says that its
    work may still be running, the worker log names it while the loop is blocked, and the
    other async jobs of the process wait, then run."""
    blocker = enqueue(workbench.async_blocker, "b1", 4)
    wait_for(lambda: workbench.runs(tmp_path, "started"), 20, workbench_worker.logs)
    other = enqueue(workbench.async_effect, "after-the-block")

    with pytest.raises(JobFailedError) as failure:
        result(blocker, timeout=30)
    assert failure.value.error_type == "TimeLimitExceeded"
    assert failure.value.error.startswith("TimeLimitExceeded: Time limit of 1 s exceeded after")
    assert "Its work may still be running" in failure.value.error
    assert "Timed out while waiting for coroutine" in failure.value.traceback  # Dramatiq's own

    assert result(other, timeout=30)["key"] == "after-the-block"  # it waited, then ran
    # The blocked work did run on to its end, as recorded.
    wait_for(
        lambda: any(line.startswith("b1 ") for line in workbench.runs(tmp_path, "done")),
        20,
        workbench_worker.logs,
    )
    logs = workbench_worker.logs()
    assert "The event loop of this worker process has not answered for" in logs
    assert f"job {blocker.pk} (async_blocker, for" in logs
    wait_for(lambda: "answers again, after" in workbench_worker.logs(), 20, workbench_worker.logs)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("object", "is not JSON"), ("too_big", "over JOBS_RESULT_MAX_BYTES")],
)
def test_a_result_the_ledger_cannot_keep_fails_the_job_loudly_without_retries(
    workbench_worker: WorkerProcess, kind: str, error: str
):
    job = enqueue(workbench.returns, kind)

    with pytest.raises(JobFailedError, match=error) as failure:
        result(job, timeout=30)
    assert failure.value.error_type == "ResultNotStorableError"
    job = wait_until_final(job.pk, workbench_worker)
    assert (job.status, job.attempts, job.result) == (JobStatus.FAILED, 1, None)
    assert error in job.last_error and "return its name or id" in job.last_error


def test_a_result_is_returned_as_is_and_its_declared_keys_hidden_from_people(
    workbench_worker: WorkerProcess, staff
):
    job = enqueue(workbench.returns, "secret")

    assert result(job, timeout=30) == {"api_token": "tok-123", "rows": [1, 2, 3]}
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    status = client.get(f"/jobs/{job.pk}").json()
    assert "tok-123" not in page and "rows" in page
    assert status["result"] == {"api_token": "[redacted]", "rows": [1, 2, 3]}
