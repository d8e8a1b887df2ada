"""The numbers of the admin dashboard, each with the job-list filter that shows exactly its jobs.

Now: counts by status, queues and workers (from the broker), stuck jobs. History: jobs finished
per minute (last hour) and per hour (last 7 days), per-actor statistics (last 24 hours), and
failures grouped by error.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import statistics
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import dramatiq
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
)
from django.db.models.functions import Trunc
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from jobs.brokers import state as broker_state
from jobs.brokers.view import QueueState
from jobs.ledger.known import known_actors
from jobs.ledger.rollups import finished_per_hour, rolled_up_until
from jobs.ledger.stuck import stuck
from jobs.models import AlertIncident, Job, JobStatus

#: Without PostgreSQL's percentile_cont, per-actor run and wait times come from at most this many
#: recent jobs per actor (computed in Python).
TIMING_SAMPLE = 5000
#: Status counts above this are the planner's estimate on PostgreSQL (shown with "≈"): counting
#: millions of succeeded jobs exactly on every refresh is a scan of most of the table.
EXACT_COUNT_CAP = 50_000
#: Error groups shown.
ERROR_GROUPS_SHOWN = 20


@dataclass(frozen=True)
class Section:
    name: str
    hash: str
    html: SafeString


SECTION_MARK = re.compile(r"<!--section:([\w-]+)-->")


def sections(snapshot: Snapshot) -> list[Section]:
    """The dashboard's body in sections, each with a hash of its HTML: a refresh sends only the
    sections whose hash the page does not have (a quiet system: the workers' heartbeats)."""
    html = render_to_string("admin/jobs/dashboard_body.html", {"snapshot": snapshot})
    parts = SECTION_MARK.split(html)
    found = []
    for name, chunk in zip(parts[1::2], parts[2::2], strict=True):
        text = chunk.strip()
        digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        found.append(Section(name, digest, mark_safe(text)))  # noqa: S308  # our template's output
    return found


def changed_sections(snapshot: Snapshot, have: str) -> dict[str, Any]:
    """The refresh's answer: the time, and the sections not among `have` ("name:hash,...")."""
    held = dict(pair.split(":", 1) for pair in have.split(",") if ":" in pair)
    return {
        "at": snapshot.at.isoformat(),
        "at_text": timezone.localtime(snapshot.at).strftime("%Y-%m-%d %H:%M:%S"),
        "sections": {
            section.name: {"hash": section.hash, "html": str(section.html)}
            for section in sections(snapshot)
            if held.get(section.name) != section.hash
        },
    }


def job_list_url(**lookups: Any) -> str:
    """The admin job list filtered by `lookups` (field lookups, as in the admin's URLs)."""
    query = {key: _url_value(value) for key, value in lookups.items()}
    return f"{_changelist_url(get_script_prefix())}?{urlencode(query)}"


@functools.cache
def _changelist_url(script_prefix: str) -> str:
    # The charts link every bar: hundreds of URLs per refresh, one reverse() per prefix.
    return reverse("admin:jobs_job_changelist")


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
    approximate: bool = False


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
    queues: list[tuple[QueueState, str]]
    """Each queue's state, with the job list of its waiting jobs."""
    workers: list[broker_state.WorkerState]
    broker_error: str
    stuck: list[Number]
    actors: list[ActorStats]
    error_groups: list[ErrorGroup]
    charts: dict[str, Any] = field(default_factory=dict)
    alerts: list[AlertIncident] = field(default_factory=list)
    """Incidents open now (jobs/maintenance/alerts.py)."""


def snapshot() -> Snapshot:
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    queues: list[QueueState] = []
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
        # Windows counted from the minute: their links (and so their sections) stay the same
        # from one refresh to the next while nothing changes.
        stuck=stuck_jobs(
            minute, None if broker_error else {w.broker_id for w in workers if w.alive}
        ),
        actors=actor_stats(minute),
        error_groups=error_groups(),
        charts={
            "minutes": finished_series(now, "minute", dt.timedelta(hours=1)),
            "hours": finished_series(now, "hour", dt.timedelta(days=7)),
        },
        alerts=list(
            AlertIncident.objects.filter(resolved_at__isnull=True).select_related("rule")[:20]
        ),
    )


