"""Where a ledger-writer batch's time goes (PostgreSQL): the latency of one batch of `--batch`
claims and as many successes, written by `jobs.ledger.batch_sql.write_batch` exactly as the
writer does, with the commit's WAL flush (the default) and without it (`synchronous_commit =
off` for this session only, to measure the flush, never to run with), in alternating rounds;
then fdatasync on this disk, and the batch statement under EXPLAIN (ANALYZE, BUFFERS, WAL).

Usage:
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_bench \\
    .venv/bin/python bench/batch_latency.py [--batch 4] [--batches 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_throughput import empty_ledger, setup, vacuum_analyze  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup("offload-batch-")
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only: set DATABASE_URL")
    times: dict[str, list[float]] = {"flushed": [], "not flushed": []}
    for round_number in range(args.rounds):
        order = ["flushed", "not flushed"]
        for variant in order if round_number % 2 == 0 else order[::-1]:
            times[variant].append(median_batch(args.batch, args.batches, variant == "flushed"))
    flushed, unflushed = (statistics.median(times[k]) for k in ("flushed", "not flushed"))
    print(f"batch of {args.batch} claims + {args.batch} successes, medians of {args.rounds} rounds")
    print(f"  as the writer runs it (commit flushed):  {flushed * 1000:6.2f} ms")
    print(f"  commit not flushed (measurement only):   {unflushed * 1000:6.2f} ms")
    print(f"  the commit's WAL flush:                  {(flushed - unflushed) * 1000:6.2f} ms")
    print(f"  fdatasync of 8 KiB on this machine's disk: {fdatasync_median() * 1000:6.2f} ms")
    explain(args.batch)


def fdatasync_median(count: int = 200) -> float:
    """What one WAL flush costs at least: fdatasync of an 8 KiB write to a file on the same
    disk as the temporary directory (PostgreSQL's data directory here)."""
    times = []
    with tempfile.NamedTemporaryFile() as file:
        for _ in range(count):
            os.write(file.fileno(), b"x" * 8192)
            start = time.perf_counter()
            os.fdatasync(file.fileno())
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def fill(count: int) -> list[uuid.UUID]:
    from django.db import connections

    from jobs.models import Job, JobStatus

    empty_ledger()
    ids = [uuid.uuid4() for _ in range(count)]
    Job.objects.bulk_create(
        [Job(id=i, actor_name="noop", queue_name="q", status=JobStatus.QUEUED) for i in ids],
        batch_size=1000,
    )
    vacuum_analyze()
    connections.close_all()  # the writer's session settings start afresh
    return ids


def median_batch(size: int, batches: int, flushed: bool) -> float:
    """Claim `size` jobs and succeed the `size` claimed by the batch before, `batches` times."""
    from django.db import connection

    from jobs.ledger.batch_sql import write_batch
    from jobs.ledger.requests import ClaimRequest, SuccessRequest

    ids = fill(size * (batches + 1))
    if not flushed:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
    now = dt.datetime.now(dt.UTC)
    times = []
    for k in range(0, size * batches, size):
        claims = [ClaimRequest(i, 0, "w", "d") for i in ids[k : k + size]]
        successes = [
            SuccessRequest(i, attempt=1, started_at=now, worker="w")
            for i in ids[max(0, k - size) : k]
        ]
        start = time.perf_counter()
        write_batch(claims, successes, worker_id="bench")
        times.append(time.perf_counter() - start)
    connection.close()
    return statistics.median(times[1:])  # the first one prepares the statement


def explain(size: int) -> None:
    from django.db import connection

    from jobs.ledger import batch_sql as bt
    from jobs.ledger.requests import ClaimRequest, SuccessRequest

    ids = fill(size * 3)
    now = dt.datetime.now(dt.UTC)
    bt.write_batch([ClaimRequest(i, 0, "w", "d") for i in ids[:size]], [], worker_id="b")
    prep = bt._Prep(connection)
    at = prep.datetime(now)
    parts = [
        bt._claims(
            prep,
            [ClaimRequest(i, 0, "w", "d") for i in ids[size : 2 * size]],
            worker_id="b",
            at=at,
        ),
        bt._successes(
            prep,
            [SuccessRequest(i, attempt=1, started_at=now, worker="w") for i in ids[:size]],
            now=now,
            at=at,
        ),
    ]
    sql = bt._postgres_statement(tuple(part.sql for part in parts))
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            f"EXPLAIN (ANALYZE, BUFFERS, WAL) {sql}", [p for part in parts for p in part.params]
        )
        print("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("ROLLBACK")


if __name__ == "__main__":
    main()
