"""Database transactions per job in a real worker: what the tracking hooks cost on PostgreSQL.

Enqueues N no-op jobs, then lets one real `rundramatiq` worker drain them and reads PostgreSQL's
own commit counter (pg_stat_database.xact_commit) around the drain. Every statement outside an
explicit transaction (e.g. Django's connection health check, `SELECT 1`) counts as one.

Usage (PostgreSQL only; create the database first, its tables are migrated):
  createdb -h 127.0.0.1 -U postgres offload_bench
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_bench \
    .venv/bin/python bench/worker_round_trips.py [--jobs 500]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=500)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (pg_stat_database is PostgreSQL's).")
    workdir = Path(tempfile.mkdtemp(prefix="offload-bench-"))
    os.environ.update(
        OFFLOAD_VAR_DIR=str(workdir),
        DJANGO_SETTINGS_MODULE="config.settings",
        EXTRA_INSTALLED_APPS="tests.workbench",
        WORKBENCH_DIR=str(workdir),
        # Keep the upkeep thread's own queries out of the count.
        LEDGER_UPKEEP_INTERVAL_SECONDS="3600",
    )
    from jobs.brokers.embedded import EmbeddedRedis

    redis_server = EmbeddedRedis(workdir / "redis")
    redis_process = redis_server.start()
    os.environ["REDIS_URL"] = redis_server.url
    try:
        run(args.jobs, workdir)
    finally:
        redis_process.terminate()
        redis_process.wait()


def run(jobs: int, workdir: Path) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from jobs.models import Job, JobStatus
    from jobs.outbox import enqueue
    from tests.workbench.tasks import noop

    call_command("migrate", verbosity=0)
    ids = [enqueue(noop).id for _ in range(jobs)]

    def commits() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    time.sleep(1.5)  # let backends flush their counters
    before = commits()
    log = (workdir / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "4"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    polls = 0
    try:
        while Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() < jobs:
            polls += 1
            time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    time.sleep(1.5)
    after = commits()
    # Ours: each poll and each commits() reading is one transaction of this process.
    worker_commits = after - before - polls - 2
    print(f"jobs: {jobs}, database: {connection.vendor}")
    print(f"worker transactions (incl. startup and health checks): {worker_commits}")
    print(f"per job: {worker_commits / jobs:.2f}")


if __name__ == "__main__":
    main()
