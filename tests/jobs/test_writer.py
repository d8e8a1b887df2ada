"""The ledger writer (jobs/ledger/writer.py) against the real database: many worker threads'
claims and successes in shared batches, without losing, reordering or doubling anything."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections
from django.utils import timezone

from jobs.ledger.history import timeline
from jobs.ledger.requests import ClaimRequest, SentRequest, SuccessRequest
from jobs.ledger.writer import LedgerWriter, WriterStoppedError, _Handover
from jobs.models import EventKind, Job, JobStatus
from tests.conftest import wait_for
from tests.factories import event_kinds

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writer() -> Iterator[LedgerWriter]:
    writer = LedgerWriter(worker_id="test-broker")
    writer.start()
    yield writer
    writer.stop()


def queued_jobs(count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    Job.objects.bulk_create(
        [Job(id=i, actor_name="noop", queue_name="q", status=JobStatus.QUEUED) for i in ids]
    )
    return ids


def in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run target(0..count-1) in that many threads at once; their results (or exceptions)."""
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = target(n)
        except Exception as exc:  # reported to the test, not swallowed
            results[n] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def run_job(writer: LedgerWriter, job_id: uuid.UUID, worker: str) -> bool:
    """What a worker thread does for one job: claim, (run), hand the success over, and what its
    ack does: wait for the success's write."""
    won = writer.claim(ClaimRequest(job_id, 0, worker, "delivery"), budget=5)
    if won is None:
        return False
    attempt, started_at = won
    settled = writer.succeeded(
        SuccessRequest(job_id, attempt, started_at, worker, result={"n": 1}), budget=5
    )
    return settled()


def test_jobs_of_many_threads_share_batches_and_each_keeps_its_events_in_order(writer):
    ids = queued_jobs(120)

    def work(n: int) -> list[bool]:
        return [run_job(writer, job_id, f"thread-{n}") for job_id in ids[n::8]]

    results = in_threads(8, work)

    assert all(r == [True] * 15 for r in results), results
    for job in Job.objects.filter(pk__in=ids):
        assert job.status == JobStatus.SUCCEEDED
        assert (job.attempts, job.worker_id, job.result) == (1, "test-broker", {"n": 1})
        assert job.duration is not None and job.duration >= dt.timedelta(0)
        # Claim and success that moved the job are facts of its row: no event rows.
        assert not job.events.exists()
        _, started, succeeded = timeline(job)
        assert (started.kind, succeeded.kind) == (EventKind.STARTED, EventKind.SUCCEEDED)
        assert started.worker == succeeded.worker == job.worker
        assert job.started_at <= job.finished_at


def test_two_deliveries_of_one_job_at_once_run_it_once(writer):
    (job_id,) = queued_jobs(1)
    other = LedgerWriter(worker_id="other-process")  # a second worker process
    other.start()
    try:
        writers = [writer, writer, other, other]
        results = in_threads(
            4,
            lambda n: writers[n].claim(ClaimRequest(job_id, 0, f"w{n}", "d"), budget=5),
        )
    finally:
        other.stop()

    assert sum(r is not None for r in results) == 1, results
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)
    assert [e.kind for e in timeline(job)].count(EventKind.STARTED) == 1


def test_a_duplicate_delivery_of_a_finished_job_is_refused(writer):
    (job_id,) = queued_jobs(1)
    assert run_job(writer, job_id, "first")

    assert writer.claim(ClaimRequest(job_id, 0, "second", "d"), budget=5) is None
    assert Job.objects.get(pk=job_id).status == JobStatus.SUCCEEDED


