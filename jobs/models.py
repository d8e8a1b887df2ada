"""Job and JobEvent: the ledger's state, its allowed transitions, and the queries staff need."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from jobs import log_context
from jobs.ledger.bulk_insert import insert_for_each, insert_many, insert_rows
from jobs.ledger.error_groups import error_group
from jobs.ledger.redaction import REDACTED, open_arguments, seal_arguments

#: Longest error text kept on a job row (the full text stays on the event).
ERROR_SUMMARY_LENGTH = 500

#: The actor name under which undecodable payloads are recorded.
UNDECODABLE_ACTOR = "(undecodable message)"

#: Deliveries of one attempt lost with their worker before the job is failed: a job that keeps
#: killing its worker (out of memory, a crash in C code) must not loop forever.
MAX_LOST_DELIVERIES = 3

#: Error types of failures decided outside an attempt (for error groups).
WORKER_LOST_ERROR = "WorkerLost"
UNDECODABLE_ERROR = "UndecodableMessage"


class JobStatus(models.TextChoices):
    """Where a job is now. True at every instant: see the transitions on `JobManager`."""

    PENDING = "pending", "Pending"
    """Committed to the ledger but not (yet) handed to the broker."""
    QUEUED = "queued", "Queued"
    """In the broker, waiting for a worker."""
    SCHEDULED = "scheduled", "Scheduled"
    """In the broker with a due time (`next_eta`): a delay, an ETA, a task's run_after."""
    RUNNING = "running", "Running"
    """A worker claimed it and is running an attempt."""
    RETRYING = "retrying", "Retrying"
    """An attempt failed and another one is scheduled (see `next_eta`)."""
    SUCCEEDED = "succeeded", "Succeeded"
    """An attempt finished without error. Final."""
    FAILED = "failed", "Failed"
    """No further attempt will happen on its own (retries exhausted or a non-retryable error)."""
    SKIPPED = "skipped", "Skipped"
    """Claimed but not run (for example too old for its age limit). Final."""
    CANCELLED = "cancelled", "Cancelled"
    """Cancelled before it ran; a worker that receives it skips it. Final."""

    @classmethod
    def final(cls) -> frozenset[JobStatus]:
        return frozenset({cls.SUCCEEDED, cls.FAILED, cls.SKIPPED, cls.CANCELLED})

    @classmethod
    def unfinished(cls) -> frozenset[JobStatus]:
        return frozenset(set(cls) - cls.final())

    @classmethod
    def waiting(cls) -> frozenset[JobStatus]:
        """Unfinished and not running: nobody is working on it right now."""
        return cls.unfinished() - {cls.RUNNING}

    @classmethod
    def cancellable(cls) -> frozenset[JobStatus]:
        """Staff may cancel these: no attempt is running, so the worker can still skip it."""
        return cls.waiting()

    @classmethod
    def retryable(cls) -> frozenset[JobStatus]:
        """Staff may retry these (the same job, a new attempt series)."""
        return frozenset({cls.FAILED})


class EventKind(models.TextChoices):
    """What happened to a job. Events are append-only: one row per fact."""

    ENQUEUED = "enqueued", "Enqueued"
    """The job row was written, inside the transaction of the request that caused it."""
    QUEUED = "queued", "Sent to broker"
    """The message reached the broker."""
    STARTED = "started", "Started"
    """A worker claimed the job and began an attempt."""
    ATTEMPT_FAILED = "attempt_failed", "Attempt failed, retry scheduled"
    """An attempt raised; the error is kept here and another attempt is scheduled at `eta`."""
    SUCCEEDED = "succeeded", "Succeeded"
    """An attempt finished without error."""
    FAILED = "failed", "Failed"
    """The last attempt raised and no further attempt will happen; its error is kept here."""
    SKIPPED = "skipped", "Delivery skipped"
    """A delivery arrived that must not run (a duplicate, or the job was already final)."""
    CANCELLED = "cancelled", "Cancelled"
    """Staff cancelled the job before it ran."""
    WORKER_LOST = "worker_lost", "Worker lost"
    """The worker running an attempt stopped heart-beating (killed, crashed); the broker
    delivered the message again."""
    RESENT = "resent", "Resent by the relay"
    """The job was still pending (its send had failed) and the relay sent it."""
    RUN_NOW = "run_now", "Run now by staff"
    """Staff sent a scheduled job before its due time (its delayed message is refused later)."""
    RETRIED = "retried", "Retried by staff"
    """Staff retried the failed job: same id, attempts counted again from one, history kept."""
    COPIED = "copied", "Run again as a new job"
    """Staff ran the job again as a new job (linked both ways); this job is unchanged."""


