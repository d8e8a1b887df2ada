"""Waiting for a result: what result() and aresult() answer for each way a job can end."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

import tests.workbench.tasks as workbench
from jobs import JobFailedError, aresult, result
from jobs.ledger.results import ResultNotStorableError, shown_result, storable_result
from jobs.models import EventKind, Job, JobEvent, JobStatus
from tests.conftest import run_coroutine

pytestmark = pytest.mark.django_db(transaction=True)


def job(status: JobStatus, **fields: object) -> Job:
    created = Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name="some_actor",
        queue_name="default",
        args=[],
        kwargs={},
        max_retries=0,
    )
    Job.objects.filter(pk=created.pk).update(status=status, **fields)
    return created


def test_a_succeeded_job_gives_its_result_sync_and_async():
    done = job(JobStatus.SUCCEEDED, result={"rows": 3})
    assert result(done) == {"rows": 3}
    assert run_coroutine(aresult(str(done.pk))) == {"rows": 3}


def test_a_failed_job_raises_with_its_recorded_error_and_traceback():
    failed = job(JobStatus.FAILED, error_type="ValueError", last_error="ValueError: bad row 7")
    JobEvent.objects.create(
        job=failed, kind=EventKind.FAILED, traceback="Traceback ...\nValueError: bad row 7"
    )
    for wait in (lambda: result(failed), lambda: run_coroutine(aresult(failed))):
        with pytest.raises(JobFailedError, match="bad row 7") as raised:
            wait()
        assert raised.value.traceback.endswith("ValueError: bad row 7")
        assert (raised.value.status, raised.value.error_type) == ("failed", "ValueError")


def test_a_cancelled_job_raises_and_an_unfinished_one_times_out():
    with pytest.raises(JobFailedError, match="cancelled"):
        result(job(JobStatus.CANCELLED))
    waiting = job(JobStatus.QUEUED)
    with pytest.raises(TimeoutError):
        result(waiting, timeout=0.1)
    with pytest.raises(TimeoutError):
        run_coroutine(aresult(waiting, timeout=0.1))
    with pytest.raises(Job.DoesNotExist):
        result(uuid.uuid4())


def test_only_json_within_the_size_setting_is_storable(settings):
    settings.JOBS_RESULT_MAX_BYTES = 50
    assert storable_result(("a", 1)) == ["a", 1]
    # Stored as returned: hiding declared keys is for where people look (shown_result).
    assert storable_result({"password": "p", "n": [{"token": 1}]}) == {
        "password": "p",
        "n": [{"token": 1}],
    }
    for bad in ({1, 2}, float("nan"), "x" * 60):
        with pytest.raises(ResultNotStorableError):
            storable_result(bad)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="cuts PostgreSQL connections: the PostgreSQL pass"
)
def test_aresult_reconnects_after_the_database_dropped_its_connection():
    done = job(JobStatus.SUCCEEDED, result=1)
    assert run_coroutine(aresult(done)) == 1  # asgiref's shared thread now holds a connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert run_coroutine(aresult(done)) == 1


def test_people_see_results_with_only_the_declared_keys_hidden(settings):
    value = {"token_count": 3, "api_token": "t", "rows": [{"Session": "s", "secretary": "Ann"}]}
    settings.JOBS_SECRET_RESULT_KEYS = ["session"]

    assert shown_result("no-such-actor", value) == {
        "token_count": 3,
        "api_token": "t",
        "rows": [{"Session": "[redacted]", "secretary": "Ann"}],
    }
    assert shown_result(workbench.returns.actor_name, value)["api_token"] == "[redacted]"
