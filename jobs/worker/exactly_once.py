"""Exactly-once effects: an actor that completes inside its own database transaction.

At-least-once is what a broker promises: a worker killed after the effect and before the ack
runs the job again. An actor whose effect is a database write can do better. Declared
`exactly_once=True` (an actor option), or `@exactly_once` under Django's `@task`, its call runs
inside `transaction.atomic()` and the ledger's `succeeded` is written in that same transaction:

- killed (or failed) before the commit: its writes and the success are undone together; the
  redelivery or retry runs on a clean slate;
- killed after the commit, before the ack: the redelivery finds the job succeeded and runs no
  code (`skipped`).

An `async def` actor runs on an event loop of its own for the call, through asgiref's
`async_to_sync`, so that its ORM calls (`await Model.objects.acreate(...)`, `sync_to_async`)
run in the worker thread that holds the transaction, as Django runs async code inside a sync
request. Only the `default` database joins the transaction; effects outside the database (an
e-mail, an HTTP call) are not undone and stay at-least-once (docs/RELIABILITY.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import uuid
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any, Protocol, TypeVar

from asgiref.sync import async_to_sync
from django.db import transaction
from dramatiq import Actor, Broker, Middleware

from jobs.ledger import transitions
from jobs.ledger.results import storable_result

#: The actor option: complete inside the actor's own transaction.
EXACTLY_ONCE_OPTION = "exactly_once"
#: What `@exactly_once` sets on a function (Django's `@task` takes no actor options).
_MARK = "offload_exactly_once"

F = TypeVar("F", bound=Callable[..., Any])


def exactly_once(function: F) -> F:
    """Mark a function (a Django task's, under `@task`) to complete inside its transaction."""
    setattr(function, _MARK, True)
    return function


class AttemptMovedOnError(Exception):
    """The job is no longer running this attempt (cancelled, or run again after this worker was
    taken for lost): this attempt's writes are rolled back."""


class RunningClaim(Protocol):
    """The tracker's claim of the attempt this thread runs (jobs/worker/tracker.py)."""

    job_id: uuid.UUID
    attempt: int
    started_at: dt.datetime
    worker: str
    committed: bool


_running = threading.local()


def set_running_claim(claim: RunningClaim | None) -> None:
    """The tracker says which attempt this worker thread runs (None: none)."""
    _running.claim = claim


def complete_in_transaction(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `call` and record this attempt's success in one transaction.

    Outside a claimed attempt (an actor called directly, in a shell or a test) it is only the
    transaction."""
    claim: RunningClaim | None = getattr(_running, "claim", None)
    with transaction.atomic():
        result = call(*args, **kwargs)
        if claim is not None:
            moved = transitions.mark_succeeded(
                claim.job_id,
                attempt=claim.attempt,
                started_at=claim.started_at,
                worker=claim.worker,
                result=storable_result(result),
            )
            if not moved:
                raise AttemptMovedOnError(
                    f"Job {claim.job_id} is no longer running attempt {claim.attempt}: "
                    "this attempt's writes were rolled back."
                )
    if claim is not None:
        claim.committed = True  # the tracker only acks it: the success is written
    return result


def wants_exactly_once(actor: Actor[..., Any]) -> bool:
    original = getattr(actor.fn, "__wrapped__", actor.fn)
    return bool(actor.options.get(EXACTLY_ONCE_OPTION, getattr(original, _MARK, False)))


class CompleteInTransaction(Middleware):
    """Wraps the function of each exactly-once actor. After OpenSealedArguments in the list, so
    that this wrap is the innermost (after_declare_actor hooks run in reverse order)."""

    actor_options = {EXACTLY_ONCE_OPTION}

    def after_declare_actor(self, broker: Broker, actor: Actor[..., Any]) -> None:
        if not wants_exactly_once(actor):
            return
        # Dramatiq turned an `async def` into a wrapper that runs it on its shared event loop;
        # ours runs it where its ORM calls reach this thread's transaction.
        original = getattr(actor.fn, "__wrapped__", None)
        call = async_to_sync(original) if iscoroutinefunction(original) else actor.fn

        @functools.wraps(actor.fn)
        def completing(*args: Any, **kwargs: Any) -> Any:
            return complete_in_transaction(call, *args, **kwargs)

        actor.fn = completing
