"""Job and JobEvent: the ledger's rows, their queries by state, creating jobs; the uniqueness
lock a unique job holds."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from jobs.ledger.bulk_insert import insert_many, insert_rows
from jobs.ledger.error_groups import error_group
from jobs.ledger.redaction import seal_arguments
from jobs.logs import context as log_context
from jobs.models.states import (
    ERROR_SUMMARY_LENGTH,
    UNDECODABLE_ACTOR,
    UNDECODABLE_ERROR,
    EventKind,
    JobStatus,
)


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

    def due_for_relay(self, *, enqueued_before: dt.datetime) -> JobQuerySet:
        """Relayable jobs whose send is known to have failed or whose lease expired (at once),
        or enqueued before `enqueued_before` (their web process may have died sending them)."""
        return self.relayable().filter(
            models.Q(relay_lease_until__isnull=False) | models.Q(enqueued_at__lt=enqueued_before)
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
        # A plain enqueue is a fact of the row (`enqueued_at`, jobs/ledger/history.py); a due
        # time, a note or a copy's origin needs its event row.
        rows: list[models.Model] = [job]
        if due is not None or note or copy_of is not None:
            event = JobEvent(
                job=job, kind=EventKind.ENQUEUED, at=job.enqueued_at, eta=due, message=note
            )
            if copy_of is not None:
                event.operator = user
                event.message = f"Copy of job {copy_of.pk}, run again by {user or 'an operator'}."
            rows.append(event)
        # No savepoint: enqueue() runs inside the caller's transaction, and a failed insert
        # must fail that transaction anyway.
        with transaction.atomic(savepoint=False):
            insert_rows(*rows)
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
        in through one cached statement (one COPY on PostgreSQL, jobs/ledger/bulk_insert.py);
        their `enqueued` events are facts of their rows."""
        user = _user(caused_by)
        jobs = [
            self._pending(job_id, actor_name, queue_name, args, kwargs, max_retries, user)
            for job_id, args, kwargs in calls
        ]
        with transaction.atomic(savepoint=False):  # as create_pending: the caller's transaction
            insert_many(jobs)
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
                    enqueued_at=now,  # its record begins with the send (jobs/ledger/history.py)
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
    # No relay sends this pending job before this instant (one relay is sending it, or staff
    # just did); once passed, the relay sends it at its next tick without the grace that waits
    # for a web process's own send. A failed send sets it to its instant (jobs/outbox.py).
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
        db_index=False,  # job_copy_of, partial
    )
    about_type = models.ForeignKey(
        ContentType,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # job_about leads with it
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
        db_index=False,  # job_caused_by, partial
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
            # Every row version of a job writes an entry into each index whose condition it
            # meets (a status change is never a HOT update): those that serve few jobs are
            # partial, so the jobs they do not serve cost them nothing (docs/PERFORMANCE.md).
            models.Index(
                fields=["about_type", "about_id"],
                condition=~models.Q(about_id=""),
                name="job_about",
            ),
            models.Index(
                fields=["about_label"], condition=~models.Q(about_label=""), name="job_about_label"
            ),
            models.Index(
                fields=["copy_of"], condition=models.Q(copy_of__isnull=False), name="job_copy_of"
            ),
            models.Index(
                fields=["caused_by"],
                condition=models.Q(caused_by__isnull=False),
                name="job_caused_by",
            ),
            # Staff paste a request id from a log line into the search box.
            models.Index(
                fields=["request_id"], condition=~models.Q(request_id=""), name="job_request_id"
            ),
            # Covering (PostgreSQL): the dashboard's per-hour counts read only the index.
            models.Index(
                fields=["-finished_at"],
                include=["status", "attempts"],
                condition=models.Q(finished_at__isnull=False),
                name="job_finished",
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

    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="events", db_index=False
    )  # jobevent_job_at leads with it
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
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # jobevent_operator, partial
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["job", "at"], name="jobevent_job_at"),
            models.Index(
                fields=["operator"],
                condition=models.Q(operator__isnull=False),
                name="jobevent_operator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.at:%Y-%m-%d %H:%M:%S})"


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