class JobQuerySet(models.QuerySet["Job"]):
    """Queries named by state, so callers never spell status values."""

    def pending(self) -> JobQuerySet:
        return self.filter(status=JobStatus.PENDING)

    def queued(self) -> JobQuerySet:
        return self.filter(status=JobStatus.QUEUED)

    def scheduled(self) -> JobQuerySet:
        return self.filter(status=JobStatus.SCHEDULED)

    def running(self) -> JobQuerySet:
        return self.filter(status=JobStatus.RUNNING)

    def retrying(self) -> JobQuerySet:
        return self.filter(status=JobStatus.RETRYING)

    def succeeded(self) -> JobQuerySet:
        return self.filter(status=JobStatus.SUCCEEDED)

    def failed(self) -> JobQuerySet:
        return self.filter(status=JobStatus.FAILED)

    def unfinished(self) -> JobQuerySet:
        return self.filter(status__in=JobStatus.unfinished())

    def finished(self) -> JobQuerySet:
        return self.filter(status__in=JobStatus.final())

    def relayable(self) -> JobQuerySet:
        """Pending jobs no relay is sending right now (no lease, or an expired one)."""
        return self.pending().filter(
            models.Q(relay_lease_until__isnull=True)
            | models.Q(relay_lease_until__lt=timezone.now())
        )

    def retryable(self) -> JobQuerySet:
        return self.filter(status__in=JobStatus.retryable())

    def cancellable(self) -> JobQuerySet:
        return self.filter(status__in=JobStatus.cancellable())

    def for_actor(self, actor_name: str) -> JobQuerySet:
        return self.filter(actor_name=actor_name)

    def about(self, obj: models.Model) -> JobQuerySet:
        return self.filter(about_type=ContentType.objects.get_for_model(obj), about_id=str(obj.pk))


def _user(caused_by: Any) -> Any:
    """The user to record as the cause, if `caused_by` is a signed-in one (not anonymous)."""
    return caused_by if getattr(caused_by, "is_authenticated", False) else None


