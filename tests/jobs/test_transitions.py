"""Ledger transitions: each is conditional, so no write can move a job backwards or run it twice."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from jobs.ledger import transitions
from jobs.models import EventKind, Job, JobStatus
from tests.factories import event_kinds

pytestmark = pytest.mark.django_db


@pytest.fixture
def job() -> Job:
    return Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name="send_welcome_email",
        queue_name="default",
        args=[1],
        kwargs={},
        max_retries=3,
    )


def claim(job: Job, retries: int = 0):
    return transitions.claim(
        job.id, retries=retries, worker="w:1:t", worker_id="w1", delivery_id=str(uuid.uuid4())
    )


def fail_attempt(
    job: Job, attempt: int, started: dt.datetime, *, final: bool, eta: dt.datetime | None = None
) -> bool:
    return transitions.mark_attempt_failed(
        job.id,
        attempt=attempt,
        started_at=started,
        worker="w",
        exception_type="OSError",
        message="down",
        traceback="Traceback...",
        final=final,
        eta=eta,
    )


def test_a_new_job_is_pending_with_an_enqueued_event(job: Job):
    assert job.status == JobStatus.PENDING
    assert event_kinds(job) == ["enqueued"]


def test_claim_starts_the_first_attempt(job: Job):
    attempt, started_at = claim(job)

    job.refresh_from_db()
    assert (attempt, job.attempts, job.status) == (1, 1, JobStatus.RUNNING)
    assert job.started_at == started_at
    assert event_kinds(job) == ["enqueued", "started"]


def test_a_duplicate_delivery_of_a_running_attempt_is_refused(job: Job):
    assert claim(job) is not None

    assert claim(job) is None
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_delivery_for_a_finished_job_is_refused(job: Job):
    attempt, started = claim(job)
    transitions.mark_succeeded(job.id, attempt=attempt, started_at=started, worker="w")

    assert claim(job) is None
    assert claim(job, retries=1) is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


def test_a_retry_after_a_failed_claim_is_still_claimed(job: Job):
    # The claim of attempt 1 could not be written (database down); Retries counted it anyway.
    attempt, _ = claim(job, retries=1)

    assert attempt == 2
    assert Job.objects.get(pk=job.pk).attempts == 2


def test_a_stale_delivery_of_an_earlier_attempt_is_refused(job: Job):
    claim(job)
    claim(job, retries=1)

    assert claim(job, retries=0) is None
    assert Job.objects.get(pk=job.pk).attempts == 2


def test_a_late_queued_write_cannot_move_a_running_job_back_but_records_the_send(job: Job):
    claim(job)
    claimed = Job.objects.get(pk=job.pk)
    assert claimed.started_at is not None
    # Sent before the claim, its record written after it.
    sent = claimed.enqueued_at + (claimed.started_at - claimed.enqueued_at) / 2

    transitions.mark_sent(job.id, at=sent)
    job = Job.objects.get(pk=job.pk)
    assert job.status == JobStatus.RUNNING and job.sent_at == sent  # (it stayed empty before)
    assert event_kinds(job) == [EventKind.ENQUEUED, EventKind.QUEUED, EventKind.STARTED]
    transitions.mark_sent(job.id, at=timezone.now())  # a second record of a plain send: kept
    assert Job.objects.get(pk=job.pk).sent_at == sent


def test_a_retry_can_claim_before_the_failed_attempt_is_marked_retrying(job: Job):
    # Retries re-enqueues before the tracker records the failure: the retry may arrive first.
    first, started = claim(job)
    second = claim(job, retries=1)

    assert second is not None and second[0] == 2
    # The first attempt's late write keeps its error but cannot overwrite the running attempt.
    moved = fail_attempt(job, first, started, final=False, eta=timezone.now())
    job.refresh_from_db()
    assert moved is False
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 2)
    assert job.events.filter(kind=EventKind.ATTEMPT_FAILED, attempt=1, message="down").exists()


def test_a_failed_attempt_with_retries_left_is_retrying_with_its_eta(job: Job):
    attempt, started = claim(job)
    eta = timezone.now() + dt.timedelta(seconds=5)

    fail_attempt(job, attempt, started, final=False, eta=eta)

    job.refresh_from_db()
    assert job.status == JobStatus.RETRYING
    assert job.next_eta == eta
    assert job.last_error == "OSError: down"
    assert job.finished_at is None


def test_the_last_failed_attempt_is_failed_and_final(job: Job):
    attempt, started = claim(job)

    fail_attempt(job, attempt, started, final=True)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.is_final
    assert job.finished_at is not None and job.duration is not None
    assert event_kinds(job)[-1] == "failed"


def test_a_cancelled_job_cannot_be_claimed(job: Job):
    Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)

    assert claim(job) is None


def test_create_from_message_inserts_once(job: Job):
    other = uuid.uuid4()
    fields: dict[str, Any] = {
        "actor_name": "a",
        "queue_name": "q",
        "args": [],
        "kwargs": {},
        "max_retries": 0,
    }

    assert Job.objects.create_from_message(job_id=other, **fields) is True
    assert Job.objects.create_from_message(job_id=other, **fields) is False
    assert Job.objects.create_from_message(job_id=job.id, **fields) is False
    assert Job.objects.get(pk=job.id).status == JobStatus.PENDING


def test_querysets_are_named_by_state(job: Job):
    assert list(Job.objects.pending()) == [job]
    assert list(Job.objects.unfinished().for_actor("send_welcome_email")) == [job]
    assert not Job.objects.finished().exists()


def test_argument_values_stay_out_of_the_error_group_every_staff_member_sees(job: Job):
    _attempt, started = claim(job)
    transitions.mark_attempt_failed(
        job.id,
        attempt=1,
        started_at=started,
        worker="w",
        exception_type="LookupError",
        message="no account named zebra-crossing",
        traceback="Traceback...",
        final=True,
        arguments=(["zebra-crossing"], {}),
    )

    job.refresh_from_db()
    assert job.error_group == "LookupError: no account named [argument hidden]"
    assert "zebra-crossing" in job.last_error  # kept whole for those who may see arguments
