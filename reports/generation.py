"""The report kinds' computations: each yields CSV rows day by day and reports progress."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.utils import timezone

from jobs.models import Job

from .models import ReportKind, ReportRequest

Row = list[Any]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    def days(self) -> list[dt.date]:
        first = dt.date(self.year, self.month, 1)
        following = dt.date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return [first + dt.timedelta(days=n) for n in range((following - first).days)]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A day in the project's time zone, as an aware [start, end) pair."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return start, timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def signups_rows(month: Month, progress: Progress) -> Iterator[Row]:
    yield ["date", "signups"]
    users = get_user_model().objects
    days = month.days()
    for done, day in enumerate(days, start=1):
        start, end = day_bounds(day)
        yield [day.isoformat(), users.filter(date_joined__gte=start, date_joined__lt=end).count()]
        progress(done * 100 // len(days))


def job_activity_rows(month: Month, progress: Progress) -> Iterator[Row]:
    yield ["date", "actor", "status", "jobs", "median_duration_s", "p95_duration_s"]
    days = month.days()
    for done, day in enumerate(days, start=1):
        start, end = day_bounds(day)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        durations: dict[tuple[str, str], list[float]] = defaultdict(list)
        jobs = Job.objects.filter(enqueued_at__gte=start, enqueued_at__lt=end)
        for actor, status, duration in jobs.values_list(
            "actor_name", "status", "duration"
        ).iterator():
            counts[actor, status] += 1
            if duration is not None:
                durations[actor, status].append(duration.total_seconds())
        for actor, status in sorted(counts):
            values = sorted(durations[actor, status])
            yield [
                day.isoformat(),
                actor,
                status,
                counts[actor, status],
                f"{statistics.median(values):.3f}" if values else "",
                f"{percentile(values, 0.95):.3f}" if values else "",
            ]
        progress(done * 100 // len(days))


ROWS_BY_KIND: dict[str, Callable[[Month, Progress], Iterator[Row]]] = {
    ReportKind.SIGNUPS: signups_rows,
    ReportKind.JOB_ACTIVITY: job_activity_rows,
}


def generate(report: ReportRequest) -> int:
    """Compute the report, store its CSV through Django's storage API, mark it ready.

    Returns the number of data rows. The report is only `ready` once the file is complete,
    so a download never sees a half-written file.
    """
    report.mark_running()
    month = Month(int(report.params["year"]), int(report.params["month"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = 0
    last_reported = -1

    def progress(percent: int) -> None:
        nonlocal last_reported
        # Finishing (100) is recorded by mark_ready, together with the file.
        if percent != last_reported and percent < 100:
            last_reported = percent
            report.set_progress(percent)

    for row in ROWS_BY_KIND[report.kind](month, progress):
        writer.writerow(row)
        rows += 1
    filename = f"{report.kind}-{month.year}-{month.month:02d}.csv"
    name = report.file.field.generate_filename(report, filename)
    report.mark_ready(save_atomically(report.file.storage, name, buffer.getvalue().encode()))
    return rows - 1


def save_atomically(storage: Storage, name: str, content: bytes) -> str:
    """Write `name` so that readers see the old file or the whole new one, never a part.

    On the local filesystem: write a temporary file, then rename it over the target (atomic on
    POSIX). Object stores (S3 and alike) already replace an object in one PUT.
    """
    if not isinstance(storage, FileSystemStorage):
        if storage.exists(name):
            storage.delete(name)
        return storage.save(name, ContentFile(content))
    temporary = storage.save(f"{name}.part-{uuid.uuid4().hex}", ContentFile(content))
    os.replace(storage.path(temporary), storage.path(name))
    return name
