"""Schedules (periodic jobs staff can see and change) and alert rules with their incidents."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from jobs.ledger.redaction import REDACTED, open_arguments, seal_arguments
from jobs.models.job import Job


class Schedule(models.Model):
    """A periodic job: declared in code (jobs/schedules), stored here so staff can see it, pause
    it and change it from the admin (`overridden` until reset to the code's declaration)."""

    name = models.SlugField(max_length=100, unique=True)
    actor_name = models.CharField(max_length=255)
    cron = models.CharField(
        max_length=100, blank=True, help_text="A cron expression, e.g. '*/5 * * * *'."
    )
    interval = models.DurationField(null=True, blank=True, help_text="Or every so often.")
    time_zone = models.CharField(max_length=64, default="UTC")
    #: Shown and edited by staff with secret-named ones as "[redacted]"; their values are in
    #: `sealed_arguments`, as on a job (jobs/ledger/redaction.py).
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    sealed_arguments = models.TextField(blank=True, editable=False)
    paused = models.BooleanField(default=False)
    #: The code's declaration as last seen by a worker (what a reset returns to), its secret
    #: arguments redacted and fingerprinted (`arguments_digest`), never stored.
    declared = models.JSONField(default=dict, blank=True, editable=False)
    overridden = models.BooleanField(default=False, editable=False)
    declared_in_code = models.BooleanField(default=True, editable=False)
    #: The last instant a run was enqueued for, its job, and the next instant due.
    last_instant = models.DateTimeField(null=True, blank=True, editable=False)
    last_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        permissions = [("run_schedule", "Can run a schedule now")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(cron="") | models.Q(interval__isnull=False),
                name="schedule_cron_or_interval",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def real_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """The arguments its jobs get, secrets opened."""
        return open_arguments(list(self.args), dict(self.kwargs), self.sealed_arguments)

    def set_arguments(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Store new arguments, secrets sealed. A secret given back as "[redacted]" (a form
        that showed it so) keeps its current value."""
        current_args, current_kwargs = self.real_arguments()
        args = [
            current_args[i] if value == REDACTED and i < len(current_args) else value
            for i, value in enumerate(args)
        ]
        kwargs = {
            name: current_kwargs.get(name, value) if value == REDACTED else value
            for name, value in kwargs.items()
        }
        stored = seal_arguments(self.actor_name, args, kwargs)
        self.args, self.kwargs, self.sealed_arguments = stored.args, stored.kwargs, stored.sealed


class AlertRule(models.Model):
    """A condition staff want to hear about (checked every minute by the `alerts` schedule)."""

    class Kind(models.TextChoices):
        QUEUE_WAIT = "queue_wait", "Oldest waiting job older than N minutes on a queue"
        FAILURE_RATE = "failure_rate", "An actor's failure rate over N % in the last hour"
        SCHEDULE_MISSED = "schedule_missed", "A schedule missed its run by N minutes"
        WORKERS_GONE = "workers_gone", "Fewer than N workers alive"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold = models.FloatField(help_text="N: minutes, percent or workers, by kind.")
    queue_name = models.CharField(max_length=255, blank=True, help_text="For a queue's wait.")
    actor_name = models.CharField(max_length=255, blank=True, help_text="For a failure rate.")
    schedule_name = models.CharField(
        max_length=100, blank=True, help_text="For a missed run (empty: any schedule)."
    )
    emails = models.TextField(blank=True, help_text="Addresses to notify, one per line.")
    webhook_url = models.URLField(blank=True, help_text="POSTed a JSON body on each change.")
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class AlertIncident(models.Model):
    """One time a rule fired, until it recovered: notified once when it opens and once when it
    resolves, on each channel of its rule (`AlertDelivery`). At most one open incident per rule
    (a constraint: concurrent checks cannot both open one)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(resolved_at__isnull=True),
                name="alertincident_one_open_per_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} since {self.opened_at:%Y-%m-%d %H:%M}"


class AlertDelivery(models.Model):
    """One notice of an incident on one channel (its opening or its recovery), delivered once.
    A channel that fails is tried again with a growing delay (jobs/maintenance/alerts.py),
    whatever the other channels do; its attempts and last error are shown on the rule."""

    class Channel(models.TextChoices):
        EMAIL = "email", "e-mail"
        WEBHOOK = "webhook", "webhook"

    class Change(models.TextChoices):
        OPENED = "opened", "opened"
        RESOLVED = "resolved", "resolved"

    incident = models.ForeignKey(AlertIncident, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    change = models.CharField(max_length=10, choices=Change.choices)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "channel", "change"], name="alertdelivery_once_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.change}"