class JobManager(models.Manager.from_queryset(JobQuerySet)):  # type: ignore[misc]
    """Creating jobs: from an enqueue (pending, in the caller's transaction), from a message
    sent without one, from an undecodable payload; and appending an event.

    Transitions are in jobs/ledger/transitions.py, staff actions in jobs/ledger/staff_actions.py,
    the relay's lease in jobs/maintenance/relay.py.
    """

    def create_pending(
        self,
        *,
        job_id: uuid.UUID,
        actor_name: str,
        queue_name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        max_retries: int | None,
        about: models.Model | None = None,
        caused_by: Any = None,
        copy_of: Job | None = None,
        due: dt.datetime | None = None,
        unique_key: str = "",
        note: str = "",
        priority: int = 0,
    ) -> Job:
        """Insert a job and its `enqueued` event (secret arguments redacted and sealed).

        `copy_of`: staff ran that job again as this new one; it inherits what the job is about.
        `due`: when a delayed job should run (kept while pending, for the relay's send, and on
        the `enqueued` event for good). `note`: the event's message.
        """
        user = _user(caused_by)
        job = self._pending(job_id, actor_name, queue_name, args, kwargs, max_retries, user)
        job.copy_of, job.next_eta, job.unique_key = copy_of, due, unique_key
        job.priority = priority
        if about is not None:
            job.about_type = ContentType.objects.get_for_model(about)
            job.about_id = str(about.pk)
            job.about_label = str(about)[:255]
        elif copy_of is not None:
            job.about_type_id = copy_of.about_type_id
            job.about_id, job.about_label = copy_of.about_id, copy_of.about_label
        event = JobEvent(
            job=job, kind=EventKind.ENQUEUED, at=job.enqueued_at, eta=due, message=note
        )
        if copy_of is not None:
            event.operator = user
            event.message = f"Copy of job {copy_of.pk}, run again by {user or 'an operator'}."
        # No savepoint: enqueue() runs inside the caller's transaction, and a failed insert
        # must fail that transaction anyway.
        with transaction.atomic(savepoint=False):
            insert_rows(job, event)
        job._state.adding = False
        return job

    def create_pending_many(
        self,
        *,
        actor_name: str,
        queue_name: str,
        calls: list[tuple[uuid.UUID, list[Any], dict[str, Any]]],
        max_retries: int | None,
        caused_by: Any = None,
    ) -> list[Job]:
        """create_pending for many jobs of one actor: (job_id, args, kwargs) each. The jobs go
        in through one cached statement (one COPY on PostgreSQL), their `enqueued` events by
        INSERT ... SELECT from them (jobs/ledger/bulk_insert.py)."""
        user = _user(caused_by)
        jobs = [
            self._pending(job_id, actor_name, queue_name, args, kwargs, max_retries, user)
            for job_id, args, kwargs in calls
        ]
        with transaction.atomic(savepoint=False):  # as create_pending: the caller's transaction
            insert_many(jobs)
            insert_for_each(
                JobEvent,
                parent="job",
                parent_ids=[job.id for job in jobs],
                values={"kind": EventKind.ENQUEUED},
                from_parent={"at": "enqueued_at"},
            )
        for job in jobs:
            job._state.adding = False
        return jobs

    def _pending(
        self,
        job_id: uuid.UUID,
        actor_name: str,
        queue_name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        max_retries: int | None,
        user: Any,
    ) -> Job:
        """A new pending job, its secret arguments redacted and sealed (not saved)."""
        stored = seal_arguments(actor_name, args, kwargs)
        job: Job = self.model(
            id=job_id,
            actor_name=actor_name,
            queue_name=queue_name,
            args=stored.args,
            kwargs=stored.kwargs,
            sealed_arguments=stored.sealed,
            max_retries=max_retries,
            caused_by=user,
            request_id=log_context.request_id.get(),
        )
        return job

    def create_from_message(
        self,
        *,
        job_id: uuid.UUID,
        actor_name: str,
        queue_name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        max_retries: int | None,
        eta: dt.datetime | None = None,
    ) -> bool:
        """Insert, as queued, a job that reached the broker without `enqueue()` (a bare
        `actor.send()`). Returns False if the row already exists (a racing writer won)."""
        now = timezone.now()
        stored = seal_arguments(actor_name, args, kwargs)
        try:
            with transaction.atomic():
                self.create(
                    id=job_id,
                    actor_name=actor_name,
                    queue_name=queue_name,
                    args=stored.args,
                    kwargs=stored.kwargs,
                    sealed_arguments=stored.sealed,
                    max_retries=max_retries,
                    status=JobStatus.SCHEDULED if eta else JobStatus.QUEUED,
                    sent_at=now,
                    next_eta=eta,
                )
                JobEvent.objects.create(
                    job_id=job_id,
                    kind=EventKind.QUEUED,
                    at=now,
                    eta=eta,
                    message="Sent directly to the broker (not through jobs.outbox).",
                )
        except IntegrityError:
            return False
        return True

    def create_undecodable(
        self, *, queue_name: str, payload: bytes, error: str, kept_in: str
    ) -> Job:
        """A payload no worker can read: kept aside by the broker (`kept_in` says where), shown
        here as failed."""
        now = timezone.now()
        reason = f"Undecodable message moved to {kept_in}: {error}. First bytes: {payload[:200]!r}"
        with transaction.atomic():
            job: Job = self.create(
                actor_name=UNDECODABLE_ACTOR,
                queue_name=queue_name,
                status=JobStatus.FAILED,
                finished_at=now,
                last_error=reason[:ERROR_SUMMARY_LENGTH],
                error_type=UNDECODABLE_ERROR,
                error_group=error_group(UNDECODABLE_ERROR, error),
            )
            JobEvent.objects.create(
                job=job,
                kind=EventKind.FAILED,
                at=now,
                exception_type=UNDECODABLE_ERROR,
                message=reason,
            )
        return job

    def record_event(self, job_id: uuid.UUID, kind: EventKind, **fields: Any) -> None:
        """Append an event without changing the job (e.g. a refused delivery)."""
        JobEvent.objects.create(job_id=job_id, kind=kind, **fields)


