"""The actors and queues the ledger knows, for the admin's filters and choices: every name a
job, a rolled-up hour or a schedule carries, whatever this web process happened to import.

The job table's distinct names are read by a loose index scan (a recursive query that jumps
from one name to the next through the actor and queue indexes: one index probe per name, at any
size; a DISTINCT over 10,000,000 jobs read them all). Rolled-up hours add names whose jobs were
pruned.
"""

from __future__ import annotations

import dramatiq
from django.db import connection

from jobs.models import Job, JobsPerHour, Schedule

#: Only these columns are read this way (each leads an index of the job table).
INDEXED = ("actor_name", "queue_name")


def distinct_in_jobs(column: str) -> set[str]:
    """Every value of `column` among the jobs, by a loose index scan."""
    if column not in INDEXED:
        raise ValueError(column)
    table = connection.ops.quote_name(Job._meta.db_table)
    name = connection.ops.quote_name(column)
    sql = f"""
        WITH RECURSIVE found(value) AS (
            SELECT MIN({name}) FROM {table}
            UNION ALL
            SELECT (SELECT MIN({name}) FROM {table} WHERE {name} > found.value)
            FROM found WHERE found.value IS NOT NULL
        )
        SELECT value FROM found WHERE value IS NOT NULL
    """  # noqa: S608 (names from the model and a fixed list)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


def _names(column: str) -> set[str]:
    rolled_up = JobsPerHour.objects.order_by().values_list(column, flat=True).distinct()
    return (distinct_in_jobs(column) | set(rolled_up)) - {""}


def known_actors() -> list[str]:
    return sorted(_names("actor_name") | set(Schedule.objects.values_list("actor_name", flat=True)))


def known_queues() -> list[str]:
    return sorted(_names("queue_name") | set(dramatiq.get_broker().get_declared_queues()))