def status_counts() -> list[Number]:
    """Exact up to EXACT_COUNT_CAP per status (an index range each), estimated beyond."""
    numbers = []
    for status in JobStatus:
        jobs = Job.objects.filter(status=status)
        count, approximate = jobs.order_by()[: EXACT_COUNT_CAP + 1].count(), False
        if count > EXACT_COUNT_CAP:
            estimate = planner_estimate(jobs)
            if estimate is None:
                count = jobs.count()
            else:
                count, approximate = max(estimate, EXACT_COUNT_CAP + 1), True
        url = job_list_url(status__exact=status.value)
        numbers.append(Number(status.label, count, url, approximate=approximate))
    return numbers


def planner_estimate(jobs: QuerySet[Job]) -> int | None:
    """PostgreSQL's own estimate of how many rows `jobs` matches (from its statistics)."""
    if connection.vendor != "postgresql":
        return None
    sql, params = jobs.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])


def stuck_jobs(now: dt.datetime, alive: set[str] | None) -> list[Number]:
    """Jobs that look stuck, as jobs/ledger/stuck.py defines it for the ledger check too (the
    jobs running on a lost worker only while they exist)."""
    numbers = []
    for kind in stuck(now, alive, broker_state.worker_timeout()):
        if kind.kind == "orphaned" and not kind.lookups["worker_id__in"]:
            continue
        count = kind.jobs().count()
        numbers.append(
            Number(kind.label, count, job_list_url(**kind.lookups), "warn" if count else "")
        )
    return numbers


def finished_series(now: dt.datetime, unit: str, span: dt.timedelta) -> dict[str, Any]:
    """Jobs finished per `unit` over `span`: succeeded first time, after retries, and failed.

    Hours the workers rolled up come from JobsPerHour (jobs/ledger/rollups.py); the rest is counted
    live.
    """
    step = dt.timedelta(minutes=1) if unit == "minute" else dt.timedelta(hours=1)
    tz = timezone.get_current_timezone()
    end = _truncate(now, unit) + step
    start = end - span
    counts: dict[dt.datetime, dict[str, int]] = {}
    live_from = start
    if unit == "hour":
        live_from = min(max(start, rolled_up_until() or start), end)
        counts.update(finished_per_hour(start, live_from))
    counts.update(_count_buckets(unit, live_from, end))
    if unit == "hour":
        for hour, removed in finished_per_hour(live_from, end, removed=True).items():
            row = counts.setdefault(hour, {})
            for name, count in removed.items():
                row[name] = row.get(name, 0) + count
    kinds: dict[str, dict[str, Any]] = {
        "succeeded": {"status__exact": JobStatus.SUCCEEDED, "attempts__lte": 1},
        "retried": {"status__exact": JobStatus.SUCCEEDED, "attempts__gt": 1},
        "failed": {"status__exact": JobStatus.FAILED},
    }
    # A bar's jobs: its kind's list filtered to the bar's window, `bounds[i]` to `bounds[i+1]`
    # (dashboard.js builds the link; ~700 whole URLs were most of each refresh's bytes).
    series: dict[str, Any] = {
        "labels": [],
        "bounds": [],
        "links": {name: job_list_url(**lookups) for name, lookups in kinds.items()},
        **{name: [] for name in kinds},
    }
    bucket = start
    label_format = "%H:%M" if unit == "minute" else "%a %H:00"
    while bucket < end:
        row = counts.get(bucket, {})
        series["labels"].append(bucket.astimezone(tz).strftime(label_format))
        series["bounds"].append(_url_value(bucket))
        for name in kinds:
            series[name].append(row.get(name, 0))
        bucket += step
    series["bounds"].append(_url_value(bucket))
    return series


