"""Actors of reports: load the request by id and run its generation."""

from __future__ import annotations

import dramatiq

from .generation import generate
from .models import ReportRequest


def report_failed(report_id: str, *, error: str) -> None:
    """The ledger failed the job for good (its retries are spent): so is the report."""
    report = ReportRequest.objects.filter(pk=report_id).first()
    if report is not None:
        report.mark_failed(error)


@dramatiq.actor(
    max_retries=2,
    min_backoff=2000,
    time_limit=10 * 60 * 1000,
    on_final_failure=report_failed,
)
def generate_report(report_id: str) -> None:
    report = ReportRequest.objects.filter(pk=report_id).first()
    if report is None:
        return  # deleted before it ran
    try:
        generate(report)
    except Exception as exc:
        # Waiting for another attempt, if the ledger decides there is one (report_failed).
        report.mark_attempt_failed(f"{type(exc).__name__}: {exc}")
        raise
