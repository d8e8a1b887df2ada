"""Rollups: settled hours stored once by the workers; counters survive pruning."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from jobs.admin import dashboard
from jobs.ledger import rollups, staff_actions
from jobs.maintenance.retention import prune
from jobs.models import Job, JobsPerHour, JobStatus, RemovedJobCounts

pytestmark = pytest.mark.django_db


def finished(hours_ago: float, *, status=JobStatus.SUCCEEDED, attempts=1, actor="flaky") -> Job:
    job = Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name=actor,
        queue_name="workbench",
        args=[],
        kwargs={},
        max_retries=3,
    )
    at = timezone.now() - dt.timedelta(hours=hours_ago)
    Job.objects.filter(pk=job.pk).update(
        status=status,
        attempts=attempts,
        enqueued_at=at - dt.timedelta(seconds=2),
        first_started_at=at - dt.timedelta(seconds=1.5),
        finished_at=at,
        duration=dt.timedelta(seconds=0.3),
    )
    return job


def test_every_settled_hour_is_stored_once_and_the_current_hour_is_not():
    finished(5, attempts=2)
    finished(5, status=JobStatus.FAILED, attempts=4)

    first = Job.objects.order_by("enqueued_at").first()
    now = timezone.now()

    stored = rollups.roll_up(now)

    # The hours from the first job's to the last settled one (4 to 6, by the minute it runs at).
    settled_end = rollups.truncate_hour(now - rollups.SETTLE)
    assert stored == (settled_end - rollups.truncate_hour(first.enqueued_at)) // rollups.HOUR
    assert rollups.roll_up(now) == 0  # nothing twice
    row = JobsPerHour.objects.exclude(actor_name="").get()
    assert (row.enqueued, row.retried, row.failed, row.attempts) == (2, 1, 1, 6)
    assert row.run_buckets["0.5"] == 2 and row.run_buckets["0.1"] == 0
    assert row.wait_buckets["0.5"] == 2 and row.wait_buckets["0.1"] == 0
    assert row.hour < rollups.truncate_hour(timezone.now())


def test_totals_and_the_dashboard_keep_pruned_jobs():
    finished(40 * 24)
    finished(3, status=JobStatus.FAILED, attempts=4)
    finished(0)  # this hour: counted live
    rollups.roll_up(timezone.now())
    while rollups.roll_up():
        pass
    before = list(rollups.totals_by_actor())

    prune(dt.timedelta(days=30))

    after = list(rollups.totals_by_actor())
    assert before == after
    [total] = after
    assert (total["enqueued"], total["succeeded"], total["failed"], total["attempts"]) == (
        3,
        2,
        1,
        6,
    )
    series = dashboard.finished_series(timezone.now(), "hour", dt.timedelta(days=7))
    assert (sum(series["succeeded"]), sum(series["failed"])) == (1, 1)


def test_staff_retries_and_deletes_in_an_hour_not_rolled_up_lower_no_counter():
    finished(3)
    rollups.roll_up()
    ok = finished(0)
    failed = finished(0, status=JobStatus.FAILED, attempts=4)

    def counted() -> tuple[list[dict[str, Any]], tuple[int, int, int]]:
        series = dashboard.finished_series(timezone.now(), "hour", dt.timedelta(days=7))
        return list(rollups.totals_by_actor()), (
            sum(series["succeeded"]),
            sum(series["retried"]),
            sum(series["failed"]),
        )

    before = counted()
    staff_actions.retry_failed([failed.pk], operator=None)
    staff_actions.delete_finished([ok.pk])
    assert Job.objects.get(pk=failed.pk).status == JobStatus.PENDING
    assert counted() == before

    # Rolling up the hour folds them in: counted once, not twice.
    while rollups.roll_up(timezone.now() + dt.timedelta(hours=2)):
        pass
    assert not RemovedJobCounts.objects.exists()
    assert counted() == before
    [total] = before[0]
    assert (total["enqueued"], total["succeeded"], total["failed"]) == (3, 2, 1)
