"""What "stuck" means, defined once: the dashboard counts and links these, the ledger check
(jobs/maintenance/ledger_check.py) repairs them. Each kind is a filter of the job list, so the
dashboard's number opens exactly the jobs the check looks at."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from jobs.models import Job, JobStatus

#: A queued or retrying job this long past due with no message in the broker has lost it.
OVERDUE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Stuck:
    kind: str
    label: str
    #: The job list's filters (admin URL parameters) that select these jobs.
    lookups: dict[str, Any]

    def jobs(self) -> QuerySet[Job]:
        jobs: QuerySet[Job] = Job.objects.filter(
            **{k.removesuffix("__exact"): v for k, v in self.lookups.items()}
        )
        return jobs


def stuck(now: dt.datetime, alive: set[str] | None, worker_timeout: float) -> list[Stuck]:
    """Every kind of stuck job at `now`. With `alive` (the live worker ids, brokers/state.py),
    also the jobs running on a worker silent for over `worker_timeout` seconds."""
    minutes = OVERDUE.seconds // 60
    found = [
        Stuck(
            "pending",
            "Pending past the relay's grace (not reaching the broker)",
            {
                "status__exact": JobStatus.PENDING,
                "enqueued_at__lt": now - dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS),
            },
        ),
        Stuck(
            "queued",
            f"Queued for over {minutes} min",
            {"status__exact": JobStatus.QUEUED, "sent_at__lt": now - OVERDUE},
        ),
        Stuck(
            "retrying",
            f"Retry overdue by over {minutes} min",
            {"status__exact": JobStatus.RETRYING, "next_eta__lt": now - OVERDUE},
        ),
        Stuck(
            "scheduled",
            f"Scheduled, overdue by over {minutes} min",
            {"status__exact": JobStatus.SCHEDULED, "next_eta__lt": now - OVERDUE},
        ),
    ]
    if alive is None:
        return found
    started_before = now - dt.timedelta(seconds=worker_timeout)
    lost = sorted(
        Job.objects.running()
        .filter(started_at__lt=started_before)
        .exclude(worker_id__in=alive)
        .order_by()
        .values_list("worker_id", flat=True)
        .distinct()
    )
    found.append(
        Stuck(
            "orphaned",
            "Running on a worker that stopped heart-beating",
            {
                "status__exact": JobStatus.RUNNING,
                "started_at__lt": started_before,
                "worker_id__in": lost,
            },
        )
    )
    return found