def test_stop_writes_everything_handed_over_before_it(writer):
    ids = queued_jobs(200)
    outcomes: dict[uuid.UUID, Any] = {}
    some_handed_over = threading.Event()

    def claim(job_id: uuid.UUID) -> None:
        try:
            outcomes[job_id] = writer.claim(ClaimRequest(job_id, 0, "w", "d"), budget=5)
        except WriterStoppedError:
            outcomes[job_id] = "write it yourself"
        some_handed_over.set()

    threads = [threading.Thread(target=claim, args=(job_id,)) for job_id in ids]
    for thread in threads:
        thread.start()
    some_handed_over.wait(10)
    writer.stop()  # while claims are still arriving
    for thread in threads:
        thread.join(30)
    connections.close_all()

    written = {i for i, outcome in outcomes.items() if outcome != "write it yourself"}
    assert len(outcomes) == len(ids)
    assert written  # the writer was working when it was stopped
    assert all(isinstance(outcomes[i], tuple) for i in written)  # none lost, none refused
    running = set(Job.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))
    assert running == written
    with pytest.raises(WriterStoppedError):
        writer.claim(ClaimRequest(ids[0], 0, "w", "d"), budget=5)


class BatchRecordingWriter(LedgerWriter):
    """The real writer, noting the size of each batch it writes."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.batches: list[int] = []

    def _write(self, batch: list[_Handover]) -> None:
        self.batches.append(len(batch))
        super()._write(batch)


def test_send_records_after_a_write_gather_for_the_linger_and_stop_does_not_wait_it_out():
    ids = [uuid.uuid4() for _ in range(3)]
    Job.objects.bulk_create([Job(id=i, actor_name="noop", queue_name="q") for i in ids])
    writer = BatchRecordingWriter(worker_id="", linger=3600)
    writer.start()

    def sent(job_id: uuid.UUID) -> None:
        writer.sent(SentRequest(job_id, at=timezone.now()), budget=5)

    sent(ids[0])  # after a quiet spell: written at once
    wait_for(lambda: Job.objects.get(pk=ids[0]).status == JobStatus.QUEUED, 10)
    sent(ids[1])  # within the linger of that write: gathered...
    time.sleep(0.3)  # (without a linger, written alone meanwhile)
    sent(ids[2])
    writer.stop(timeout=30)  # ...until stopped, which must not wait out the hour left

    assert writer.batches == [1, 2]
    statuses = set(Job.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {JobStatus.QUEUED}


def test_a_row_that_cannot_be_written_fails_alone(writer):
    (job_id,) = queued_jobs(1)
    missing = uuid.uuid4()  # no such job: its event breaks the foreign key
    now = timezone.now()
    good = _Handover(ClaimRequest(job_id, 0, "w", "d"), deadline=float("inf"))
    bad = _Handover(SuccessRequest(missing, 1, now, "w"), deadline=0)

    writer._write([good, bad])  # one batch, as the writer thread would form it

    assert good.result is not None and good.error is None
    assert isinstance(bad.error, IntegrityError)
    assert Job.objects.get(pk=job_id).status == JobStatus.RUNNING


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="cuts PostgreSQL connections: the PostgreSQL pass"
)
def test_a_batch_is_written_on_a_new_connection_after_the_database_dropped_the_old_one(writer):
    first, second = queued_jobs(2)
    assert run_job(writer, first, "w")  # the writer now holds an open connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1

    assert run_job(writer, second, "w")
    job = Job.objects.get(pk=second)
    assert job.status == JobStatus.SUCCEEDED
    assert event_kinds(job) == ["enqueued", "started", "succeeded"]  # each once


def test_a_locked_database_delays_a_batch_without_losing_it(writer, tmp_path):
    """SQLite: another process holds the write lock for a while (PostgreSQL: a row lock)."""
    (job_id,) = queued_jobs(1)
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with connections["default"].cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("UPDATE jobs_job SET worker = 'holder' WHERE id = %s", [job_id.hex])
            else:
                cursor.execute("BEGIN")
                cursor.execute("SELECT 1 FROM jobs_job WHERE id = %s FOR UPDATE", [job_id])
            locked.set()
            release.wait(10)
            cursor.execute("ROLLBACK")
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    result: list[Any] = []
    claimer = threading.Thread(
        target=lambda: result.append(writer.claim(ClaimRequest(job_id, 0, "w", "d"), budget=15))
    )
    claimer.start()
    claimer.join(0.5)
    assert claimer.is_alive()  # waiting for the lock, not failed
    release.set()
    holder.join(10)
    claimer.join(15)

    assert result and result[0] is not None
    assert Job.objects.get(pk=job_id).status == JobStatus.RUNNING
