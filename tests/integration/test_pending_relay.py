"""A job committed while Redis was down is sent later and runs exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.test import Client

from jobs.maintenance.relay import send_pending_jobs
from jobs.models import Job, JobStatus
from tests.conftest import WorkerProcess, point_broker_at, wait_until_final
from tests.factories import event_kinds, job_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.redis  # takes Redis away by pointing the broker at a dead socket
def test_a_job_committed_while_redis_was_down_is_sent_by_the_relay_and_runs_once(
    worker: WorkerProcess, redis_url: str, tmp_path
):
    point_broker_at(f"unix://{tmp_path}/redis-is-down.sock")
    try:
        response = Client().post(
            "/signup", {"email": "late@example.com"}, content_type="application/json"
        )
        assert send_pending_jobs(older_than=dt.timedelta(0)) == 0  # still down: nothing sent
    finally:
        point_broker_at(redis_url)
    job_id = response.json()["job_id"]
    assert response.status_code == 202
    assert Job.objects.get(pk=job_id).status == JobStatus.PENDING

    # Its send failed: the relay sends it without the grace for a web process still sending.
    assert Job.objects.get(pk=job_id).relay_lease_until is not None
    call_command("send_pending_jobs", "--older-than", "3600")

    job = wait_until_final(job_id, worker)
    assert job.status == JobStatus.SUCCEEDED
    assert event_kinds(job) == [
        "enqueued",
        "resent",  # sent by the relay, not by the request
        "started",
        "succeeded",
    ]
    assert len(worker.emails()) == 1
    assert send_pending_jobs(older_than=dt.timedelta(0)) == 0  # nothing left to send

    # A pending job with no failed send: its web process may still be sending it.
    job_in(JobStatus.PENDING, actor="send_welcome_email")
    assert send_pending_jobs(older_than=dt.timedelta(hours=1)) == 0
