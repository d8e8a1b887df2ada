"""ReportRequest: one requested report, its progress and its output file."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class ReportKind(models.TextChoices):
    """The reports we can compute (see reports/generation.py for each one's columns)."""

    SIGNUPS = "signups", "Sign-ups per day"
    """Accounts created per day of a month."""
    JOB_ACTIVITY = "job-activity", "Job activity per day"
    """Jobs per actor and status per day of a month, with median and p95 duration."""


class ReportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    """Requested; waiting for a worker."""
    RUNNING = "running", "Running"
    """Being computed; see `progress`."""
    READY = "ready", "Ready"
    """The file can be downloaded."""
    FAILED = "failed", "Failed"
    """Every attempt failed; see `error`."""


def report_upload_to(report: ReportRequest, filename: str) -> str:
    return f"reports/{report.owner_id}/{report.id}/{filename}"


class ReportRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    kind = models.CharField(max_length=32, choices=ReportKind.choices)
    params = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=report_upload_to, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="report_owner_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period} ({self.owner})"

    def get_absolute_url(self) -> str:
        return reverse("reports:detail", args=[self.id])

    @property
    def period(self) -> str:
        return f"{self.params.get('year', '?')}-{int(self.params.get('month', 0)):02d}"

    def mark_running(self) -> None:
        self.status = ReportStatus.RUNNING
        self.progress = 0
        self.error = ""
        self.started_at = timezone.now()
        self.save(update_fields=["status", "progress", "error", "started_at"])

    def set_progress(self, percent: int) -> None:
        self.progress = max(0, min(100, percent))
        self.save(update_fields=["progress"])

    def mark_ready(self, filename: str) -> None:
        self.file.name = filename
        self.status = ReportStatus.READY
        self.progress = 100
        self.finished_at = timezone.now()
        self.save(update_fields=["file", "status", "progress", "finished_at"])

    def mark_attempt_failed(self, error: str) -> None:
        """An attempt failed: pending again, with its error, until the next one."""
        self.status = ReportStatus.PENDING
        self.error = error
        self.save(update_fields=["status", "error"])

    def mark_failed(self, error: str) -> None:
        """No attempt is left (called by the ledger's final-failure hook)."""
        self.status = ReportStatus.FAILED
        self.error = error
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])