class Job(models.Model):
    """One background job, from the request that caused it to its final state.

    The primary key is the Dramatiq message id: stable across retries, delays and redelivery.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor_name = models.CharField(max_length=255)
    queue_name = models.CharField(max_length=255)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveIntegerField(null=True, blank=True)
    enqueued_at = models.DateTimeField("enqueued at", default=timezone.now)
    sent_at = models.DateTimeField("sent at", null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_eta = models.DateTimeField(
        "due at", null=True, blank=True, help_text="A scheduled job's or the next retry's."
    )
    duration = models.DurationField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    # Dramatiq's id of the worker process: the key of its heartbeat in Redis.
    worker_id = models.CharField(max_length=64, blank=True)
    # The broker's id of the current delivery (changes on every enqueue, not on redelivery).
    delivery_id = models.CharField(max_length=64, blank=True)
    # Set by the outbox relay that is sending this pending job, so no other relay sends it too.
    relay_lease_until = models.DateTimeField(null=True, blank=True)
    lost_deliveries = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker died while running this job."
    )
    result = models.JSONField(null=True, blank=True)
    # Type and normalized message of the latest error: failures are grouped by it.
    error_type = models.CharField(max_length=255, blank=True)
    error_group = models.CharField(max_length=255, blank=True)
    # When the first attempt started: wait time is first_started_at - enqueued_at.
    first_started_at = models.DateTimeField(null=True, blank=True)
    # The real values of secret arguments, encrypted (jobs/ledger/redaction.py); never displayed.
    sealed_arguments = models.TextField(blank=True, editable=False)
    copy_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
        help_text="The job staff ran again as this one.",
    )
    about_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    about_id = models.CharField(max_length=64, blank=True)
    about = GenericForeignKey("about_type", "about_id")
    # What the job is about, as it read when enqueued: searchable and shown even if deleted.
    about_label = models.CharField("about", max_length=255, blank=True)
    caused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="caused_jobs",
    )
    # The web request that enqueued it: the same id is on that request's log lines.
    request_id = models.CharField(max_length=64, blank=True)
    #: The uniqueness key it was enqueued with (jobs/ledger/unique.py), and how many enqueues of
    #: that key were answered with this job instead of a new one.
    unique_key = models.CharField(max_length=255, blank=True)
    duplicates = models.PositiveIntegerField("duplicate enqueues skipped", default=0)
    #: Its priority, -100..100 as Django's Tasks framework gives it (0 for plain actors): on
    #: RabbitMQ its place in its queue (jobs/brokers/priorities.py); refused on Redis.
    priority = models.SmallIntegerField(default=0)

    objects = JobManager()

    class Meta:
        ordering = ["-enqueued_at"]
        indexes = [
            models.Index(fields=["status", "-enqueued_at"], name="job_status_enqueued"),
            models.Index(fields=["actor_name", "-enqueued_at"], name="job_actor_enqueued"),
            models.Index(fields=["queue_name", "-enqueued_at"], name="job_queue_enqueued"),
            models.Index(fields=["-enqueued_at"], name="job_enqueued"),
            models.Index(fields=["about_type", "about_id"], name="job_about"),
            models.Index(fields=["about_label"], name="job_about_label"),
            # Staff paste a request id from a log line into the search box.
            models.Index(
                fields=["request_id"], condition=~models.Q(request_id=""), name="job_request_id"
            ),
            # Covering (PostgreSQL): the dashboard's per-hour counts read only the index.
            models.Index(
                fields=["-finished_at"], include=["status", "attempts"], name="job_finished"
            ),
            models.Index(
                fields=["error_group"],
                include=["actor_name", "finished_at"],
                condition=models.Q(status=JobStatus.FAILED),
                name="job_failed_error_group",
            ),
            # Failed jobs pile up over the retention period (200,000 at 10,000,000 jobs): the
            # list filtered to failed + one actor or queue would read every one of them through
            # job_status_enqueued. Partial, so a job that succeeds never writes to them.
            models.Index(
                fields=["actor_name", "-enqueued_at"],
                condition=models.Q(status=JobStatus.FAILED),
                name="job_failed_actor_enqueued",
            ),
            models.Index(
                fields=["queue_name", "-enqueued_at"],
                condition=models.Q(status=JobStatus.FAILED),
                name="job_failed_queue_enqueued",
            ),
        ]
        permissions = [
            ("view_job_payload", "Can view job arguments and results"),
            ("retry_job", "Can retry jobs and run them again"),
            ("cancel_job", "Can cancel jobs"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.id}"

    @property
    def is_final(self) -> bool:
        return self.status in JobStatus.final()


class JobEvent(models.Model):
    """One fact in a job's history. Append-only, like Django's LogEntry."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    attempt = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    exception_type = models.CharField(max_length=255, blank=True)
    message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    # The staff member whose action this event records (retry, cancel, run again).
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["job", "at"], name="jobevent_job_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.at:%Y-%m-%d %H:%M:%S})"


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


class UniqueJobLock(models.Model):
    """Who holds a uniqueness key: its primary key is the key, so of concurrent enqueues of one
    key only one can insert it (jobs/ledger/unique.py). Held while its job is in the lock's
    scope; a later enqueue finds a stale lock and takes it over (one conditional UPDATE)."""

    key = models.CharField(max_length=255, primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


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
    resolves. At most one open incident per rule (a constraint: concurrent checks cannot both
    open one)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="incidents")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField()
    notified_open = models.BooleanField(default=False)
    notified_resolved = models.BooleanField(default=False)

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
