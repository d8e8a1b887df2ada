"""Hourly rollups of the ledger (JobsPerHour), written by the workers' ledger check before it
prunes, and the counts the dashboard and /metrics read: settled hours from the rollups, the
hours since counted live from the jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import Count, ExpressionWrapper, F, Max, Min, Q, QuerySet, Sum
from django.db.models import DurationField as DurationOutput
from django.utils import timezone

from jobs.models import HourCounts, Job, JobsPerHour, JobStatus, RemovedJobCounts

HOUR = dt.timedelta(hours=1)
#: An hour is rolled up this long after it ended (a finish in flight lands before).
SETTLE = dt.timedelta(minutes=5)
#: Most hours one ledger check rolls up (a long-idle fleet catches up over a few checks).
HOURS_PER_CHECK = 24 * 7
#: Histogram upper bounds in seconds, for run time and wait time (Prometheus `le`).
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

WAIT = ExpressionWrapper(F("first_started_at") - F("enqueued_at"), output_field=DurationOutput())
COUNTERS = ("enqueued", "succeeded", "retried", "failed", "attempts", "run_seconds", "wait_seconds")


def truncate_hour(moment: dt.datetime) -> dt.datetime:
    """The start of `moment`'s hour in TIME_ZONE (as the dashboard's chart labels it)."""
    local = moment.astimezone(timezone.get_current_timezone())
    return local.replace(minute=0, second=0, microsecond=0)


def rolled_up_until() -> dt.datetime | None:
    """The end of the last stored hour: every earlier hour is in JobsPerHour."""
    last = JobsPerHour.objects.aggregate(last=Max("hour"))["last"]
    return last + HOUR if last else None


def roll_up(now: dt.datetime | None = None) -> int:
    """Store every settled hour not stored yet (up to HOURS_PER_CHECK); returns hours stored.

    Runs in the ledger check before pruning, so a pruned job was counted first.
    """
    end = truncate_hour((now or timezone.now()) - SETTLE)
    start = rolled_up_until() or _first_hour()
    if start is None:
        return 0
    stored = 0
    hour = start
    while hour < end and stored < HOURS_PER_CHECK:
        removed = list(RemovedJobCounts.objects.filter(hour=hour).values_list("pk", flat=True))
        counts = count_hour(hour, hour + HOUR, removed=removed)
        rows = [JobsPerHour(hour=hour, **values) for values in counts]
        with transaction.atomic():
            # Folded into the stored hour; one recorded after this read is ignored (the hour's
            # jobs were read before that removal, so they still held its counts).
            RemovedJobCounts.objects.filter(pk__in=removed).delete()
            # An empty hour stores one empty row: the next check starts after it.
            JobsPerHour.objects.bulk_create(
                rows or [JobsPerHour(hour=hour, actor_name="", queue_name="")],
                ignore_conflicts=True,  # another worker's check stored it meanwhile
            )
        stored += 1
        hour += HOUR
    return stored


def _first_hour() -> dt.datetime | None:
    first = Job.objects.aggregate(first=Min("enqueued_at"))["first"]
    return truncate_hour(first) if first else None


def count_hour(
    start: dt.datetime,
    end: dt.datetime,
    *,
    jobs: QuerySet[Job] | None = None,
    removed: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Counts per (actor, queue) of the jobs created or finished in [start, end), plus what jobs
    removed by staff had added to those hours (`removed`: those rows only; None: all of them).
    Given `jobs`, counts only those (what a removal keeps), without removed counts."""
    subset = jobs is not None
    jobs = Job.objects.all() if jobs is None else jobs
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _by_actor(jobs.filter(enqueued_at__gte=start, enqueued_at__lt=end)).annotate(
        enqueued=Count("id")
    ):
        rows[(row["actor_name"], row["queue_name"])] = {"enqueued": row["enqueued"]}
    finished = jobs.filter(
        finished_at__gte=start,
        finished_at__lt=end,
        status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED],
    )
    for row in _by_actor(finished).annotate(**_finished_aggregates()):
        key = (row.pop("actor_name"), row.pop("queue_name"))
        values = rows.setdefault(key, {})
        values["run_buckets"] = {str(b): row.pop(f"run_le_{i}") for i, b in enumerate(BUCKETS)}
        values["wait_buckets"] = {str(b): row.pop(f"wait_le_{i}") for i, b in enumerate(BUCKETS)}
        values["run_seconds"] = _seconds(row.pop("run_sum"))
        values["wait_seconds"] = _seconds(row.pop("wait_sum"))
        values.update({name: count or 0 for name, count in row.items()})
    if subset or removed == []:
        return _listed(rows)
    kept = RemovedJobCounts.objects.filter(hour__gte=start, hour__lt=end)
    if removed is not None:
        kept = kept.filter(pk__in=removed)
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for key, values in rows.items():
        _add(totals, *key, values)
    for counted in kept.iterator():
        _add(totals, counted.actor_name, counted.queue_name, _row_values(counted))
    return _listed(totals)


