"""The fleet the ledger sees: worker processes as they announce themselves, and the ledger's
periodic duties they run."""

from __future__ import annotations

from django.db import models


class WorkerProcess(models.Model):
    """A worker process, as its upkeep thread last announced it (every few seconds): the
    dashboard's and /metrics' list of workers, whatever the broker."""

    broker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    threads = models.PositiveIntegerField(default=0)
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


class Duty(models.Model):
    """One of the ledger's periodic duties (jobs/maintenance/duties.py): when it is due next,
    and what its last run did. The process that moves `next_due_at` runs it."""

    name = models.CharField(max_length=50, primary_key=True)
    every = models.DurationField(null=True, blank=True)
    next_due_at = models.DateTimeField()
    taken_by = models.CharField("last run by", max_length=255, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_seconds = models.FloatField("took (s)", null=True, blank=True)
    last_outcome = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "duties"

    def __str__(self) -> str:
        return self.name
