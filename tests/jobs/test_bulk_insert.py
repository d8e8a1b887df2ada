"""insert_rows and insert_many (jobs/ledger/bulk_insert.py): rows written without Model.save()
are the rows Django would have written."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from jobs.ledger.bulk_insert import (
    _FULL,
    _statement,
    _values,
    insert_many,
    insert_rows,
)
from jobs.models import EventKind, Job, JobEvent, JobStatus

pytestmark = pytest.mark.django_db


def new_jobs(count: int) -> list[Job]:
    start = timezone.now() - dt.timedelta(hours=1)
    return [
        Job(
            id=uuid.uuid4(),
            actor_name="noop",
            queue_name="q",
            args=[n, {"nested": "é"}],
            enqueued_at=start + dt.timedelta(seconds=n),
        )
        for n in range(count)
    ]


def test_insert_rows_and_insert_many_write_what_save_would():
    one, *many = new_jobs(4)
    insert_rows(one, JobEvent(job=one, kind=EventKind.ENQUEUED, at=one.enqueued_at))
    insert_many(many)

    for job in [one, *many]:
        stored = Job.objects.get(pk=job.id)
        assert stored.args == job.args
        assert stored.enqueued_at == job.enqueued_at
        assert stored.status == JobStatus.PENDING
    assert list(one.events.values_list("kind", "at")) == [(EventKind.ENQUEUED, one.enqueued_at)]


def test_the_values_that_skip_field_preparation_are_what_preparation_would_give():
    job = Job.objects._pending(uuid.uuid4(), "noop", "q", [1], {"k": "v"}, 3, None)
    job.worker, job.last_error, job.next_eta = "w:1", "<boom>", None
    plan = _statement(Job, connection).plan

    shortcut = _values(job, plan, connection)
    prepared = [field.get_db_prep_save(field.pre_save(job, True), connection) for field, _ in plan]

    skipped = [n for n, (_, preparation) in enumerate(plan) if preparation != _FULL]
    assert len(skipped) > len(plan) / 2  # most of a ledger row
    assert [shortcut[n] for n in skipped] == [prepared[n] for n in skipped]
