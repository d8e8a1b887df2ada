"""The ledger writer's batch statement keeps one plan for its connection's lifetime
(PostgreSQL, a prepared statement with a generic plan): that plan must find each job by its
primary key whatever the planner's statistics said when it was made. A plan that scans the
jobs table, or every unfinished job through the status index, costs a full scan per batch;
on a busy ledger that took the writer from 1,100 to 240 jobs/s (docs/PERFORMANCE.md)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.db import connection

from jobs.ledger.batch_sql import write_batch
from jobs.ledger.requests import ClaimRequest, SuccessRequest
from jobs.models import Job, JobStatus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"
    ),
]

JOBS_TABLE = Job._meta.db_table
#: A scan of the jobs table itself, not of its events (`jobs_jobevent`).
SCAN_OF_JOBS = re.compile(rf"\b(\w[\w ]*Scan)\b(?: using (\w+))? on {JOBS_TABLE}(?: |$)")


def batch_plan(*, analyzed: bool) -> list[str]:
    """Claim and succeed jobs in batches while nearly every job is queued (a backlog being
    drained), then EXPLAIN the prepared batch statement as its connection will run it."""
    ids = [uuid.uuid4() for _ in range(2000)]
    Job.objects.bulk_create(
        [Job(id=i, actor_name="noop", queue_name="q", status=JobStatus.QUEUED) for i in ids]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {JOBS_TABLE}" if analyzed else "SELECT 1")
    now = dt.datetime.now(dt.UTC)
    try:
        for first in range(0, 12, 3):  # past any plan-choosing executions
            batch = ids[first : first + 3]
            write_batch(
                [ClaimRequest(i, 0, "w", "d") for i in batch],
                [
                    SuccessRequest(i, attempt=1, started_at=now, worker="w", result=None)
                    for i in ids[first - 3 : first]
                ],
                worker_id="b",
            )
        assert Job.objects.filter(status=JobStatus.SUCCEEDED).count() == 9
        raw = connection.connection
        (name, types), *_ = raw.execute(
            "SELECT name, parameter_types FROM pg_prepared_statements"
            " WHERE statement LIKE 'WITH%%claimed%%moved%%'"
        ).fetchall()
        nulls = ", ".join(["NULL"] * len(types))
        return [row[0] for row in raw.execute(f"EXPLAIN EXECUTE {name}({nulls})").fetchall()]
    finally:
        connection.close()  # the writer's session settings stay with that connection


def scans_of_jobs(plan: list[str]) -> list[tuple[str, str | None, list[str]]]:
    """Each scan of the jobs table: (kind, index, its detail lines: Index Cond, Filter...)."""
    found = []
    for n, line in enumerate(plan):
        match = SCAN_OF_JOBS.search(line)
        if match:
            details = []
            for detail in plan[n + 1 :]:
                if "->" in detail or detail.lstrip().startswith("CTE "):
                    break
                details.append(detail.strip())
            found.append((match.group(1), match.group(2), details))
    return found


@pytest.mark.parametrize("analyzed", [False, True], ids=["never-analyzed", "analyzed"])
def test_every_job_in_a_batch_is_found_by_its_primary_key(analyzed: bool) -> None:
    plan = batch_plan(analyzed=analyzed)
    shown = "\n".join(plan)
    scans = scans_of_jobs(plan)
    assert len(scans) == 2, shown  # the claims' UPDATE and the successes'
    for kind, index, details in scans:
        assert (kind, index) == ("Index Scan", f"{JOBS_TABLE}_pkey"), shown
        # Probes for the batch's ids, not a walk through the whole index.
        assert any(d.startswith("Index Cond: (id = ") for d in details), shown
    assert not any("Hash Join" in line or "Merge Join" in line for line in plan), shown
