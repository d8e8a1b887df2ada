"""check_ledger: ledger rows that disagree with Redis are found, and repaired unless --dry-run."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from io import StringIO
from typing import Any

import dramatiq
import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from accounts.tasks import send_welcome_email
from jobs.admin.dashboard import stuck_jobs
from jobs.brokers.state import live_worker_ids
from jobs.ledger import transitions
from jobs.maintenance import ledger_check
from jobs.maintenance.ledger_check import check_ledger
from jobs.models import EventKind, Job, JobStatus, WorkerProcess
from jobs.outbox import enqueue

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - dt.timedelta(hours=1)


@pytest.fixture
def job(alice: User, redis_url: str, django_capture_on_commit_callbacks) -> Job:
    with django_capture_on_commit_callbacks(execute=False):  # in the ledger, not in Redis
        return enqueue(send_welcome_email, alice.pk)


def queue_payloads(redis_client: Any, suffix: str = "") -> list[dict[str, Any]]:
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    return [json.loads(p) for p in redis_client.hvals(f"{namespace}:default{suffix}.msgs")]


def make_running(job: Job, worker_id: str) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=LONG_AGO,
        worker="gone:1:t",
        worker_id=worker_id,
    )


def test_running_job_whose_worker_and_message_are_gone_is_failed_as_unknown(job: Job, monkeypatch):
    hooks: list[tuple[str, list[Any], str]] = []
    monkeypatch.setattr(
        ledger_check,
        "call_hook",
        lambda broker, actor, args, kwargs, error: hooks.append((actor, args, error)),
    )
    make_running(job, worker_id="no-such-worker")

    assert [f.action for f in check_ledger(repair=False)] == ["mark failed"]
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING  # dry run changed nothing

    [finding] = check_ledger(repair=True)
    job.refresh_from_db()
    assert finding.action == "marked failed"
    assert job.status == JobStatus.FAILED
    assert "unknown" in job.last_error
    assert job.events.filter(kind=EventKind.WORKER_LOST).exists()
    # The actor's final-failure hook is called once, for the repair, not for the dry run.
    [(actor, args, error)] = hooks
    assert (actor, args) == (job.actor_name, job.args) and error.startswith("WorkerLost: ")


def test_running_job_whose_message_is_still_in_redis_is_left_to_redelivery(job: Job, redis_client):
    dramatiq.get_broker().enqueue(
        send_welcome_email.message_with_options(args=(1,)).copy(message_id=str(job.id))
    )
    make_running(job, worker_id="no-such-worker")

    [finding] = check_ledger(repair=True)

    assert "redelivers" in finding.action
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_running_job_with_a_live_worker_is_not_a_finding(job: Job):
    """Alive as the dashboard says it too (brokers/state.py): its registry entry is fresh."""
    now = timezone.now()
    WorkerProcess.objects.create(broker_id="w-alive", host="h", pid=1, started_at=now, seen_at=now)
    make_running(job, worker_id="w-alive")

    assert check_ledger(repair=True) == []
    # The dashboard agrees: no job running on a lost worker.
    assert not [n for n in stuck_jobs(now, live_worker_ids()) if "heart-beating" in n.label]

    # Silent past the timeout: both call it gone, and the check fails the job whose message
    # the broker no longer holds.
    WorkerProcess.objects.update(seen_at=now - dt.timedelta(minutes=5))
    [orphaned] = [
        n for n in stuck_jobs(timezone.now(), live_worker_ids()) if "heart-beating" in n.label
    ]
    assert orphaned.count == 1
    [finding] = check_ledger(repair=True)
    assert finding.job_id == job.pk and finding.action == "marked failed"


def test_overdue_retry_without_a_message_is_resent_with_the_expected_retry_count(
    job: Job, redis_client
):
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RETRYING, attempts=2, next_eta=LONG_AGO)

    [finding] = check_ledger(repair=True)

    assert finding.action == "resent"
    [message] = queue_payloads(redis_client)
    assert message["message_id"] == str(job.id)
    assert message["options"]["retries"] == 2  # so the worker's claim accepts it
    claim = transitions.claim(job.id, retries=2, worker="w", worker_id="w", delivery_id="d")
    assert claim is not None and claim[0] == 3


def test_dead_lettered_message_of_an_unfinished_job_marks_it_failed(job: Job, redis_client):
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    payload = send_welcome_email.message(1).copy(message_id=str(job.id)).encode()
    redis_client.hset(f"{namespace}:default.XQ.msgs", str(uuid.uuid4()), payload)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, sent_at=timezone.now())

    [finding] = check_ledger(repair=True)

    assert finding.action == "marked failed"
    assert "dead-letter" in Job.objects.get(pk=job.pk).last_error


def test_pending_job_past_the_grace_period_is_sent_by_the_check(job: Job, redis_client):
    Job.objects.filter(pk=job.pk).update(enqueued_at=LONG_AGO)

    [finding] = check_ledger(repair=True)

    assert "sent 1" in finding.action
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert [m["message_id"] for m in queue_payloads(redis_client)] == [str(job.id)]


def test_the_check_ledger_command_reports_with_dry_run(job: Job):
    make_running(job, worker_id="no-such-worker")
    out = StringIO()

    call_command("check_ledger", "--dry-run", stdout=out)

    assert str(job.id) in out.getvalue()
    assert "would repair" in out.getvalue()
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
