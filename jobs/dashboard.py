"""The numbers of the admin dashboard, each with the job-list filter that shows exactly its jobs.

Now: counts by status, queues and workers (from the broker), stuck jobs. History: jobs finished
per minute (last hour) and per hour (last 7 days), per-actor statistics (last 24 hours), and
failures grouped by error.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import dramatiq
from django.conf import settings
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.db.models.functions import Trunc
from django.urls import reverse
from django.utils import timezone

from . import broker_state
from .models import Job, JobStatus
from .reconcile import OVERDUE

#: Per-actor run and wait times are computed from at most this many recent jobs per actor.
TIMING_SAMPLE = 5000
#: Error groups shown.
ERROR_GROUPS_SHOWN = 20


def job_list_url(**lookups: Any) -> str:
    """The admin job list filtered by `lookups` (field lookups, as in the admin's URLs)."""
    query = {key: _url_value(value) for key, value in lookups.items()}
    return f"{reverse('admin:jobs_job_changelist')}?{urlencode(query)}"


def _url_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(sorted(str(v) for v in value))
    return str(value)


@dataclass
class Number:
    """A count and the job list showing exactly those jobs."""

    label: str
    count: int
    url: str
    css: str = ""


@dataclass
class ActorStats:
    name: str
    runs: int = 0
    failed: int = 0
    run_p50: float | None = None
    run_p95: float | None = None
    wait_p50: float | None = None
    wait_p95: float | None = None
    last_success: dt.datetime | None = None
    runs_url: str = ""
    failed_url: str = ""

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.runs if self.runs else None


@dataclass
class ErrorGroup:
    group: str
    count: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    actors: list[str]
    url: str


@dataclass
class Snapshot:
    at: dt.datetime
    statuses: list[Number]
    queues: list[tuple[broker_state.QueueState, str]]
    """Each queue's state, with the job list of its waiting jobs."""
    workers: list[broker_state.WorkerState]
    broker_error: str
    stuck: list[Number]
    actors: list[ActorStats]
    error_groups: list[ErrorGroup]
    charts: dict[str, Any] = field(default_factory=dict)


def snapshot() -> Snapshot:
    now = timezone.now()
    queues: list[broker_state.QueueState] = []
    workers: list[broker_state.WorkerState] = []
    broker_error = ""
    try:
        queues, workers = broker_state.queue_states(), broker_state.worker_states()
    except Exception as error:  # the dashboard must still show the ledger when Redis is down
        broker_error = f"Broker unreachable: {error}"
    return Snapshot(
        at=now,
        statuses=status_counts(),
        queues=[
            (q, job_list_url(queue_name=q.name, status__in=JobStatus.waiting())) for q in queues
        ],
        workers=workers,
        broker_error=broker_error,
        stuck=stuck_jobs(now, {w.broker_id for w in workers if w.alive}, not broker_error),
        actors=actor_stats(now),
        error_groups=error_groups(),
        charts={
            "minutes": finished_series(now, "minute", dt.timedelta(hours=1)),
            "hours": finished_series(now, "hour", dt.timedelta(days=7)),
        },
    )


def status_counts() -> list[Number]:
    counts = dict(Job.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return [
        Number(status.label, counts.get(status.value, 0), job_list_url(status__exact=status.value))
        for status in JobStatus
    ]


def stuck_jobs(now: dt.datetime, alive: set[str], broker_known: bool) -> list[Number]:
    """Jobs that look stuck, as the ledger check (jobs/reconcile.py) defines it."""
    grace = now - dt.timedelta(seconds=settings.RELAY_GRACE_SECONDS)
    overdue = now - OVERDUE
    found = [
        _number(
            "Pending past the relay's grace (not reaching the broker)",
            status__exact=JobStatus.PENDING,
            created_at__lt=grace,
        ),
        _number(
            f"Queued for over {OVERDUE.seconds // 60} min",
            status__exact=JobStatus.QUEUED,
            queued_at__lt=overdue,
        ),
        _number(
            f"Retry overdue by over {OVERDUE.seconds // 60} min",
            status__exact=JobStatus.RETRYING,
            next_eta__lt=overdue,
        ),
    ]
    if broker_known:
        heartbeat = dt.timedelta(
            milliseconds=getattr(dramatiq.get_broker(), "heartbeat_timeout", 0)
        )
        lost_workers = set(
            Job.objects.running()
            .filter(started_at__lt=now - heartbeat)
            .exclude(worker_id__in=alive)
            .order_by()
            .values_list("worker_id", flat=True)
            .distinct()
        )
        if lost_workers:
            found.append(
                _number(
                    "Running on a worker that stopped heart-beating",
                    status__exact=JobStatus.RUNNING,
                    started_at__lt=now - heartbeat,
                    worker_id__in=lost_workers,
                )
            )
    return found


def _number(label: str, **lookups: Any) -> Number:
    count = Job.objects.filter(**{k.removesuffix("__exact"): v for k, v in lookups.items()}).count()
    return Number(label, count, job_list_url(**lookups), "warn" if count else "")


def finished_series(now: dt.datetime, unit: str, span: dt.timedelta) -> dict[str, Any]:
    """Jobs finished per `unit` over `span`: succeeded first time, after retries, and failed."""
    step = dt.timedelta(minutes=1) if unit == "minute" else dt.timedelta(hours=1)
    tz = timezone.get_current_timezone()
    end = _truncate(now, unit) + step
    start = end - span
    rows = (
        Job.objects.filter(
            finished_at__gte=start, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
        )
        .annotate(bucket=Trunc("finished_at", unit, tzinfo=tz))
        .order_by()
        .values("bucket")
        .annotate(
            succeeded=Count("pk", filter=Q(status=JobStatus.SUCCEEDED, attempts__lte=1)),
            retried=Count("pk", filter=Q(status=JobStatus.SUCCEEDED, attempts__gt=1)),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        )
    )
    by_bucket = {row["bucket"]: row for row in rows}
    series: dict[str, Any] = {"labels": [], "succeeded": [], "retried": [], "failed": []}
    series["links"] = {"succeeded": [], "retried": [], "failed": []}
    bucket = start
    while bucket < end:
        row = by_bucket.get(bucket.astimezone(tz), {})
        label_format = "%H:%M" if unit == "minute" else "%a %H:00"
        series["labels"].append(bucket.astimezone(tz).strftime(label_format))
        window = {"finished_at__gte": bucket, "finished_at__lt": bucket + step}
        for name, lookups in (
            ("succeeded", {"status__exact": JobStatus.SUCCEEDED, "attempts__lte": 1}),
            ("retried", {"status__exact": JobStatus.SUCCEEDED, "attempts__gt": 1}),
            ("failed", {"status__exact": JobStatus.FAILED}),
        ):
            series[name].append(row.get(name, 0))
            series["links"][name].append(job_list_url(**window, **lookups))
        bucket += step
    return series


def _truncate(moment: dt.datetime, unit: str) -> dt.datetime:
    local = moment.astimezone(timezone.get_current_timezone())
    local = local.replace(second=0, microsecond=0)
    return local.replace(minute=0) if unit == "hour" else local


def actor_stats(now: dt.datetime) -> list[ActorStats]:
    """Per actor over the last 24 hours: runs, failures, run and wait time percentiles."""
    since = now - dt.timedelta(hours=24)
    finished = Job.objects.filter(
        finished_at__gte=since, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
    )
    stats = {name: ActorStats(name) for name in sorted(dramatiq.get_broker().actors)}
    for row in (
        finished.order_by()
        .values("actor_name")
        .annotate(
            runs=Count("pk"),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
            last_success=Max("finished_at", filter=Q(status=JobStatus.SUCCEEDED)),
        )
    ):
        entry = stats.setdefault(row["actor_name"], ActorStats(row["actor_name"]))
        entry.runs, entry.failed = row["runs"], row["failed"]
        entry.last_success = row["last_success"]
    for entry in stats.values():
        recent = finished.filter(actor_name=entry.name)
        entry.runs_url = job_list_url(
            actor_name=entry.name, finished_at__gte=since, status__in=["succeeded", "failed"]
        )
        entry.failed_url = job_list_url(
            actor_name=entry.name, finished_at__gte=since, status__exact=JobStatus.FAILED
        )
        if not entry.runs:
            continue
        entry.run_p50, entry.run_p95 = _percentiles(recent, F("duration"))
        entry.wait_p50, entry.wait_p95 = _percentiles(
            recent.filter(first_started_at__isnull=False), F("first_started_at") - F("created_at")
        )
    for entry in stats.values():
        if entry.last_success is None:
            entry.last_success = (
                Job.objects.succeeded()
                .for_actor(entry.name)
                .order_by("-created_at")
                .values_list("finished_at", flat=True)
                .first()
            )
    return list(stats.values())


def _percentiles(jobs: QuerySet[Job], expression: Any) -> tuple[float | None, float | None]:
    """Median and 95th percentile, in seconds, over the most recent TIMING_SAMPLE jobs."""
    values = [
        value.total_seconds()
        for value in jobs.annotate(value=expression)
        .order_by("-finished_at")
        .values_list("value", flat=True)[:TIMING_SAMPLE]
        if value is not None
    ]
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[94]


def error_groups() -> list[ErrorGroup]:
    """Failed jobs grouped by exception type and normalized message, biggest group first."""
    failed = Job.objects.failed().order_by()
    rows = list(
        failed.values("error_group")
        .annotate(count=Count("pk"), first=Min("finished_at"), last=Max("finished_at"))
        .order_by("-count", "error_group")[:ERROR_GROUPS_SHOWN]
    )
    actors: dict[str, set[str]] = defaultdict(set)
    for group, actor in (
        failed.filter(error_group__in=[row["error_group"] for row in rows])
        .values_list("error_group", "actor_name")
        .distinct()
    ):
        actors[group].add(actor)
    return [
        ErrorGroup(
            group=row["error_group"] or "(no error recorded)",
            count=row["count"],
            first_seen=row["first"],
            last_seen=row["last"],
            actors=sorted(actors[row["error_group"]]),
            url=job_list_url(status__exact=JobStatus.FAILED, error_group=row["error_group"]),
        )
        for row in rows
    ]
