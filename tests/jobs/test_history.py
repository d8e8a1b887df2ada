"""jobs/ledger/history.py: the happy path's events are facts of the job row, the rest are rows;
the timeline shows both once, in order, and nothing of an earlier attempt is lost."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from jobs.ledger import transitions
from jobs.ledger.history import keep_row_events, timeline
from jobs.models import EventKind, Job, JobStatus
from tests.factories import event_kinds, job_in

pytestmark = pytest.mark.django_db


def claim(job: Job, retries: int) -> dt.datetime:
    won = transitions.claim(
        job.pk, retries=retries, worker=f"w:{retries}", worker_id="w", delivery_id="d"
    )
    assert won is not None
    return won[1]


def test_a_job_that_succeeds_has_no_event_rows_and_a_whole_timeline():
    job = job_in(JobStatus.PENDING)
    transitions.mark_sent(job.pk, at=timezone.now())
    started = claim(job, 0)
    transitions.mark_succeeded(job.pk, attempt=1, started_at=started, worker="w:0")

    assert not job.events.exists()
    assert event_kinds(job) == ["enqueued", "queued", "started", "succeeded"]


def test_every_attempt_stays_in_the_timeline_once_however_often_it_is_kept():
    job = job_in(JobStatus.PENDING)
    transitions.mark_sent(job.pk, at=timezone.now())
    first = claim(job, 0)
    transitions.mark_attempt_failed(
        job.pk,
        attempt=1,
        started_at=first,
        worker="w:0",
        exception_type="OSError",
        message="down",
        traceback="",
        final=False,
        eta=timezone.now(),
    )
    second = claim(job, 1)
    transitions.mark_succeeded(job.pk, attempt=2, started_at=second, worker="w:1")
    keep_row_events([job.pk])  # the row's facts stored too: none of them twice

    events = timeline(Job.objects.get(pk=job.pk))
    assert [(e.kind, e.attempt, e.worker) for e in events] == [
        (EventKind.ENQUEUED, 0, ""),
        (EventKind.QUEUED, 0, ""),
        (EventKind.STARTED, 1, "w:0"),
        (EventKind.ATTEMPT_FAILED, 1, "w:0"),
        (EventKind.STARTED, 2, "w:1"),
        (EventKind.SUCCEEDED, 2, "w:1"),
    ]
    assert [e.at for e in events][2:3] == [first]


def test_a_bare_send_begins_with_its_send():
    job_id = uuid.uuid4()
    Job.objects.create_from_message(
        job_id=job_id, actor_name="noop", queue_name="q", args=[], kwargs={}, max_retries=0
    )
    assert event_kinds(Job(pk=job_id)) == ["queued"]
