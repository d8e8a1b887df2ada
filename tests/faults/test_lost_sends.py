"""Jobs committed but never sent (web process died, Redis down) reach a worker through the relay
running inside the workers, exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from jobs.models import EventKind, Job, JobStatus
from tests.conftest import ROOT, database_url, wait_for
from tests.factories import event_kinds
from tests.faults.conftest import Workers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST_RELAY = {"LEDGER_UPKEEP_INTERVAL_SECONDS": "0.5", "RELAY_GRACE_SECONDS": "1"}

DIE_AFTER_COMMIT = """
import os, signal, sys, django
django.setup()
from django.db import transaction
from accounts.services import sign_up
with transaction.atomic():
    # Registered first, so it runs first at commit: the process dies before any send.
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
    for email in sys.argv[1:]:
        sign_up(email)
"""


def web_process_dies_after_commit(redis_url: str, emails: list[str]) -> None:
    """A real web-side process that commits sign-ups and is killed before sending them."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
    }
    result = subprocess.run(
        [sys.executable, "-c", DIE_AFTER_COMMIT, *emails], cwd=ROOT, env=env, timeout=60
    )
    assert result.returncode == -9  # killed by SIGKILL, after the commit


def test_web_process_killed_between_commit_and_send_is_delivered_by_the_relay(
    redis_url: str, transactional_db: None, tmp_path, settings: Any, figures: dict[str, Any]
):
    web_process_dies_after_commit(redis_url, ["orphan@example.com"])
    job = Job.objects.get(about_label="orphan@example.com")
    assert job.status == JobStatus.PENDING
    pool = Workers(redis_url, tmp_path, settings.MEDIA_ROOT, env=FAST_RELAY)
    try:
        worker = pool.start("a")

        done = wait_for(
            lambda: Job.objects.filter(pk=job.id, status=JobStatus.SUCCEEDED).first(), 30, pool.logs
        )
    finally:
        pool.stop_all()

    emails = worker.emails()
    figures.update(expected=1, succeeded=1, lost=0, duplicate_side_effects=len(emails) - 1)
    kinds = event_kinds(done)
    assert kinds == ["enqueued", "resent", "started", "succeeded"]
    assert (
        "its send at commit failed or never ran" in done.events.get(kind=EventKind.RESENT).message
    )
    assert len(emails) == 1
    assert Job.objects.filter(status=JobStatus.PENDING).count() == 0


def test_many_relays_at_once_send_each_pending_job_once(
    redis_url: str, transactional_db: None, tmp_path, settings: Any, figures: dict[str, Any]
):
    web_process_dies_after_commit(redis_url, [f"many{n}@example.com" for n in range(20)])
    jobs = list(Job.objects.pending())
    assert len(jobs) == 20
    pool = Workers(redis_url, tmp_path, settings.MEDIA_ROOT, env=FAST_RELAY)
    try:
        workers = [pool.start(name) for name in ("a", "b", "c")]
        ids = [job.id for job in jobs]
        wait_for(
            lambda: Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 20,
            60,
            pool.logs,
        )
    finally:
        pool.stop_all()

    emails = len(workers[0].emails())  # the workers share one mail directory
    figures.update(expected=20, succeeded=20, emails=emails, duplicate_side_effects=emails - 20)
    resent = Job.objects.filter(pk__in=ids).filter(events__kind=EventKind.RESENT).count()
    skipped = Job.objects.filter(pk__in=ids).filter(events__kind=EventKind.SKIPPED).count()
    assert resent == 20
    assert skipped == 0  # no job was sent twice
    assert emails == 20
