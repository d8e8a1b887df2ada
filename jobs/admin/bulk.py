"""Operator actions on many jobs: retry, run again, cancel, delete, in batches.

Each batch is its own short transaction, so ten thousand jobs neither time out a request nor
hold locks for long, and jobs whose state no longer allows the action are skipped (the state
check is part of each batch's conditional update). Every action is an event on the job naming
the staff member, except deletion, which removes the job's history with it and is recorded
in Django's admin log by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
from django.db import transaction
from django.db.models import QuerySet
from dramatiq.errors import ActorNotFound
from redis.exceptions import RedisError

from jobs.brokers.view import view
from jobs.ledger import staff_actions
from jobs.ledger.redaction import SealError, open_arguments
from jobs.maintenance.relay import message_for
from jobs.models import Job
from jobs.outbox import record_pending, send_many

#: Jobs per transaction.
BATCH_SIZE = 500


@dataclass
class Outcome:
    """What a bulk action did: `done` jobs acted on, `skipped` whose state did not allow it."""

    done: int = 0
    skipped: int = 0
    problems: list[str] | None = None

    def add_problem(self, text: str) -> None:
        self.problems = [*(self.problems or []), text]


def batches(jobs: QuerySet[Job]) -> Iterator[list[uuid.UUID]]:
    """The ids of `jobs` in primary-key order, BATCH_SIZE at a time (keyset pagination: each
    batch is an indexed range scan however far it goes, and rows changed meanwhile are not
    skipped)."""
    size = BATCH_SIZE
    ids = jobs.order_by("pk").values_list("pk", flat=True)
    last: uuid.UUID | None = None
    while True:
        page = list((ids.filter(pk__gt=last) if last else ids)[:size])
        if not page:
            return
        yield page
        last = page[-1]


def retry(jobs: QuerySet[Job], *, operator: Any) -> Outcome:
    """Failed jobs run again under the same id: a new attempt series, history kept."""
    outcome = Outcome()
    for ids in batches(jobs):
        # The dead-letter copy goes first: the ledger check would otherwise fail the retried job
        # again. Without the broker the retry is refused and the jobs stay failed.
        try:
            for job in Job.objects.filter(pk__in=ids).retryable().only("queue_name", "delivery_id"):
                view().forget_dead_letter(job.queue_name, str(job.pk), job.delivery_id)
        except RedisError as error:
            outcome.add_problem(f"Broker unreachable, retry stopped: {error}")
            break
        moved = staff_actions.retry_failed(ids, operator=operator)
        outcome.done += len(moved)
        outcome.skipped += len(ids) - len(moved)
        _send(moved, outcome, note=f"Sent after a retry by {operator}.")
    return outcome


def run_now(jobs: QuerySet[Job], *, operator: Any) -> Outcome:
    """Scheduled jobs are sent now instead of at their due time."""
    outcome = Outcome()
    for ids in batches(jobs):
        moved = staff_actions.run_now(ids, operator=operator)
        outcome.done += len(moved)
        outcome.skipped += len(ids) - len(moved)
        _send(moved, outcome, note=f"Sent now by {operator}, before its due time.")
    return outcome


def run_again(jobs: QuerySet[Job], *, operator: Any) -> Outcome:
    """Each job's arguments enqueued again as a new job, linked to the original."""
    outcome = Outcome()
    broker = dramatiq.get_broker()
    for ids in batches(jobs):
        copies = []
        with transaction.atomic():
            for job in Job.objects.filter(pk__in=ids).order_by("pk"):
                try:
                    actor = broker.get_actor(job.actor_name)
                    args, kwargs = open_arguments(job.args, job.kwargs, job.sealed_arguments)
                except ActorNotFound:
                    outcome.skipped += 1
                    continue
                except SealError as error:
                    outcome.add_problem(f"Job {job.pk}: {error}")
                    outcome.skipped += 1
                    continue
                copy, _ = record_pending(
                    actor,
                    args,
                    kwargs,
                    caused_by=operator,
                    copy_of=job,
                    queue_name=job.queue_name,
                    priority=job.priority,
                )
                staff_actions.record_copied(job, copy, operator=operator)
                copies.append(copy)
        outcome.done += len(copies)
        _send(copies, outcome, note=f"Run again by {operator}.")
    return outcome


def _send(jobs: list[Job], outcome: Outcome, *, note: str) -> None:
    """Send committed pending jobs; those not sent stay pending and the relay sends them."""
    messages = []
    for job in jobs:
        try:
            messages.append(message_for(job))
        except SealError as error:
            outcome.add_problem(f"Job {job.pk}: {error}")
    sent = send_many(messages, note=note)
    if sent < len(messages):
        outcome.add_problem(
            f"{len(messages) - sent} job(s) could not be sent now (broker unreachable): "
            "they stay pending and the relay sends them."
        )


def cancel(jobs: QuerySet[Job], *, operator: Any) -> Outcome:
    """Waiting jobs (pending, queued, scheduled, retrying) become cancelled; workers skip them."""
    return _each_batch(jobs, lambda ids: staff_actions.cancel(ids, operator=operator))


def delete(jobs: QuerySet[Job], *, on_deleted: Callable[[list[Job]], None]) -> Outcome:
    """Finished jobs are deleted with their events; `on_deleted` logs each batch."""

    def delete_batch(ids: list[uuid.UUID]) -> int:
        with transaction.atomic():  # the log entries commit with the deletion, or neither does
            deleted = staff_actions.delete_finished(ids)
            on_deleted(deleted)
        return len(deleted)

    return _each_batch(jobs, delete_batch)


def _each_batch(jobs: QuerySet[Job], act: Callable[[list[uuid.UUID]], int]) -> Outcome:
    outcome = Outcome()
    for ids in batches(jobs):
        acted = act(ids)
        outcome.done += acted
        outcome.skipped += len(ids) - acted
    return outcome
