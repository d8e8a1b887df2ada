"""Operator actions (retry, run again, cancel, delete): batched, each recorded with its operator."""

from __future__ import annotations

import json
import uuid

import dramatiq
import pytest
from dramatiq import Message

import tests.workbench.tasks as workbench
from accounts.models import User
from jobs.admin import bulk as operations
from jobs.brokers.sealing import message_arguments
from jobs.ledger import staff_actions
from jobs.maintenance.ledger_check import check_ledger
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.factories import event_kinds

pytestmark = pytest.mark.django_db


def job_in(status: JobStatus, actor=workbench.flaky, *args, **fields) -> Job:
    job = enqueue(actor, *(args or ("k",)))
    Job.objects.filter(pk=job.pk).update(status=status, **fields)
    job.refresh_from_db()
    return job


def failed_job(**fields) -> Job:
    return job_in(
        JobStatus.FAILED, attempts=1, delivery_id=str(uuid.uuid4()), last_error="boom", **fields
    )


def dead_letter(redis_client, job: Job) -> None:
    """What Dramatiq's Redis broker does when a message fails for good."""
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    key = f"{namespace}:{job.queue_name}.XQ"
    payload = json.dumps({"message_id": str(job.pk), "queue_name": job.queue_name})
    redis_client.zadd(key, {job.delivery_id: 1})
    redis_client.hset(f"{key}.msgs", job.delivery_id, payload)


def test_retry_sends_the_same_job_again_with_a_new_attempt_series(
    redis_url: str, redis_client, staff: User
):
    job = failed_job()
    dead_letter(redis_client, job)

    outcome = operations.retry(Job.objects.filter(pk=job.pk), operator=staff)

    job.refresh_from_db()
    assert (outcome.done, outcome.skipped) == (1, 0)
    assert job.status == JobStatus.QUEUED
    assert job.attempts == 0
    assert job.finished_at is None
    retried = job.events.get(kind=EventKind.RETRIED)
    assert retried.operator == staff
    assert event_kinds(job)[-2:] == [EventKind.RETRIED, EventKind.QUEUED]
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    waiting = redis_client.hvals(f"{namespace}:{workbench.QUEUE}.msgs")
    assert [json.loads(m)["message_id"] for m in waiting] == [str(job.pk)]
    # The dead copy is gone, so the ledger check does not fail the retried job again.
    assert redis_client.zcard(f"{namespace}:{workbench.QUEUE}.XQ") == 0
    check_ledger(repair=True)
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_retry_skips_jobs_that_are_not_failed(redis_url: str, staff: User):
    failed, done = failed_job(), job_in(JobStatus.SUCCEEDED)

    outcome = operations.retry(Job.objects.all(), operator=staff)

    assert (outcome.done, outcome.skipped) == (1, 1)
    assert Job.objects.get(pk=done.pk).status == JobStatus.SUCCEEDED
    assert Job.objects.get(pk=failed.pk).status == JobStatus.QUEUED


def test_retry_with_the_broker_down_changes_nothing(redis_url: str, staff: User):
    from tests.conftest import point_broker_at

    job = failed_job()
    point_broker_at("redis://127.0.0.1:1/0")
    try:
        outcome = operations.retry(Job.objects.filter(pk=job.pk), operator=staff)
    finally:
        point_broker_at(redis_url)

    assert outcome.done == 0
    assert outcome.problems and "Broker unreachable" in outcome.problems[0]
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_run_again_copies_the_job_with_its_real_arguments_and_links_both(
    redis_url: str, redis_client, staff: User
):
    original = job_in(JobStatus.SUCCEEDED, workbench.with_secrets, "k", "tok-1")

    outcome = operations.run_again(Job.objects.filter(pk=original.pk), operator=staff)

    assert outcome.done == 1
    copy = Job.objects.get(copy_of=original)
    assert copy.status == JobStatus.QUEUED
    assert copy.caused_by == staff
    assert copy.args == original.args  # still redacted in the ledger
    enqueued = copy.events.get(kind=EventKind.ENQUEUED)
    assert enqueued.operator == staff and str(original.pk) in enqueued.message
    assert original.events.get(kind=EventKind.COPIED).operator == staff
    assert Job.objects.get(pk=original.pk).status == JobStatus.SUCCEEDED
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    [sent] = [json.loads(m) for m in redis_client.hvals(f"{namespace}:{workbench.QUEUE}.msgs")]
    assert sent["message_id"] == str(copy.pk)
    assert "tok-1" not in json.dumps(sent)  # sealed in the broker, opened for the actor
    assert message_arguments(Message.decode(json.dumps(sent).encode()))[0] == ["k", "tok-1"]


@pytest.mark.parametrize("status", sorted(JobStatus.cancellable()))
def test_waiting_jobs_can_be_cancelled(status: JobStatus, staff: User):
    job = job_in(status)

    outcome = operations.cancel(Job.objects.filter(pk=job.pk), operator=staff)

    job.refresh_from_db()
    assert outcome.done == 1
    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None
    event = job.events.get(kind=EventKind.CANCELLED)
    assert event.operator == staff and status in event.message


@pytest.mark.parametrize("status", sorted(set(JobStatus) - JobStatus.cancellable()))
def test_running_and_finished_jobs_cannot_be_cancelled(status: JobStatus, staff: User):
    job = job_in(status)

    outcome = operations.cancel(Job.objects.filter(pk=job.pk), operator=staff)

    assert (outcome.done, outcome.skipped) == (0, 1)
    assert Job.objects.get(pk=job.pk).status == status


def test_delete_removes_finished_jobs_with_their_events_and_keeps_the_others():
    finished, running = job_in(JobStatus.SUCCEEDED), job_in(JobStatus.RUNNING)
    logged: list[Job] = []

    outcome = operations.delete(Job.objects.all(), on_deleted=logged.extend)

    assert (outcome.done, outcome.skipped) == (1, 1)
    assert [job.pk for job in logged] == [finished.pk]
    assert not Job.objects.filter(pk=finished.pk).exists()
    assert not finished.events.exists()
    assert Job.objects.filter(pk=running.pk).exists()


def test_bulk_actions_cover_every_job_across_batches(monkeypatch, staff: User):
    monkeypatch.setattr(operations, "BATCH_SIZE", 3)
    for _ in range(8):
        job_in(JobStatus.QUEUED)
    batch_sizes: list[int] = []
    cancel = staff_actions.cancel

    def spy(ids, **kwargs):
        batch_sizes.append(len(ids))
        return cancel(ids, **kwargs)

    monkeypatch.setattr(staff_actions, "cancel", spy)

    outcome = operations.cancel(Job.objects.all(), operator=staff)

    assert batch_sizes == [3, 3, 2]
    assert outcome.done == 8
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.CANCELLED}
