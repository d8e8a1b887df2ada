"""request_report: record a report request and enqueue its generation, atomically."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from jobs import Job, enqueue

from .models import ReportRequest
from .tasks import generate_report


def request_report(owner: Any, kind: str, params: dict[str, Any]) -> tuple[ReportRequest, Job]:
    with transaction.atomic():
        report = ReportRequest.objects.create(owner=owner, kind=kind, params=params)
        job = enqueue(generate_report, str(report.id), about=report, caused_by=owner)
    return report, job
