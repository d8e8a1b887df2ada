"""Signup end to end: real Redis, real rundramatiq worker, real (file) email backend."""

from __future__ import annotations

import dramatiq
import pytest
from django.db import transaction
from django.test import Client

from accounts.models import User
from accounts.services import sign_up
from accounts.tasks import send_welcome_email
from jobs.models import EventKind, Job, JobStatus
from tests.conftest import WorkerProcess, wait_for, wait_until_final
from tests.factories import event_kinds

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_json_signup_runs_the_welcome_job_and_sends_exactly_one_email(worker: WorkerProcess):
    response = Client().post(
        "/signup", {"email": "Alice@Example.com"}, content_type="application/json"
    )

    assert response.status_code == 202
    job = wait_until_final(response.json()["job_id"], worker)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.about_label == "alice@example.com"
    assert event_kinds(job) == ["enqueued", "queued", "started", "succeeded"]
    assert job.duration is not None and job.worker
    emails = worker.emails()
    assert len(emails) == 1
    assert "To: alice@example.com" in emails[0]
    assert "/accounts/reset/" in emails[0]  # the one-time set-password link


def test_signup_of_an_existing_account_sends_the_already_registered_email(
    worker: WorkerProcess, alice: User
):
    response = Client().post(
        "/signup", {"email": "alice@example.com"}, content_type="application/json"
    )

    assert response.status_code == 202
    assert wait_until_final(response.json()["job_id"], worker).status == JobStatus.SUCCEEDED
    [email] = worker.emails()
    assert "You already have an Offload account" in email
    assert User.objects.count() == 1


def test_failing_address_makes_four_attempts_three_retries_then_fails(worker: WorkerProcess):
    job = sign_up("error@example.com")

    # Between attempts the job reads "retrying" (never "failed" while a retry is due).
    between = wait_for(
        lambda: Job.objects.filter(pk=job.id, status=JobStatus.RETRYING).first(), 30, worker.logs
    )
    assert between.next_eta is not None
    job = wait_until_final(job.id, worker, timeout=60)

    assert job.status == JobStatus.FAILED
    assert job.attempts == 4
    assert job.next_eta is None
    kinds = event_kinds(job)
    assert kinds.count("started") == 4
    assert kinds.count("attempt_failed") == 3
    assert kinds[-1] == "failed"
    errors = job.events.filter(kind__in=[EventKind.ATTEMPT_FAILED, EventKind.FAILED])
    assert [e.attempt for e in errors] == [1, 2, 3, 4]
    for error in errors:
        assert error.exception_type == "smtplib.SMTPResponseException"
        assert "451" in error.message
        assert "Traceback (most recent call last)" in error.traceback
    assert all(e.eta is not None for e in errors if e.kind == EventKind.ATTEMPT_FAILED)
    assert "451" in job.last_error
    assert worker.emails() == []


def test_rolled_back_transaction_leaves_no_job_and_no_message(worker: WorkerProcess, redis_client):
    class AbortError(Exception):
        pass

    with pytest.raises(AbortError), transaction.atomic():
        sign_up("rollback@example.com")
        raise AbortError

    assert not Job.objects.exists()
    assert not User.objects.filter(email="rollback@example.com").exists()
    assert not [k for k in redis_client.keys("*") if b"default" in k and redis_client.llen(k)]
    assert worker.emails() == []


def test_a_plain_actor_send_is_recorded_in_the_ledger(worker: WorkerProcess, alice: User):
    message = send_welcome_email.send(alice.pk)

    job = wait_until_final(message.message_id, worker)

    assert job.status == JobStatus.SUCCEEDED
    assert job.actor_name == "send_welcome_email"
    assert job.args == [alice.pk]
    assert event_kinds(job) == ["queued", "started", "succeeded"]


def test_the_same_message_delivered_twice_runs_once(worker: WorkerProcess, alice: User):
    message = send_welcome_email.message(alice.pk)
    dramatiq.get_broker().enqueue(message)
    dramatiq.get_broker().enqueue(message)

    job = wait_until_final(message.message_id, worker)
    wait_for(lambda: job.events.filter(kind=EventKind.SKIPPED).exists(), 15, worker.logs)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert len(worker.emails()) == 1


def test_a_password_reset_is_a_ledger_job_whose_result_says_whether_it_mailed(
    worker: WorkerProcess, alice: User
):
    for email in ("alice@example.com", "nobody@example.com"):
        response = Client().post("/accounts/password_reset/", {"email": email})
        assert response.status_code == 302  # the same "check your inbox" for both

    jobs = Job.objects.filter(actor_name="send_password_reset_email").order_by("enqueued_at")
    known, unknown = (wait_until_final(job.pk, worker) for job in jobs)

    assert (known.status, known.result) == (JobStatus.SUCCEEDED, True)
    assert (unknown.status, unknown.result) == (JobStatus.SUCCEEDED, False)
    [email] = worker.emails()
    assert "To: alice@example.com" in email
    assert "Reset your Offload password" in email and "/accounts/reset/" in email
