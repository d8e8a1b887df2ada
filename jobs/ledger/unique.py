"""Unique jobs: an enqueue whose key matches an unfinished job returns that job instead of adding
one. Enforced by a primary key (UniqueJobLock.key), so concurrent enqueues from many processes
cannot both win: the second insert waits for the first transaction and then fails.

Scopes: `waiting` (pending, queued, scheduled, retrying: a running job no longer blocks a new
one), `active` (waiting or running), `period` (for `period` after the enqueue, whatever the job
does). A lock whose job left its scope is stale and taken over by the next enqueue of its key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from jobs.models import Job, JobStatus, UniqueJobLock

Scope = Literal["waiting", "active", "period"]
#: The actor option declaring its jobs unique: `@dramatiq.actor(unique=Unique(scope="waiting"))`.
UNIQUE_OPTION = "unique"
#: Tries to take a key whose lock keeps changing hands under us before giving up.
ATTEMPTS = 5


@dataclass(frozen=True)
class Unique:
    """How an actor's jobs (actor option `unique`) or one enqueue (`enqueue(..., unique=)`) are
    unique. `key`: explicit, or None for one computed from the actor and its arguments."""

    key: str | None = None
    scope: Scope = "active"
    period: dt.timedelta | None = None

    def __post_init__(self) -> None:
        if (self.scope == "period") != (self.period is not None):
            raise ValueError("A `period` is given with scope='period', and only then.")

    def key_for(self, actor_name: str, args: Any, kwargs: Any) -> str:
        if self.key is not None:
            return self.key[:255]
        payload = json.dumps([list(args), kwargs], sort_keys=True, default=str)
        return f"{actor_name}:{hashlib.sha256(payload.encode()).hexdigest()}"


class DuplicateJobError(Exception):
    """Raised inside the enqueue's savepoint to undo the new job's insert."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"duplicate of job {job.pk}")
        self.job = job


def in_scope(lock: UniqueJobLock, status: str, now: dt.datetime) -> bool:
    if lock.scope == "period":
        return lock.expires_at is not None and lock.expires_at > now
    if lock.scope == "waiting":
        return status in JobStatus.waiting()
    return status in JobStatus.unfinished()


def count_duplicate(job: Job) -> None:
    """One more enqueue was answered with `job` (after the duplicate's savepoint is undone)."""
    Job.objects.filter(pk=job.pk).update(duplicates=F("duplicates") + 1)
    job.duplicates += 1


def take_key(key: str, job: Job, unique: Unique) -> None:
    """Make `job` (just inserted, in this transaction) the holder of `key`, or raise
    DuplicateJobError with the job that holds it."""
    now = timezone.now()
    expires = now + unique.period if unique.period is not None else None
    fields = {"job": job, "scope": unique.scope, "expires_at": expires}
    for _ in range(ATTEMPTS):
        try:
            with transaction.atomic():
                UniqueJobLock.objects.create(key=key, **fields)
            return
        except IntegrityError:
            pass
        lock = UniqueJobLock.objects.filter(key=key).select_related("job").first()
        if lock is None:
            continue  # its job was just deleted: insert again
        if in_scope(lock, lock.job.status, now):
            raise DuplicateJobError(lock.job)
        # Stale: take it over, unless another enqueue just did (then look again).
        if UniqueJobLock.objects.filter(key=key, job_id=lock.job_id).update(**fields):
            return
    raise RuntimeError(f"Could not take the uniqueness key {key!r}: it kept changing hands.")
