"""Report computations on the project's own data."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import User
from jobs.models import Job, JobStatus
from reports.generation import Month, generate, percentile
from reports.models import ReportRequest, ReportStatus

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2025, 2, day, hour))


def rows_of(report: ReportRequest) -> list[list[str]]:
    with report.file.open("rb") as handle:
        return list(csv.reader(handle.read().decode().splitlines()))


def test_month_days_cover_the_whole_month_including_leap_days():
    assert len(Month(2024, 2).days()) == 29
    assert len(Month(2025, 2).days()) == 28
    assert Month(2025, 12).days()[-1] == dt.date(2025, 12, 31)


def test_percentile_uses_nearest_rank():
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert percentile([7.0], 0.95) == 7.0


def test_signups_report_counts_accounts_per_day(alice: User):
    for email, day in [("a@x.com", 3), ("b@x.com", 3), ("c@x.com", 28), ("d@x.com", 1)]:
        User.objects.create_user(email, date_joined=at(day, 23))
    User.objects.create_user(
        "march@x.com", date_joined=timezone.make_aware(dt.datetime(2025, 3, 1))
    )
    report = ReportRequest.objects.create(
        owner=alice, kind="signups", params={"year": 2025, "month": 2}
    )

    assert generate(report) == 28

    report.refresh_from_db()
    assert report.status == ReportStatus.READY and report.progress == 100
    rows = rows_of(report)
    assert rows[0] == ["date", "signups"]
    counts = {day: int(n) for day, n in rows[1:]}
    assert counts["2025-02-03"] == 2
    assert counts["2025-02-28"] == 1
    assert counts["2025-02-01"] == 1
    assert sum(counts.values()) == 4


def test_job_activity_report_groups_by_actor_and_status_with_duration_percentiles(alice: User):
    durations = [0.1 * n for n in range(1, 11)]  # 0.1 .. 1.0 s
    for seconds in durations:
        Job.objects.create(
            actor_name="send_welcome_email",
            queue_name="default",
            status=JobStatus.SUCCEEDED,
            enqueued_at=at(5),
            duration=dt.timedelta(seconds=seconds),
        )
    Job.objects.create(
        actor_name="generate_report",
        queue_name="default",
        status=JobStatus.FAILED,
        enqueued_at=at(5),
    )
    Job.objects.create(actor_name="send_welcome_email", queue_name="default", enqueued_at=at(6))
    report = ReportRequest.objects.create(
        owner=alice, kind="job-activity", params={"year": 2025, "month": 2}
    )

    generate(report)

    rows = rows_of(ReportRequest.objects.get(pk=report.pk))
    assert rows[0] == ["date", "actor", "status", "jobs", "median_duration_s", "p95_duration_s"]
    assert rows[1:] == [
        ["2025-02-05", "generate_report", "failed", "1", "", ""],
        ["2025-02-05", "send_welcome_email", "succeeded", "10", "0.550", "1.000"],
        ["2025-02-06", "send_welcome_email", "pending", "1", "", ""],
    ]


def test_rerunning_a_report_replaces_its_file(alice: User):
    report = ReportRequest.objects.create(
        owner=alice, kind="signups", params={"year": 2025, "month": 2}
    )
    generate(report)
    first = report.file.name

    generate(report)

    report.refresh_from_db()
    directory = Path(str(report.file.path)).parent
    # Replaced in place (temporary file renamed over it): same name, no leftover part file.
    assert report.file.name == first
    assert [p.name for p in directory.iterdir()] == ["signups-2025-02.csv"]
