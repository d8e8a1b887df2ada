"""Admin at scale: the job admin's pages timed over a PostgreSQL ledger of millions of jobs.

Fills a dedicated database with a realistic ledger (by default 1,000,000 jobs and 5 events each,
spread over 30 days: mostly succeeded, 2 % failed with a handful of error groups, a few hundred
waiting or running, welcome-email jobs about user<n>@example.com) with set-based SQL, then times
each page through Django's test client as a superuser would load it, in alternating rounds, and
prints the median of each. Also prints the plan's slowest query per page (--explain).

Usage (PostgreSQL only; the database is created if missing and refilled if its size differs):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_scale \\
    .venv/bin/python bench/admin_at_scale.py [--jobs 1000000] [--events 5] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACTORS = ("send_welcome_email", "generate_report", "sync_crm", "resize_image")
#: One in `n` jobs is in this status (the rest succeeded).
RARE_STATUSES = (
    ("queued", 1000, 0),
    ("pending", 1000, 1),
    ("retrying", 1000, 2),
    ("running", 1000, 3),
    ("cancelled", 500, 5),
    ("failed", 50, 7),
)
ERRORS = (
    ("SMTPResponseException", "(451, '4.3.0 Mailbox user{n}@example.com temporarily unavailable')"),
    ("TimeoutError", "CRM call for account {n} gave up after 30 s"),
    ("KeyError", "'thumbnail_{n}'"),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5, help="events per job")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--explain", action="store_true", help="print each page's slowest query")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["DEBUG"] = "1"  # plain static storage: no collectstatic manifest needed
    create_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill(args.jobs, args.events)
    time_pages(args.rounds, args.explain)


def create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


#: The job columns the fill computes; every other NOT NULL one gets its field's default.
FILLED_COLUMNS = {
    "id", "actor_name", "queue_name", "args", "kwargs", "status", "attempts", "max_retries",
    "enqueued_at", "sent_at", "started_at", "first_started_at", "finished_at", "duration",
    "last_error", "error_type", "error_group", "worker", "worker_id", "delivery_id",
    "lost_deliveries", "about_type_id", "about_id", "about_label", "sealed_arguments",
    "request_id",
}  # fmt: skip


def other_columns_as_defaults(filled: set[str]) -> tuple[str, str]:
    """ ", col, ..." and ", value, ..." for the job's other NOT NULL columns, from the model: a
    column added to the ledger later must not break the fill (it did, twice)."""
    from jobs.models import Job

    columns, values = [], []
    for field in Job._meta.concrete_fields:
        if field.column in filled or field.null:
            continue
        default = field.get_default()
        if isinstance(default, bool):
            literal = "true" if default else "false"
        elif isinstance(default, int):
            literal = str(default)
        elif isinstance(default, str):
            literal = "'" + default.replace("'", "''") + "'"
        else:
            raise TypeError(f"no SQL literal for {field.column}'s default {default!r}")
        columns.append(field.column)
        values.append(literal)
    return "".join(f", {c}" for c in columns), "".join(f", {v}" for v in values)


def fill(jobs: int, events: int) -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from accounts.models import User
    from jobs.ledger.error_groups import error_group
    from jobs.models import Job

    current = Job.objects.count()
    if current == jobs:
        print(f"ledger already holds {current:,} jobs; not refilled")
        return
    user_type = ContentType.objects.get_for_model(User).pk
    status = "CASE " + " ".join(
        f"WHEN g % {every} = {rest} THEN '{name}'" for name, every, rest in RARE_STATUSES
    )
    status += " ELSE 'succeeded' END"
    errors = sql_array(f"{t}: {m}" for t, m in ERRORS)
    error_types = sql_array(t for t, _ in ERRORS)
    groups = sql_array(error_group(t, m.replace("{n}", "123")) for t, m in ERRORS)
    actors = sql_array(ACTORS)
    rest_columns, rest_values = other_columns_as_defaults(FILLED_COLUMNS)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE jobs_jobevent, jobs_job CASCADE")
        # Loaded without secondary indexes and foreign-key checks, which are then built and
        # validated once: row by row, the events' random-UUID job_id index outgrows the buffers
        # and a 10,000,000-job fill slows to a crawl (docs/PERFORMANCE.md).
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('jobs_job', 'jobs_jobevent') AND indexname NOT LIKE '%%_pkey'"
        )
        secondary = cursor.fetchall()
        for name, _ in secondary:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")  # no FK triggers per row
        # One job every 2.5 s going back from now: 1M jobs span about 29 days.
        cursor.execute(
            f"""
            INSERT INTO jobs_job (
                id, actor_name, queue_name, args, kwargs, status, attempts, max_retries,
                enqueued_at, sent_at, started_at, first_started_at, finished_at, duration,
                last_error, error_type, error_group, worker, worker_id, delivery_id,
                lost_deliveries, about_type_id, about_id, about_label, sealed_arguments,
                request_id
                {rest_columns}
            )
            SELECT md5(g::text)::uuid, a.actor, 'default', jsonb_build_array(g), '{{}}'::jsonb,
                s.status,
                CASE WHEN s.status IN ('queued', 'pending', 'cancelled') THEN 0
                     WHEN s.status = 'failed' THEN 4 ELSE 1 + (g % 17 = 0)::int END,
                3, t.at, t.at + interval '2 ms', t.at + interval '40 ms', t.at + interval '40 ms',
                CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled')
                     THEN t.at + interval '40 ms' + (g % 97) * interval '1 ms' END,
                CASE WHEN s.status IN ('succeeded', 'failed')
                     THEN (g % 97) * interval '1 ms' END,
                CASE WHEN s.status = 'failed' THEN replace(({errors})[1 + g % 3], '{{n}}', g::text)
                     ELSE '' END,
                CASE WHEN s.status = 'failed' THEN ({error_types})[1 + g % 3] ELSE '' END,
                CASE WHEN s.status = 'failed' THEN ({groups})[1 + g % 3] ELSE '' END,
                'bench:1:Thread-' || (g % 8), 'bench-worker', md5('d' || g::text)::uuid::text,
                0,
                CASE WHEN a.actor = 'send_welcome_email' THEN {user_type} END,
                CASE WHEN a.actor = 'send_welcome_email' THEN g::text ELSE '' END,
                CASE WHEN a.actor = 'send_welcome_email' THEN 'user' || g || '@example.com'
                     ELSE '' END,
                '',
                CASE WHEN g % 4 = 0 THEN md5('r' || g::text) ELSE '' END
                {rest_values}
            FROM generate_series(1, {jobs}) AS g,
                LATERAL (SELECT ({actors})[1 + g % {len(ACTORS)}] AS actor) AS a,
                LATERAL (SELECT {status} AS status) AS s,
                LATERAL (SELECT now() - g * interval '2.5 seconds' AS at) AS t
            """  # noqa: S608 (only this script's constants are interpolated)
        )
        kinds = ["enqueued", "queued", "started", "attempt_failed", "started"]
        for index in range(events):
            kind = "succeeded" if index == events - 1 else kinds[index % len(kinds)]
            cursor.execute(
                f"""
                INSERT INTO jobs_jobevent (job_id, kind, at, attempt, worker, exception_type,
                                           message, traceback, operator_id)
                SELECT id, '{kind}', enqueued_at + {index} * interval '10 ms', {min(index, 2)},
                       worker, '', '', '', NULL
                FROM jobs_job
                """  # noqa: S608
            )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute(  # what the skipped per-row checks would have found: nothing
            "SELECT count(*) FROM jobs_jobevent e LEFT JOIN jobs_job j ON j.id = e.job_id "
            "WHERE j.id IS NULL"
        )
        assert cursor.fetchone()[0] == 0, "events without a job"
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in secondary:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE jobs_job")  # and the visibility map: index-only scans
        cursor.execute("VACUUM ANALYZE jobs_jobevent")
    print(
        f"filled {jobs:,} jobs and {jobs * events:,} events in {time.monotonic() - started:.0f} s"
    )


def sql_array(values: Any) -> str:
    """A PostgreSQL text array literal of trusted constants (quotes doubled)."""
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def time_pages(rounds: int, explain: bool) -> None:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from jobs.admin.jobs import JobAdmin
    from jobs.models import Job

    admin, _ = User.objects.get_or_create(
        email="bench-admin@example.com", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    failed = Job.objects.failed().order_by("-enqueued_at").values_list("pk", flat=True).first()
    emails = Job.objects.filter(about_label__endswith="@example.com").values_list(
        "about_label", flat=True
    )
    email = emails[min(500, emails.count() - 1)]  # the 501st: not the first rows, at full size
    last_page = max(1, -(-Job.objects.count() // JobAdmin.list_per_page))
    # Not among the first rows (at full size; the smoke test's tiny ledger has fewer).
    deep = Job.objects.order_by("-enqueued_at")[min(5000, Job.objects.count() - 1)]
    traced_jobs = Job.objects.exclude(request_id="").order_by("-enqueued_at")
    traced = traced_jobs[min(5000, traced_jobs.count() - 1)].request_id
    pages: dict[str, tuple[str, dict[str, Any]]] = {
        "job list": ("/admin/jobs/job/", {}),
        "filtered list (failed, one actor)": (
            "/admin/jobs/job/",
            {"status__exact": "failed", "actor_name": "sync_crm"},
        ),
        "search by email": ("/admin/jobs/job/", {"q": email}),
        "search by id (8 characters)": ("/admin/jobs/job/", {"q": str(deep.pk)[:8]}),
        "search by request id": ("/admin/jobs/job/", {"q": traced}),
        "search by error text": ("/admin/jobs/job/", {"q": "CRM call for account 157 gave"}),
        "job detail": (f"/admin/jobs/job/{failed}/change/", {}),
        "dashboard": ("/admin/jobs/job/dashboard/", {}),
        "dashboard refresh": ("/admin/jobs/job/dashboard/", {"partial": "1"}),
        # Page 100, or the last one of a small ledger (the admin's pages count from 1).
        "page 100 of the list": ("/admin/jobs/job/", {"p": str(min(100, last_page))}),
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    slowest: dict[str, tuple[float, str]] = {}
    for _ in range(rounds):
        for name, (path, query) in pages.items():
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(path, query)
                times[name].append(time.perf_counter() - started)
            assert response.status_code == 200, (name, response.status_code)
            worst = max(queries.captured_queries, key=lambda q: float(q["time"]))
            if float(worst["time"]) > slowest.get(name, (0.0, ""))[0]:
                slowest[name] = (float(worst["time"]), worst["sql"])
    jobs = Job.objects.count()
    print(f"\nAdmin pages over {jobs:,} jobs (PostgreSQL), median of {rounds} rounds:\n")
    print("| page | median ms | worst query ms |")
    print("| --- | ---: | ---: |")
    for name, samples in times.items():
        print(
            f"| {name} | {statistics.median(samples) * 1000:.0f} | {slowest[name][0] * 1000:.0f} |"
        )
    # What a dashboard refresh sends while nothing changes: the sections it lacks, none.
    page = client.get("/admin/jobs/job/dashboard/").content.decode()
    held = re.findall(r'data-section="([\w-]+)" data-hash="(\w+)"', page)
    have = ",".join(f"{name}:{digest}" for name, digest in held)
    refresh = client.get("/admin/jobs/job/dashboard/", {"partial": "1", "have": have})
    full = client.get("/admin/jobs/job/dashboard/", {"partial": "1"})
    print(
        f"\nDashboard: page {len(page):,} bytes; refresh with every section {len(full.content):,}"
        f" bytes; refresh while nothing changed {len(refresh.content):,} bytes "
        f"(sections sent: {sorted(refresh.json()['sections']) or 'none'})"
    )
    if explain:
        for name, (_seconds, sql) in slowest.items():
            print(f"\n-- {name}\n{sql[:2000]}")


if __name__ == "__main__":
    main()
