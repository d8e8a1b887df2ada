"""JobTracker inside an in-process Dramatiq worker on the real Redis: outcomes the suite's
subprocess worker cannot reach (test-only actors, age limits, non-retryable errors)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.middleware import Retries, TimeLimit

from jobs.ledger import transitions
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from jobs.worker.tracker import JobTracker
from tests.conftest import settled, wait_for
from tests.factories import event_kinds

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "tracker-tests"
runs: list[str] = []


@dramatiq.actor(queue_name=QUEUE, max_retries=3, throws=(PermissionError,))
def refuse_forever() -> None:
    runs.append("refuse")
    raise PermissionError("not allowed, and retrying will not help")


@dramatiq.actor(queue_name=QUEUE, max_retries=1, min_backoff=10, max_backoff=20)
def fail_then_succeed(key: str) -> None:
    runs.append(key)
    if runs.count(key) == 1:
        raise ConnectionError("transient")


@dramatiq.actor(queue_name=QUEUE, max_age=1)
def too_old_to_matter() -> None:
    runs.append("old")


def gave_up_on(key: str, *, error: str) -> None:
    runs.append(f"gave up on {key}: {error}")


@dramatiq.actor(
    queue_name=QUEUE, max_retries=1, min_backoff=10, max_backoff=20, on_final_failure=gave_up_on
)
def always_fails(key: str) -> None:
    runs.append(key)
    raise ConnectionError(f"attempt {runs.count(key)}")


@dramatiq.actor(
    queue_name=QUEUE, max_retries=3, throws=(PermissionError,), on_final_failure=gave_up_on
)
def refused_at_once(key: str) -> None:
    runs.append(key)
    raise PermissionError("no")


@pytest.fixture
def in_process_worker(redis_url: str) -> Iterator[Worker]:
    broker: Any = dramatiq.get_broker()
    middleware = list(broker.middleware)
    runs.clear()
    worker = Worker(broker, queues={QUEUE}, worker_threads=2, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()
    broker.middleware[:] = middleware  # Worker.start() appends middleware it never removes


def final(job_id: Any) -> Job:
    job: Job = wait_for(lambda: settled(job_id), 20)
    return job


def test_tracker_is_first_so_it_records_after_retries_and_time_limit_decided():
    names = [type(m) for m in dramatiq.get_broker().middleware]

    assert names[0] is JobTracker
    assert names.index(Retries) > 0 and names.index(TimeLimit) > 0


def test_a_non_retryable_error_fails_the_job_after_one_attempt(in_process_worker: Worker):
    job = final(enqueue(refuse_forever).id)

    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    failed = job.events.get(kind=EventKind.FAILED)
    assert failed.exception_type == "PermissionError"
    assert runs == ["refuse"]


def test_a_failed_attempt_is_retried_and_then_succeeds(in_process_worker: Worker):
    job = final(enqueue(fail_then_succeed, "a").id)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert job.last_error == ""
    kinds = event_kinds(job)
    assert kinds == ["enqueued", "queued", "started", "attempt_failed", "started", "succeeded"]
    assert job.events.get(kind=EventKind.ATTEMPT_FAILED).exception_type == "ConnectionError"


def test_a_message_past_its_age_limit_is_claimed_then_recorded_as_skipped(
    in_process_worker: Worker,
):
    in_process_worker.pause()
    job = enqueue(too_old_to_matter)
    time.sleep(0.05)  # older than max_age=1 ms by the time a worker sees it
    in_process_worker.resume()

    job = final(job.id)
    assert job.status == JobStatus.SKIPPED
    assert "age limit" in job.events.get(kind=EventKind.SKIPPED).message
    assert runs == []


@dramatiq.actor(queue_name=QUEUE)
def sent_bare(key: str) -> None:
    runs.append(key)


def test_a_bare_send_whose_row_lands_just_after_the_first_claim_still_runs(
    in_process_worker: Worker, monkeypatch: pytest.MonkeyPatch
):
    """The race of a plain actor.send(): the worker's first claim finds no row, then the
    sender's after_enqueue inserts it, then the worker looks again. Replayed deterministically:
    the insert happens at the moment the worker looks."""
    original = transitions.reclaim_after_worker_lost

    def sender_inserts_now(job_id: Any, **identity: Any) -> Any:
        Job.objects.create_from_message(
            job_id=job_id,
            actor_name="sent_bare",
            queue_name=QUEUE,
            args=["raced"],
            kwargs={},
            max_retries=0,
        )
        return original(job_id, **identity)

    monkeypatch.setattr(transitions, "reclaim_after_worker_lost", sender_inserts_now)
    broker: Any = dramatiq.get_broker()
    # The message reaches the worker before any row exists (its after_enqueue is not run).
    message = sent_bare.message("raced")
    broker.enqueue(message.copy(options={**message.options, "offload_recorded": True}))

    job = wait_for(
        lambda: Job.objects.filter(pk=message.message_id, status__in=JobStatus.final()).first(), 20
    )
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    assert runs == ["raced"]
    assert not job.events.filter(kind=EventKind.SKIPPED).exists()


def test_worker_join_then_join_acks_leaves_nothing_unacked(in_process_worker: Worker, redis_client):
    from tests.conftest import unacked

    jobs = [enqueue(sent_bare, f"join-{n}") for n in range(20)]
    tracker = next(m for m in dramatiq.get_broker().middleware if isinstance(m, JobTracker))
    wait_for(lambda: len(runs) == 20, 20)

    in_process_worker.join()
    tracker.join_acks()

    assert unacked(redis_client, QUEUE) == 0
    assert all(Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED for job in jobs)


def test_the_final_failure_hook_runs_once_when_the_ledger_fails_the_job(in_process_worker: Worker):
    exhausted = final(enqueue(always_fails, "spent").id)
    refused = final(enqueue(refused_at_once, "refused").id)
    succeeded = final(enqueue(fail_then_succeed, "fine").id)

    assert (exhausted.status, exhausted.attempts) == (JobStatus.FAILED, 2)
    assert (refused.status, refused.attempts) == (JobStatus.FAILED, 1)
    assert succeeded.status == JobStatus.SUCCEEDED
    hooks = [run for run in runs if run.startswith("gave up")]
    # Not after the first, retried attempt; once after the last; none for a success.
    assert sorted(hooks) == [
        "gave up on refused: PermissionError: no",
        "gave up on spent: ConnectionError: attempt 2",
    ]


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def runs_once_or_never(key: str) -> None:
    runs.append(key)


def test_a_database_outage_at_the_claim_spends_no_retry(
    in_process_worker: Worker, monkeypatch: pytest.MonkeyPatch
):
    """Four deliveries meet a database that refuses the claim (after the claim's own write
    retries): a job with no retries left still runs, once, when the database answers again."""
    from django.db import OperationalError

    broker: Any = dramatiq.get_broker()
    tracker = next(m for m in broker.middleware if isinstance(m, JobTracker))
    refused: list[int] = []
    claim = tracker.process.claim

    def down_four_times(request: Any) -> Any:
        if len(refused) < 4:
            refused.append(request.retries)
            raise OperationalError("connection refused (the database is restarting)")
        return claim(request)

    monkeypatch.setattr(tracker.process, "claim", down_four_times)
    job = enqueue(runs_once_or_never, "outage")

    done = final(job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
    assert runs == ["outage"]
    assert refused == [0, 0, 0, 0]  # each delivery still its first attempt
