"""The one database-retry policy of ledger writes: reconnect and retry for a budget of seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long each kind of ledger write keeps retrying through database errors (seconds).
#: Recording an outcome: the actor already ran, so wait out a database restart.
OUTCOME_WRITE_BUDGET = 60.0
#: Claiming: giving up only fails this attempt, and Retries schedules another.
CLAIM_WRITE_BUDGET = 3.0
#: Recording a send: in the web request's path; the worker's claim records the job anyway.
SENT_WRITE_BUDGET = 1.0


def backoff() -> Iterator[float]:
    """The pauses between tries of a ledger write, for every retry loop of the ledger: 0.1 s,
    doubling, at most 2 s."""
    delay = 0.1
    while True:
        yield delay
        delay = min(delay * 2, 2.0)


def reconnect(using: str = "default") -> None:
    """Drop this thread's connection: a broken one stays broken inside the thread until closed."""
    connections[using].close()


def write_with_retries(write: Callable[[], T], what: str, *, budget: float) -> T:
    """Run a ledger write, reconnecting and retrying on database errors for up to `budget` s.

    Dramatiq logs and swallows exceptions from middleware hooks, so a write that gives up
    here must be made visible by the caller.
    """
    deadline = time.monotonic() + budget
    for tries, delay in enumerate(backoff(), start=1):
        try:
            return write()
        except DatabaseError:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "Ledger write failed (%s), try %d; retrying.", what, tries, exc_info=True
            )
            reconnect()
            time.sleep(delay)
    raise AssertionError("unreachable: backoff() never ends")
