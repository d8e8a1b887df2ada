"""The outbox: enqueue() records a job in the caller's transaction and hands it to the broker
on commit; the relay (jobs/maintenance/relay.py) sends what that send missed."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import dramatiq
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from dramatiq import Actor, Message

from jobs.brokers.priorities import priority_options
from jobs.brokers.sending import SEND_ERRORS, enqueue_all
from jobs.ledger import transitions
from jobs.ledger.messages import eta_of, max_retries_of, recorded_options
from jobs.ledger.requests import SentRequest
from jobs.ledger.retries import SENT_WRITE_BUDGET, write_with_retries
from jobs.ledger.unique import (
    UNIQUE_OPTION,
    DuplicateJobError,
    Unique,
    count_duplicate,
    take_key,
)
from jobs.ledger.writer import WriterStoppedError, background_writer
from jobs.logs.context import request_id
from jobs.models import EventKind, Job

logger = logging.getLogger(__name__)

#: Messages per Redis pipeline in send_many: one round trip each, a bounded request size.
SEND_CHUNK = 500


def enqueue(
    actor: Actor[..., Any],
    *args: Any,
    about: models.Model | None = None,
    caused_by: Any = None,
    delay: dt.timedelta | None = None,
    unique: Unique | None = None,
    **kwargs: Any,
) -> Job:
    """Record a `pending` job now and send its message when the current transaction commits.

    Rolled back: no row and no message. Broker unreachable at commit: the job stays `pending`
    (visible in the admin) instead of the request failing. `about` is the object the job is
    for (shown and linked in the admin); `caused_by` is the user whose action caused it.
    `delay`: run it that much later (the job is `scheduled` until then). `unique` (or the
    actor's `unique` option): if an unfinished job has the same key, that job is returned
    instead of a new one (jobs/ledger/unique.py).
    """
    return enqueue_call(
        actor, args, kwargs, about=about, caused_by=caused_by, delay=delay, unique=unique
    )


def enqueue_call(
    actor: Actor[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    about: models.Model | None = None,
    caused_by: Any = None,
    delay: dt.timedelta | None = None,
    run_after: dt.datetime | None = None,
    queue_name: str | None = None,
    unique: Unique | None = None,
    note: str = "",
    priority: int = 0,
) -> Job:
    """`enqueue()` with the arguments as values, and another queue than the actor's if given
    (Django's Tasks framework: a task's `queue_name`). `run_after`: an instant to run at, kept
    as given (`delay`: from now). `note`: said by the job's `enqueued` event. `priority`:
    -100..100, on a broker that orders by it (jobs/brokers/priorities.py). A duplicate of a
    unique job returns that job, with `was_duplicate` set on it."""
    unique = unique or actor.options.get(UNIQUE_OPTION)
    now = timezone.now()
    due = run_after or (now + delay if delay else None)
    if run_after is not None:
        delay = max(run_after - now, dt.timedelta(0))
    pending = functools.partial(
        record_pending,
        actor,
        args,
        kwargs,
        about=about,
        caused_by=caused_by,
        due=due,
        note=note,
        priority=priority,
    )
    if unique is None:
        job, message = pending(queue_name=queue_name)
    else:
        key = unique.key_for(actor.actor_name, args, kwargs)
        try:
            with transaction.atomic():  # a savepoint: a duplicate's insert is undone
                job, message = pending(queue_name=queue_name, unique_key=key)
                take_key(key, job, unique)
        except DuplicateJobError as duplicate:
            count_duplicate(duplicate.job)
            duplicate.job.was_duplicate = True  # type: ignore[attr-defined]
            return duplicate.job
    delay_ms = int(delay.total_seconds() * 1000) if delay else None
    transaction.on_commit(lambda: send(message, delay_ms), robust=True)
    return job


def enqueue_many(
    actor: Actor[..., Any],
    calls: Iterable[Sequence[Any]],
    *,
    caused_by: Any = None,
) -> list[Job]:
    """`enqueue(actor, *args)` for each args in `calls`, at a bulk price: the jobs and their
    events are inserted now (`JobManager.create_pending_many`), and on commit the messages are
    sent through Redis pipelines and their sends recorded in one transaction (`send_many`). As
    enqueue(): rolled back, nothing; the broker unreachable, the jobs not sent stay `pending`
    for the relay. Arguments by position only; `about` and `delay` need `enqueue()`."""
    messages = [
        actor.message_with_options(
            args=tuple(args), kwargs={}, **recorded_options(request_id.get())
        )
        for args in calls
    ]
    if not messages:
        return []
    jobs = Job.objects.create_pending_many(
        actor_name=actor.actor_name,
        queue_name=actor.queue_name,
        calls=[(uuid.UUID(m.message_id), list(m.args), {}) for m in messages],
        max_retries=max_retries_of(actor.broker, messages[0]),
        caused_by=caused_by,
    )
    transaction.on_commit(lambda: send_many(messages, note=""), robust=True)
    return jobs


def record_pending(
    actor: Actor[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    about: models.Model | None = None,
    caused_by: Any = None,
    copy_of: Job | None = None,
    queue_name: str | None = None,
    due: dt.datetime | None = None,
    unique_key: str = "",
    note: str = "",
    priority: int = 0,
) -> tuple[Job, Message[Any]]:
    """Insert a pending job and build its message, for the caller to send after commit."""
    options = {**recorded_options(request_id.get()), **priority_options(actor.broker, priority)}
    message = actor.message_with_options(args=tuple(args), kwargs=kwargs, **options)
    if queue_name and queue_name != message.queue_name:
        message = message.copy(queue_name=queue_name)
    job = Job.objects.create_pending(
        job_id=uuid.UUID(message.message_id),
        actor_name=actor.actor_name,
        queue_name=message.queue_name,
        args=list(args),
        kwargs=kwargs,
        max_retries=max_retries_of(actor.broker, message),
        about=about,
        caused_by=caused_by,
        copy_of=copy_of,
        due=due,
        unique_key=unique_key,
        note=note,
        priority=priority,
    )
    return job, message


def send(
    message: Message[Any],
    delay_ms: int | None = None,
    *,
    kind: EventKind = EventKind.QUEUED,
    note: str = "",
) -> bool:
    """Hand a recorded job's message to the broker and record the send (as `kind`).

    The message carries RECORDED_OPTION (set where it is built), so the tracker's after_enqueue
    leaves the recording to this function. False if the broker is unreachable: the job stays
    pending for the relay.
    """
    sent_at = timezone.now()  # before the send: a worker may claim the job right after it
    try:
        enqueued = dramatiq.get_broker().enqueue(message, delay=delay_ms)
    except SEND_ERRORS:
        logger.warning(
            "Broker unreachable: job %s stays pending until it can be sent.",
            message.message_id,
            exc_info=True,
        )
        relay_at_once([uuid.UUID(message.message_id)])
        return False
    record = SentRequest(
        uuid.UUID(message.message_id), at=sent_at, eta=eta_of(enqueued), kind=kind, note=note
    )
    if not connection.in_atomic_block:
        # After the request's commit: recorded in the background, in a batch with other
        # requests' sends, so the request does not pay a second transaction (jobs/ledger/writer.py).
        try:
            background_writer().sent(record, budget=SENT_WRITE_BUDGET)
            return True
        except WriterStoppedError:
            pass  # the process is exiting
    try:
        # Inside a transaction (a test's, or a caller's own): the record joins it.
        write_with_retries(
            lambda: transitions.mark_sent(
                record.job_id, at=record.at, eta=record.eta, kind=kind, note=note
            ),
            "sent",
            budget=SENT_WRITE_BUDGET,
        )
    except DatabaseError:
        # Still "pending" in the ledger: the relay will send it again and the worker's claim
        # refuses the second delivery.
        logger.exception("Could not record that job %s was sent.", message.message_id)
    return True


def relay_at_once(job_ids: list[uuid.UUID]) -> None:
    """Tell the relay these jobs' send failed, so it sends them as soon as the broker is back
    (seconds), not after the grace for a web process that may still be sending (30 s)."""
    try:
        transitions.mark_send_failed(job_ids, at=timezone.now())
    except DatabaseError:
        logger.exception(
            "Could not mark %d job(s) for the relay; they wait for its grace.", len(job_ids)
        )


def send_many(messages: list[Message[Any]], *, note: str) -> int:
    """Send recorded pending jobs together and record the sends in one transaction (bulk
    enqueues, staff actions on thousands of jobs): a Redis pipeline per SEND_CHUNK messages
    (jobs/brokers/sending.py). Stops at the first broker error: that chunk and
    the rest stay pending for the relay (a message of the failed chunk that did reach Redis is
    sent again later, and its second delivery refused by the claim). Returns how many were
    recorded as sent."""
    sent_at = timezone.now()
    sent: list[uuid.UUID] = []
    for start in range(0, len(messages), SEND_CHUNK):
        chunk = messages[start : start + SEND_CHUNK]
        try:
            enqueue_all(chunk)
        except SEND_ERRORS:
            logger.warning("Broker unreachable: %d job(s) stay pending.", len(messages) - len(sent))
            relay_at_once([uuid.UUID(message.message_id) for message in messages[start:]])
            break
        sent.extend(uuid.UUID(message.message_id) for message in chunk)
    if sent:
        try:
            write_with_retries(
                lambda: transitions.mark_sent_many(sent, at=sent_at, note=note),
                "sent",
                budget=SENT_WRITE_BUDGET,
            )
        except DatabaseError:
            logger.exception("Could not record that %d job(s) were sent.", len(sent))
    return len(sent)
