"""Retention: old finished jobs go with their events, in batches; nothing unfinished or recent."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs.maintenance import retention
from jobs.maintenance.retention import prune
from jobs.models import EventKind, Job, JobEvent, JobStatus
from tests.factories import job_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _every_hour_counted(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The rollups have counted every hour (the guard itself: its own test below)."""
    if request.function is not test_only_jobs_whose_hour_is_counted_are_pruned_by_the_command_too:
        monkeypatch.setattr(retention, "rolled_up_until", timezone.now)


def test_only_jobs_whose_hour_is_counted_are_pruned_by_the_command_too():
    """`manage.py prune_jobs` pruned without the rollup guard the retention duty had: the
    counters of /metrics dropped by the jobs it deleted uncounted."""
    from jobs.ledger.rollups import rolled_up_until

    forty_days_ago = timezone.now() - dt.timedelta(days=40)
    old = job(JobStatus.SUCCEEDED, 40, enqueued_at=forty_days_ago)
    assert prune(dt.timedelta(days=30)).jobs == 0  # nothing counted yet: nothing pruned
    out = StringIO()
    call_command("prune_jobs", "--days", "30", stdout=out)  # it rolls up, then prunes
    counted_until = rolled_up_until()
    assert counted_until is not None and old.finished_at is not None
    assert counted_until > old.finished_at
    assert not Job.objects.filter(pk=old.pk).exists(), out.getvalue()


def job(status: JobStatus, days_ago: float, **fields) -> Job:
    """A job finished `days_ago` (if final) with one event row (a send with a note)."""
    finished = timezone.now() - dt.timedelta(days=days_ago) if status in JobStatus.final() else None
    created = job_in(status, finished_at=finished, **fields)
    JobEvent.objects.create(job=created, kind=EventKind.QUEUED, message="sent with a note")
    return created


def test_finished_jobs_past_the_cutoff_are_deleted_with_their_events():
    old = [job(status, 40) for status in JobStatus.final()]
    recent = job(JobStatus.SUCCEEDED, 5)
    unfinished = [job(status, 40) for status in JobStatus.unfinished()]

    result = prune(dt.timedelta(days=30))

    assert result.jobs == len(old)
    assert result.events == len(old)  # one event row each
    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, *(j.pk for j in unfinished)}
    assert not JobEvent.objects.filter(job_id__in=[j.pk for j in old]).exists()


def test_a_copy_outlives_its_pruned_original():
    original = job(JobStatus.FAILED, 40)
    copy = job(JobStatus.SUCCEEDED, 1, copy_of_id=original.pk)

    prune(dt.timedelta(days=30))

    assert Job.objects.get(pk=copy.pk).copy_of is None


def test_pruning_goes_batch_by_batch_until_nothing_is_left(monkeypatch):
    monkeypatch.setattr(retention, "MIN_BATCH", 2)
    for _ in range(7):
        job(JobStatus.SUCCEEDED, 40)

    result = prune(dt.timedelta(days=30), batch_size=2)

    assert result.jobs == 7
    assert len(result.batch_seconds) >= 2
    assert not Job.objects.exists()


def test_the_command_reports_what_it_deleted_and_dry_run_deletes_nothing():
    job(JobStatus.SUCCEEDED, 40)
    out = StringIO()

    call_command("prune_jobs", "--days", "30", "--dry-run", stdout=out)
    assert "1 finished job(s) older than 30 days would be deleted" in out.getvalue()
    assert Job.objects.count() == 1

    call_command("prune_jobs", "--days", "30", stdout=out)
    assert "Deleted 1 job(s) and 1 event(s)" in out.getvalue()
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_parallel_pruners_share_the_work_without_deleting_anything_twice(monkeypatch):
    monkeypatch.setattr(retention, "MIN_BATCH", 2)
    old = [job(JobStatus.SUCCEEDED, 40) for _ in range(20)]
    kept = job(JobStatus.RUNNING, 40)

    result = prune(dt.timedelta(days=30), batch_size=2, parallel=2)

    assert result.jobs == len(old)
    assert result.events == len(old)
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]
