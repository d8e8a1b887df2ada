"""LedgerUpkeep: the relay and the scheduler on every run; the ledger check and retention as the
duties their schedules run (jobs/tasks.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tasks import send_welcome_email
from jobs.maintenance.upkeep import LedgerUpkeep, ledger_check_duty, retention_duty
from jobs.models import EventKind, Job, JobStatus
from tests.conftest import wait_for

# Autocommit, as in a worker thread: run_once() resets the connection check like Django per request.
pytestmark = pytest.mark.django_db(transaction=True)


def never_sent(user: User) -> Job:
    """A job committed to the ledger whose send never happened."""
    return Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name=send_welcome_email.actor_name,
        queue_name="default",
        args=[user.pk],
        kwargs={},
        max_retries=3,
    )


def test_an_upkeep_run_relays_pending_jobs_and_repairs_overdue_ones(redis_url: str, alice: User):
    pending, overdue = never_sent(alice), never_sent(alice)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    Job.objects.filter(pk=pending.pk).update(enqueued_at=long_ago)
    Job.objects.filter(pk=overdue.pk).update(
        status=JobStatus.RETRYING, attempts=1, next_eta=long_ago, enqueued_at=long_ago
    )

    LedgerUpkeep().run_once()
    ledger_check_duty()

    # The sends' records are written by the background writer (jobs/ledger/writer.py).
    wait_for(lambda: Job.objects.get(pk=pending.pk).status == JobStatus.QUEUED, 10)
    wait_for(lambda: Job.objects.get(pk=overdue.pk).events.filter(kind=EventKind.RESENT), 10)


def finished_long_ago(user: User, days: float) -> Job:
    job = never_sent(user)
    then = timezone.now() - dt.timedelta(days=days)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, attempts=1, enqueued_at=then, finished_at=then
    )
    return job


def test_the_retention_duty_rolls_up_finished_hours_then_prunes_past_retention(
    redis_client, alice: User, settings
):
    from jobs.models import JobsPerHour

    settings.LEDGER_RETENTION_DAYS = 30
    oldest, old, recent = (finished_long_ago(alice, days) for days in (45, 35, 1))
    # The rollups catch up a week per run: the first run counts the oldest job's week.
    retention_duty()
    assert not Job.objects.filter(pk=oldest.pk).exists()  # pruned by the workers themselves
    assert Job.objects.filter(pk=old.pk).exists()  # not counted yet, so not pruned yet

    for _ in range(3):  # the next runs of its schedule
        retention_duty()

    assert not Job.objects.filter(pk=old.pk).exists()
    assert Job.objects.filter(pk=recent.pk).exists()
    # Each was counted before it was pruned: the rollups keep them.
    assert JobsPerHour.objects.filter(actor_name=old.actor_name).count() == 2
