"""Actors of reports: load the request by id and run its generation."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from .generation import generate
from .models import ReportRequest


@dramatiq.actor(max_retries=2, min_backoff=2000, time_limit=10 * 60 * 1000)
def generate_report(report_id: str) -> None:
    report = ReportRequest.objects.filter(pk=report_id).first()
    if report is None:
        return  # deleted before it ran
    try:
        generate(report)
    except Exception as exc:
        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message else 0
        report.mark_attempt_failed(
            f"{type(exc).__name__}: {exc}",
            will_retry=retries < generate_report.options["max_retries"],
        )
        raise