def _listed(rows: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"actor_name": actor, "queue_name": queue, **v} for (actor, queue), v in rows.items()]


def keep_counts_of(ids: Iterable[uuid.UUID], *, deleted: bool) -> None:
    """Before staff delete jobs, or reset finished ones for a retry (in their transaction): what
    they added to hours not rolled up yet is kept in RemovedJobCounts, so no counter goes back.
    A reset job keeps its enqueue (it is still there); a deleted one takes it along."""
    jobs = Job.objects.filter(pk__in=list(ids))
    until = rolled_up_until()
    moments = (
        jobs.values_list("enqueued_at", "finished_at")
        if deleted
        else jobs.values_list("finished_at")
    )
    hours = {
        truncate_hour(moment)
        for row in moments
        for moment in row
        if moment is not None and (until is None or moment >= until)
    }
    kept = [
        RemovedJobCounts(hour=hour, **{**values, **({} if deleted else {"enqueued": 0})})
        for hour in sorted(hours)
        for values in count_hour(hour, hour + HOUR, jobs=jobs)
    ]
    RemovedJobCounts.objects.bulk_create(kept)


def _by_actor(jobs: QuerySet[Job]) -> Any:
    return jobs.order_by().values("actor_name", "queue_name")


def _finished_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {
        "succeeded": Count("id", filter=Q(status=JobStatus.SUCCEEDED, attempts__lte=1)),
        "retried": Count("id", filter=Q(status=JobStatus.SUCCEEDED, attempts__gt=1)),
        "failed": Count("id", filter=Q(status=JobStatus.FAILED)),
        "attempts": Sum("attempts"),
        "run_sum": Sum("duration"),
        "wait_sum": Sum(WAIT),
    }
    for i, bound in enumerate(BUCKETS):
        limit = dt.timedelta(seconds=bound)
        aggregates[f"run_le_{i}"] = Count("id", filter=Q(duration__lte=limit))
        aggregates[f"wait_le_{i}"] = Count(
            "id", filter=Q(first_started_at__lte=F("enqueued_at") + limit)
        )
    return aggregates


def _seconds(value: dt.timedelta | float | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000  # SQLite sums durations as microseconds


def totals_by_actor() -> Iterator[dict[str, Any]]:
    """Every counter since the ledger began, per (actor, queue): stored hours plus the jobs of
    the hours since, counted live. Never lowered by pruning (the rollups stay)."""
    until = rolled_up_until()
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    stored = JobsPerHour.objects.exclude(actor_name="")
    if until is not None:
        stored = stored.filter(hour__lt=until)  # what a concurrent check adds is counted live
        for row in stored.iterator():
            _add(totals, row.actor_name, row.queue_name, _row_values(row))
    live_from = until or dt.datetime.min.replace(tzinfo=dt.UTC)
    for values in count_hour(live_from, timezone.now() + HOUR):
        _add(totals, values.pop("actor_name"), values.pop("queue_name"), values)
    for (actor, queue), values in sorted(totals.items()):
        yield {"actor_name": actor, "queue_name": queue, **values}


def _row_values(row: HourCounts) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(row, name) for name in COUNTERS}
    values["run_buckets"], values["wait_buckets"] = row.run_buckets, row.wait_buckets
    return values


def _add(totals: dict[Any, dict[str, Any]], actor: str, queue: str, values: dict[str, Any]) -> None:
    total = totals.setdefault(
        (actor, queue),
        {
            **dict.fromkeys(COUNTERS, 0),
            "run_buckets": dict.fromkeys(map(str, BUCKETS), 0),
            "wait_buckets": dict.fromkeys(map(str, BUCKETS), 0),
        },
    )
    for name in COUNTERS:
        total[name] += values.get(name) or 0
    for histogram in ("run_buckets", "wait_buckets"):
        for bound, count in (values.get(histogram) or {}).items():
            total[histogram][bound] = total[histogram].get(bound, 0) + (count or 0)


def finished_per_hour(
    start: dt.datetime, end: dt.datetime, *, removed: bool = False
) -> dict[dt.datetime, dict[str, int]]:
    """Succeeded / retried / failed per stored hour in [start, end), all actors together
    (`removed`: what staff-removed jobs had added to hours not rolled up yet)."""
    model: type[JobsPerHour | RemovedJobCounts] = RemovedJobCounts if removed else JobsPerHour
    rows = (
        model.objects.filter(hour__gte=start, hour__lt=end)
        .order_by()
        .values("hour")
        .annotate(succeeded=Sum("succeeded"), retried=Sum("retried"), failed=Sum("failed"))
    )
    return {
        row["hour"]: {name: row[name] for name in ("succeeded", "retried", "failed")}
        for row in rows
    }
