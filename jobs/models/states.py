"""What a job can be and what can happen to it: statuses, event kinds, and the limits the
ledger's rules share."""

from __future__ import annotations

from django.db import models

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
    """Where a job is now. True at every instant: see jobs/ledger/transitions.py."""

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
