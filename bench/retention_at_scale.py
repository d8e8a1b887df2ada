"""Retention at scale: prune a ledger of a million finished jobs while staff use the admin.

Fills the database like admin_at_scale.py (if its size differs), then deletes every finished job and
its events with jobs.maintenance.retention.prune in one thread while another loads the admin job
list and the dashboard in a loop (one load every PAUSE seconds). Prints the pruning rate (jobs/s),
the number and the longest of its batches (each batch is one transaction: the longest time any row
lock is held), and the admin's median and worst response times during the pruning.

Usage (PostgreSQL only; the ledger is emptied of finished jobs, rerun to refill):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_scale \\
    .venv/bin/python bench/retention_at_scale.py [--jobs 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Seconds between two admin page loads during the pruning.
PAUSE = 0.25
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=1, help="pruning connections")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["DEBUG"] = "1"

    import admin_at_scale

    admin_at_scale.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    from accounts.models import User
    from jobs.ledger.rollups import roll_up
    from jobs.maintenance.retention import prune
    from jobs.models import Job, JobStatus

    call_command("migrate", verbosity=0)
    admin_at_scale.fill(args.jobs, args.events)
    # Only counted jobs are pruned (jobs/maintenance/retention.py prune_cutoff): roll every
    # settled hour up first, untimed, as the workers' retention duty has by then.
    while roll_up():
        pass
    finished = Job.objects.filter(status__in=JobStatus.final()).count()
    admin, _ = User.objects.get_or_create(
        email="bench-admin@example.com", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    done = threading.Event()
    result: dict[str, object] = {}

    def pruner() -> None:
        try:
            result["pruned"] = prune(dt.timedelta(0), parallel=args.parallel)
        finally:
            connections.close_all()
            done.set()

    latencies: dict[str, list[float]] = {"job list": [], "dashboard": []}
    thread = threading.Thread(target=pruner)
    thread.start()
    while not done.is_set():
        for name, path in (
            ("job list", "/admin/jobs/job/"),
            ("dashboard", "/admin/jobs/job/dashboard/"),
        ):
            started = time.perf_counter()
            response = client.get(path)
            latencies[name].append(time.perf_counter() - started)
            assert response.status_code == 200, (name, response.status_code)
            time.sleep(PAUSE)  # a few staff members at work, not a load test of the admin
    thread.join()
    pruned = result["pruned"]
    print(f"\nPruned {pruned.jobs:,} of {finished:,} finished jobs and {pruned.events:,} events")  # type: ignore[attr-defined]
    print(
        f"in {pruned.seconds:.1f} s: {pruned.jobs_per_second:,.0f} jobs/s, "  # type: ignore[attr-defined]
        f"{len(pruned.batch_seconds)} batches, "  # type: ignore[attr-defined]
        f"longest {max(pruned.batch_seconds, default=0.0):.2f} s, "  # type: ignore[attr-defined]
        f"median {statistics.median(pruned.batch_seconds or [0.0]):.2f} s"  # type: ignore[attr-defined]
    )
    for name, samples in latencies.items():
        print(
            f"{name} during pruning: {len(samples)} loads, median "
            f"{statistics.median(samples) * 1000:.0f} ms, worst {max(samples) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
