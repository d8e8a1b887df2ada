"""reports/tasks.py: a failed attempt leaves the report pending; the ledger's final failure
(its hook, report_failed) fails it."""

from __future__ import annotations

import pytest

from accounts.models import User
from reports.models import ReportRequest, ReportStatus
from reports.tasks import generate_report, report_failed

pytestmark = pytest.mark.django_db


def test_a_failed_attempt_waits_and_the_final_failure_fails_the_report(alice: User):
    report = ReportRequest.objects.create(owner=alice, kind="no-such-kind", params={})

    with pytest.raises(Exception) as raised:
        generate_report.fn(str(report.pk))
    report.refresh_from_db()
    assert (report.status, report.finished_at) == (ReportStatus.PENDING, None)
    assert report.error

    report_failed(str(report.pk), error=f"{type(raised.value).__name__}: {raised.value}")
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED and report.finished_at is not None
    assert generate_report.options["on_final_failure"] is report_failed
