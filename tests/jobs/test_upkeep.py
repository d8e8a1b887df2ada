"""LedgerUpkeep and the ledger's duties (jobs/maintenance/duties.py): each due duty runs once per
interval across the fleet, keeps what it did, and does its work (relay, ledger check,
retention, alerts)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tasks import send_welcome_email
from jobs.maintenance import duties
from jobs.maintenance.upkeep import LedgerUpkeep
from jobs.models import AlertIncident, AlertRule, Duty, EventKind, Job, JobStatus
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

    assert "relay" in LedgerUpkeep().run_once()
    duties.ledger_check()

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
    duties.retention()
    assert not Job.objects.filter(pk=oldest.pk).exists()  # pruned by the workers themselves
    assert Job.objects.filter(pk=old.pk).exists()  # not counted yet, so not pruned yet

    for _ in range(3):  # its next runs
        duties.retention()

    assert not Job.objects.filter(pk=old.pk).exists()
    assert Job.objects.filter(pk=recent.pk).exists()
    # Each was counted before it was pruned: the rollups keep them.
    assert JobsPerHour.objects.filter(actor_name=old.actor_name).count() == 2


def test_each_due_duty_runs_once_per_interval_and_keeps_what_it_did(redis_url: str):
    names = [spec.name for spec in duties.DUTIES]
    assert names == ["relay", "schedules", "ledger-check", "retention", "alerts"]

    assert duties.run_due_duties("one:1") == names  # all due on the first tick
    assert duties.run_due_duties("two:2") == []  # taken for this interval

    for duty in Duty.objects.all():
        assert duty.taken_by == "one:1" and duty.last_error == "", duty
        started, finished = duty.last_started_at, duty.last_finished_at
        assert started is not None and finished is not None
        assert finished >= started and duty.next_due_at > started
    assert "hours_rolled_up" in Duty.objects.get(name="retention").last_outcome

    later = timezone.now() + dt.timedelta(minutes=2)
    assert duties.run_due_duties("two:2", now=later) == names


def test_an_alert_rule_fires_from_the_upkeep_tick_without_any_job(redis_url: str):
    AlertRule.objects.create(name="no workers", kind=AlertRule.Kind.WORKERS_GONE, threshold=1)

    assert "alerts" in LedgerUpkeep().run_once()

    assert "0 worker process(es) alive" in AlertIncident.objects.get().message
    assert not Job.objects.exists()  # the upkeep is no job in any queue


def test_a_failing_duty_keeps_its_error_and_the_others_still_run(redis_url: str, monkeypatch):
    def broken() -> dict[str, object]:
        raise RuntimeError("boom")

    specs = [
        spec if spec.name != "ledger-check" else spec.__class__(spec.name, spec.every, broken, "")
        for spec in duties.DUTIES
    ]
    monkeypatch.setattr(duties, "DUTIES", tuple(specs))

    assert duties.run_due_duties("one:1")[-1] == "alerts"

    assert Duty.objects.get(name="ledger-check").last_error == "RuntimeError: boom"
    assert Duty.objects.get(name="alerts").last_error == ""


def test_a_worker_booted_while_the_database_is_down_starts_its_upkeep_when_it_is_back(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
):
    """Its boot hook once registered the worker before starting the thread and caught only
    Redis errors: booted with the database down, the worker ran no upkeep for its whole life."""
    import dramatiq
    from django.db import OperationalError

    from jobs.brokers.state import announce_worker as real_announce
    from jobs.models import WorkerProcess

    down = {"calls": 0}

    def announce(*args: object) -> None:
        down["calls"] += 1
        if down["calls"] <= 2:
            raise OperationalError("connection refused (the database is down)")
        real_announce(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("jobs.maintenance.upkeep.announce_worker", announce)
    thread = LedgerUpkeep(interval=0.05)

    class Worker:
        worker_threads = 1
        queues = ["default"]

    broker = dramatiq.get_broker()
    thread.after_worker_boot(broker, Worker())
    try:
        wait_for(lambda: WorkerProcess.objects.exists(), 10)
        wait_for(lambda: Duty.objects.filter(name="relay", last_finished_at__isnull=False), 10)
    finally:
        thread.before_worker_shutdown(broker, Worker())
    assert down["calls"] > 2
