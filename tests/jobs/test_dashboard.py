"""The admin dashboard: every number is right and links to a job list of exactly those jobs."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import dramatiq
import pytest
from django.test import Client
from django.utils import timezone

import tests.workbench.tasks as workbench
from accounts.models import User
from jobs.admin import dashboard
from jobs.ledger.error_groups import error_group
from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db

XSS = '<script>alert("xss")</script>'


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def make(status: JobStatus, *, actor: str = "flaky", ago: float = 30, **fields) -> Job:
    now = timezone.now()
    job = Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name=actor,
        queue_name="workbench",
        args=[],
        kwargs={},
        max_retries=0,
    )
    finished = now - dt.timedelta(seconds=ago)
    values = {"status": status, "attempts": 1, **fields}
    if status in JobStatus.final():
        values.setdefault("finished_at", finished)
        values.setdefault("enqueued_at", finished - dt.timedelta(seconds=5))
        values.setdefault("first_started_at", finished - dt.timedelta(seconds=2))
        values.setdefault("duration", dt.timedelta(seconds=1))
    Job.objects.filter(pk=job.pk).update(**values)
    return job


def failed(message: str, exception: str = "RuntimeError", **fields) -> Job:
    return make(
        JobStatus.FAILED,
        last_error=f"{exception}: {message}",
        error_type=exception,
        error_group=error_group(exception, message),
        **fields,
    )


def listed(client: Client, url: str) -> int:
    """How many jobs the admin job list at `url` shows."""
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode().count('class="field-short_id"')


def test_failures_differing_only_in_ids_and_numbers_share_a_group():
    a = error_group("TimeoutError", "job 3f2a9c1e-0000-4000-8000-000000000001 gave up after 31.2 s")
    b = error_group("TimeoutError", "job 9bc1d2e3-0000-4000-8000-000000000002 gave up after 7 s")

    assert a == b == "TimeoutError: job <id> gave up after <n> s"
    assert error_group("ValueError", "x") != error_group("KeyError", "x")
    assert (
        error_group("SMTPError", "mailbox bob@example.com full")
        == "SMTPError: mailbox <email> full"
    )


def test_every_number_links_to_exactly_its_jobs(staff_client: Client):
    for status in JobStatus:
        make(status)
    make(JobStatus.SUCCEEDED, attempts=3, ago=90)
    make(JobStatus.SUCCEEDED, ago=3 * 3600)
    failed("order 17 not found", actor="with_secrets")
    failed("order 18 not found")
    failed("disk full", exception="OSError")
    make(JobStatus.PENDING, enqueued_at=timezone.now() - dt.timedelta(minutes=10))
    make(JobStatus.QUEUED, sent_at=timezone.now() - dt.timedelta(minutes=10))

    snapshot = dashboard.snapshot()

    numbers = [*snapshot.statuses, *snapshot.stuck]
    for number in numbers:
        assert listed(staff_client, number.url) == number.count, number.label
    for actor in snapshot.actors:
        assert listed(staff_client, actor.runs_url) == actor.runs, actor.name
        assert listed(staff_client, actor.failed_url) == actor.failed, actor.name
    for group in snapshot.error_groups:
        assert listed(staff_client, group.url) == group.count, group.group
    for series in snapshot.charts.values():
        for kind in ("succeeded", "retried", "failed"):
            bounds = series["bounds"]
            for i, count in enumerate(series[kind]):
                # As dashboard.js builds a bar's link.
                window = urlencode(
                    {"finished_at__gte": bounds[i], "finished_at__lt": bounds[i + 1]}
                )
                url = f"{series['links'][kind]}&{window}"
                if count:
                    assert listed(staff_client, url) == count, (kind, url)
    by_label = {number.label: number.count for number in snapshot.statuses}
    assert by_label["Failed"] == 4 and by_label["Succeeded"] == 3 and by_label["Pending"] == 2
    assert sum(snapshot.charts["minutes"]["retried"]) == 1
    assert sum(snapshot.charts["hours"]["succeeded"]) == 2


def test_error_groups_count_first_and_last_seen_and_actors():
    failed("order 17 not found", actor="with_secrets", ago=300)
    failed("order 18 not found", ago=10)
    failed("disk full", exception="OSError")

    [orders, disk] = dashboard.error_groups()

    assert orders.group == "RuntimeError: order <n> not found"
    assert orders.count == 2
    assert orders.actors == ["flaky", "with_secrets"]
    assert orders.first_seen and orders.last_seen and orders.first_seen < orders.last_seen
    assert disk.count == 1


def test_actor_statistics_give_failure_rate_and_percentiles():
    for seconds in (1, 2, 3, 4, 100):
        make(JobStatus.SUCCEEDED, duration=dt.timedelta(seconds=seconds))
    failed("boom")

    stats = {actor.name: actor for actor in dashboard.actor_stats(timezone.now())}

    flaky = stats["flaky"]
    assert (flaky.runs, flaky.failed) == (6, 1)
    assert flaky.failure_rate == pytest.approx(1 / 6)
    assert flaky.run_p50 == pytest.approx(2.5)
    assert flaky.run_p95 is not None and 4 < flaky.run_p95 <= 100
    assert flaky.wait_p50 == pytest.approx(3.0)  # from enqueue to the first start
    assert flaky.last_success is not None
    assert stats["noop"].runs == 0  # every registered actor is listed, idle ones too


def test_queue_depth_and_latency_come_from_the_broker(redis_url: str):
    workbench.flaky.send("waiting")

    states = {state.name: state for state, _url in dashboard.snapshot().queues}

    assert states[workbench.QUEUE].waiting == 1
    assert states[workbench.QUEUE].oldest_age is not None


def test_the_dashboard_still_shows_the_ledger_when_the_broker_is_down(
    redis_url: str, staff_client: Client
):
    from tests.conftest import point_broker_at

    failed("boom")
    point_broker_at("redis://127.0.0.1:1/0")
    try:
        page = staff_client.get("/admin/jobs/job/dashboard/").content.decode()
    finally:
        point_broker_at(redis_url)

    assert "Broker unreachable" in page
    assert "RuntimeError: boom" in page


def test_user_typed_text_is_escaped_on_the_dashboard(staff_client: Client):
    failed(XSS)

    page = staff_client.get("/admin/jobs/job/dashboard/").content.decode()

    assert XSS not in page
    assert "&lt;script&gt;" in page


def test_a_refresh_sends_only_the_sections_that_changed(staff_client: Client):
    def page_and_refresh() -> tuple[dict[str, str], dict[str, Any]]:
        page = staff_client.get("/admin/jobs/job/dashboard/").content.decode()
        held = dict(re.findall(r'data-section="([\w-]+)" data-hash="(\w+)"', page))
        have = ",".join(f"{name}:{digest}" for name, digest in held.items())
        refresh = staff_client.get("/admin/jobs/job/dashboard/", {"partial": "1", "have": have})
        return held, refresh.json() | {"bytes": len(refresh.content)}

    held, quiet = page_and_refresh()
    if quiet["sections"]:  # a minute began in between (the windows count from the minute)
        held, quiet = page_and_refresh()
    assert {"statuses", "queues-workers", "stuck", "actors", "errors", "charts"} <= set(held)
    assert quiet["sections"] == {} and quiet["at_text"]  # nothing changed: nothing sent
    assert quiet["bytes"] < 200

    first = staff_client.get("/admin/jobs/job/dashboard/", {"partial": "1"}).json()
    assert set(first["sections"]) == set(held)  # a page with no hashes gets every section
    assert "Jobs by status" in first["sections"]["statuses"]["html"]
    assert "<html" not in json.dumps(first)

    failed("a new failure")
    have = ",".join(f"{name}:{digest}" for name, digest in held.items())
    changed = staff_client.get("/admin/jobs/job/dashboard/", {"partial": "1", "have": have}).json()[
        "sections"
    ]
    assert {"statuses", "errors"} <= set(changed) and "queues-workers" not in changed


def test_the_admin_index_links_to_the_dashboard(staff_client: Client):
    assert "/admin/jobs/job/dashboard/" in staff_client.get("/admin/").content.decode()


def test_the_worker_registry_lists_this_worker_alive_then_not(settings):
    from jobs.brokers.state import announce_worker, withdraw_worker, worker_states
    from jobs.models import WorkerProcess

    broker: Any = dramatiq.get_broker()

    class FakeWorker:  # the attributes Dramatiq's Worker has
        worker_threads = 8
        queues = {"default"}

    announce_worker(broker, FakeWorker(), started=0)

    [state] = worker_states()
    assert state.broker_id == broker.broker_id
    assert (state.threads, state.queues, state.alive) == (8, ["default"], True)
    # Silent longer than the heartbeat timeout (and three upkeep intervals): not alive.
    WorkerProcess.objects.update(seen_at=timezone.now() - dt.timedelta(seconds=120))
    assert [s.alive for s in worker_states()] == [False]
    withdraw_worker(broker)
    assert worker_states() == []
