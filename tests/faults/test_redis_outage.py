"""Redis stopped or frozen while users sign up: every request still answers quickly, and every
job runs exactly once after Redis comes back (the relay sends what the requests could not)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import statistics
import threading
import time
import uuid
from typing import Any

import dramatiq
import pytest
from django.test import Client
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.errors import ConnectionClosed

from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import ROOT, unacked, wait_for
from tests.faults.conftest import RedisServer, Workers
from tests.workbench.tasks import QUEUE, runs, slow_effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: The grace for a web process still sending (30 s by default) made endless: a job whose send
#: failed is relayed without it, as soon as Redis is back (the relay ticks every 0.5 s).
FAST_RELAY = {"LEDGER_UPKEEP_INTERVAL_SECONDS": "0.5", "RELAY_GRACE_SECONDS": "3600"}
#: Generous: a request must never hang on Redis. The measured figures are printed, not asserted.
NEVER_HANGS_SECONDS = 10


def sign_up_timed(client: Client, email: str) -> tuple[int, float]:
    started = time.monotonic()
    response = client.post("/signup", {"email": email}, content_type="application/json")
    return response.status_code, time.monotonic() - started


def outage_figures(
    expected: int, results: list[tuple[int, float]], emails: list[str]
) -> dict[str, Any]:
    """What a Redis outage did to the requests and the jobs, as printed for every outage test."""
    seconds = [s for _, s in results]
    succeeded = Job.objects.filter(status=JobStatus.SUCCEEDED).count()
    return {
        "expected": expected,
        "responses_202": sum(status == 202 for status, _ in results),
        "max_response_seconds": round(max(seconds), 3),
        "median_response_seconds": round(statistics.median(seconds), 3),
        "succeeded": succeeded,
        "failed": Job.objects.filter(status=JobStatus.FAILED).count(),
        "lost": expected - succeeded,
        "resent_by_relay": Job.objects.filter(events__kind=EventKind.RESENT).count(),
        # A send that timed out may still land when Redis resumes; the relay then sends it
        # again and the worker's claim refuses the second delivery.
        "duplicate_deliveries_refused": Job.objects.filter(events__kind=EventKind.SKIPPED).count(),
        "emails": len(emails),
        "duplicate_side_effects": len(emails) - expected,
    }


def wait_all_succeeded(count: int, pool: Workers, timeout: float) -> None:
    wait_for(
        lambda: Job.objects.filter(status=JobStatus.SUCCEEDED).count() == count, timeout, pool.logs
    )


def test_redis_stopped_during_signups_and_restarted_ten_seconds_later(
    own_redis: RedisServer, tmp_path, settings: Any, figures: dict[str, Any]
):
    pool = Workers(own_redis.url, tmp_path, settings.MEDIA_ROOT, env=FAST_RELAY)
    client = Client()
    try:
        worker = pool.start("a")
        results = [sign_up_timed(client, f"before{n}@example.com") for n in range(10)]
        own_redis.stop()
        stopped_at = time.monotonic()
        restart = threading.Timer(10, own_redis.start)
        restart.start()
        results += [sign_up_timed(client, f"during{n}@example.com") for n in range(40)]
        restart.join()
        wait_all_succeeded(50, pool, 90)
        recovered = time.monotonic() - stopped_at - 10
    finally:
        pool.stop_all()

    emails = worker.emails()
    figures.update(outage_figures(50, results, emails))
    figures.update(recovery_seconds_after_restart=round(recovered, 1))
    assert [status for status, _ in results] == [202] * 50
    assert max(s for _, s in results) < NEVER_HANGS_SECONDS
    assert len(emails) == 50
    assert len({email.split("To: ")[1].split("\\n")[0] for email in emails}) == 50


def test_redis_frozen_during_signups_loses_nothing_after_it_resumes(
    own_redis: RedisServer, tmp_path, settings: Any, figures: dict[str, Any]
):
    pool = Workers(own_redis.url, tmp_path, settings.MEDIA_ROOT, env=FAST_RELAY)
    client = Client()
    try:
        worker = pool.start("a")
        os.kill(own_redis.pid, signal.SIGSTOP)
        try:
            results = [sign_up_timed(client, f"frozen{n}@example.com") for n in range(10)]
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)
        wait_all_succeeded(10, pool, 60)
    finally:
        pool.stop_all()

    emails = worker.emails()
    figures.update(outage_figures(10, results, emails))
    assert [status for status, _ in results] == [202] * 10
    assert max(s for _, s in results) < NEVER_HANGS_SECONDS
    assert len(emails) == 10


@pytest.mark.redis
def test_fetches_whose_replies_were_lost_strand_no_job(
    redis_url: str, redis_client: Any, tmp_path, settings: Any, figures: dict[str, Any]
):
    # A frozen Redis runs a fetch that the worker has given up on: the messages sit in the set
    # of a live worker's unacked messages, where maintenance never looks. Made certain here
    # (tests/workbench/lost_reply) on the queue, and on its delay queue (retries go there) while
    # an earlier delayed message waits in the worker's local delay queue, which the consumer's
    # restart empties.
    lost_reply = str(ROOT / "tests" / "workbench" / "lost_reply")
    pythonpath = os.pathsep.join(filter(None, [lost_reply, os.environ.get("PYTHONPATH")]))
    now, later = [f"now-{n}" for n in range(4)], [f"later-{n}" for n in range(3)]
    jobs = [enqueue(slow_effect, "held", 0.0, delay=dt.timedelta(seconds=5))]
    jobs += [enqueue(slow_effect, key, 0.0) for key in now]
    pool = Workers(
        redis_url,
        tmp_path,
        settings.MEDIA_ROOT,
        env={"PYTHONPATH": pythonpath, "CHAOS_LOSE_FETCH_REPLIES": f"{QUEUE},{QUEUE}.DQ@2"},
    )
    try:
        pool.start("a")  # after the queue is filled: its first fetch takes them all, and is lost
        namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
        wait_for(lambda: redis_client.llen(f"{namespace}:{QUEUE}.DQ") == 0, 10, pool.logs)
        jobs += [enqueue(slow_effect, key, 0.0, delay=dt.timedelta(seconds=1)) for key in later]
        wait_for(lambda: pool.logs().count("lost-reply:") == 2, 30, pool.logs)
        ids = [job.id for job in jobs]
        succeeded = Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED)
        wait_for(lambda: succeeded.count() == len(jobs), 30, pool.logs)
        wait_for(lambda: unacked(redis_client, QUEUE) == 0, 10, pool.logs)
    finally:
        pool.stop_all()
    figures.update(expected=len(jobs), succeeded=len(jobs), lost_fetch_replies=2)
    done = sorted(line.split()[0] for line in runs(pool.workdir, "done"))
    assert done == sorted(["held", *now, *later])
    assert "Requeued" in pool.logs()


def test_a_requeue_on_a_frozen_redis_is_a_connection_error_the_consumer_survives(
    own_redis: RedisServer,
):
    # After a failed fetch Dramatiq's consumer thread requeues its delayed messages; only a
    # connection error there is survived, and a frozen Redis raises a timeout.
    consumer = dramatiq.get_broker().consume(QUEUE)
    fetched = MessageProxy(
        Message(QUEUE, "slow_effect", ("k", 0.0), {}, {"redis_message_id": str(uuid.uuid4())})
    )
    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ConnectionClosed):
            consumer.requeue([fetched])
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)


def test_queued_jobs_survive_a_redis_restart_through_its_append_only_file(
    own_redis: RedisServer, tmp_path, settings: Any, figures: dict[str, Any]
):
    client = Client()
    statuses = [sign_up_timed(client, f"queued{n}@example.com")[0] for n in range(5)]
    # In Redis, no worker yet; "queued" is recorded in the background just after each request.
    wait_for(lambda: Job.objects.filter(status=JobStatus.QUEUED).count() == 5, 5)

    own_redis.stop()  # what stopping `make run` does to the embedded server
    own_redis.start()
    pool = Workers(own_redis.url, tmp_path, settings.MEDIA_ROOT, env={})
    try:
        worker = pool.start("a")
        wait_all_succeeded(5, pool, 60)
    finally:
        pool.stop_all()

    figures.update(expected=5, succeeded=5, resent_by_relay=0, emails=len(worker.emails()))
    assert statuses == [202] * 5
    assert not Job.objects.filter(events__kind=EventKind.RESENT).exists()  # from Redis, not relay
    assert len(worker.emails()) == 5