def _count_buckets(unit: str, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, Any]:
    """Live counts per bucket, read from the covering finished-at index alone (no heap)."""
    if start >= end:
        return {}
    rows = (
        Job.objects.filter(
            finished_at__gte=start,
            finished_at__lt=end,
            status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED],
        )
        .annotate(bucket=Trunc("finished_at", unit, tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("bucket")
        .annotate(
            succeeded=Count("status", filter=Q(status=JobStatus.SUCCEEDED, attempts__lte=1)),
            retried=Count("status", filter=Q(status=JobStatus.SUCCEEDED, attempts__gt=1)),
            failed=Count("status", filter=Q(status=JobStatus.FAILED)),
        )
    )
    return {row.pop("bucket"): row for row in rows}


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
    # Idle ones too: every actor the code registers and every one the ledger knows.
    names = sorted({*dramatiq.get_broker().actors, *known_actors()})
    stats = {name: ActorStats(name) for name in names}
    wait = ExpressionWrapper(F("first_started_at") - F("enqueued_at"), DurationField())
    in_database = connection.vendor == "postgresql"
    percentiles = (
        {
            "run_p50": Percentile(F("duration"), fraction=0.5),
            "run_p95": Percentile(F("duration"), fraction=0.95),
            "wait_p50": Percentile(wait, fraction=0.5),
            "wait_p95": Percentile(wait, fraction=0.95),
        }
        if in_database
        else {}
    )
    for row in (
        finished.order_by()
        .values("actor_name")
        .annotate(
            runs=Count("pk"),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
            last_success=Max("finished_at", filter=Q(status=JobStatus.SUCCEEDED)),
            **percentiles,
        )
    ):
        entry = stats.setdefault(row["actor_name"], ActorStats(row["actor_name"]))
        entry.runs, entry.failed = row["runs"], row["failed"]
        entry.last_success = row["last_success"]
        for name in percentiles:
            setattr(entry, name, row[name].total_seconds() if row[name] is not None else None)
    for entry in stats.values():
        entry.runs_url = job_list_url(
            actor_name=entry.name, finished_at__gte=since, status__in=["succeeded", "failed"]
        )
        entry.failed_url = job_list_url(
            actor_name=entry.name, finished_at__gte=since, status__exact=JobStatus.FAILED
        )
        if entry.runs and not in_database:
            recent = finished.filter(actor_name=entry.name)
            entry.run_p50, entry.run_p95 = _percentiles(recent, F("duration"))
            entry.wait_p50, entry.wait_p95 = _percentiles(
                recent.filter(first_started_at__isnull=False), wait
            )
    for entry in stats.values():
        if entry.last_success is None:
            entry.last_success = (
                Job.objects.succeeded()
                .for_actor(entry.name)
                .order_by("-enqueued_at")
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
    """Failed jobs grouped by exception type and normalized message, biggest group first.

    One query over the covering partial index of failed jobs, by group and actor; merged here.
    """
    groups: dict[str, ErrorGroup] = {}
    for row in (
        Job.objects.failed()
        .order_by()
        .values("error_group", "actor_name")
        # COUNT(actor_name), not COUNT(id): every column read is in the partial index.
        .annotate(count=Count("actor_name"), first=Min("finished_at"), last=Max("finished_at"))
    ):
        key = row["error_group"]
        group = groups.get(key)
        if group is None:
            group = groups[key] = ErrorGroup(
                group=key or "(no error recorded)",
                count=0,
                first_seen=row["first"],
                last_seen=row["last"],
                actors=[],
                url=job_list_url(status__exact=JobStatus.FAILED, error_group=key),
            )
        group.count += row["count"]
        group.actors.append(row["actor_name"])
        group.first_seen = _earliest(group.first_seen, row["first"])
        group.last_seen = _latest(group.last_seen, row["last"])
    ranked = sorted(groups.values(), key=lambda g: (-g.count, g.group))[:ERROR_GROUPS_SHOWN]
    for group in ranked:
        group.actors.sort()
    return ranked


def _earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return min((d for d in (a, b) if d is not None), default=None)


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return max((d for d in (a, b) if d is not None), default=None)


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont over an interval (or number) expression."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()

    def __init__(self, expression: Any, *, fraction: float) -> None:
        super().__init__(expression, fraction=float(fraction))
