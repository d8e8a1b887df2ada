"""Counts that outlive the jobs: per hour, per actor and queue (the dashboard's chart and the
/metrics counters)."""

from __future__ import annotations

from django.db import models


class HourCounts(models.Model):
    """What the jobs of one actor and queue did in one hour (the counters of /metrics and the
    dashboard's chart)."""

    hour = models.DateTimeField()
    actor_name = models.CharField(max_length=255)
    queue_name = models.CharField(max_length=255)
    enqueued = models.PositiveIntegerField(default=0, help_text="Created in this hour.")
    succeeded = models.PositiveIntegerField(default=0, help_text="At the first attempt.")
    retried = models.PositiveIntegerField(default=0, help_text="Succeeded after retries.")
    failed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0, help_text="Of the jobs finished.")
    run_seconds = models.FloatField(default=0.0, help_text="Sum over the jobs finished.")
    wait_seconds = models.FloatField(default=0.0, help_text="Sum, enqueue to first start.")
    # Cumulative histogram counts of the finished jobs, by upper bound in seconds (as text).
    run_buckets = models.JSONField(default=dict)
    wait_buckets = models.JSONField(default=dict)

    class Meta:
        abstract = True


class JobsPerHour(HourCounts):
    """One past hour of one actor and queue: the dashboard's 7-day chart and the /metrics
    counters, without re-counting jobs on every view and kept when retention prunes the jobs.
    Written once per settled hour by the workers (jobs/ledger/rollups.py), before pruning."""

    class Meta:
        ordering = ["hour"]
        verbose_name_plural = "jobs per hour"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "actor_name", "queue_name"], name="jobsperhour_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.actor_name}"


class RemovedJobCounts(HourCounts):
    """What jobs deleted or reset by staff had added to an hour not rolled up yet (the current
    one, say): counted with that hour's live jobs and folded into its rollup, so no counter goes
    back when staff delete or retry a job (Prometheus would read it as a reset)."""

    class Meta:
        indexes = [models.Index(fields=["hour"], name="removedjobcounts_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.actor_name} (removed)"
