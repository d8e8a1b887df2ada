"""The one database-retry policy of ledger writes: reconnect and retry for a budget of seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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


def write_with_retries(write: Callable[[], T], what: str, *, budget: float) -> T:
    """Run a ledger write, reconnecting and retrying on database errors for up to `budget` s.

    Dramatiq logs and swallows exceptions from middleware hooks, so a write that gives up
    here must be made visible by the caller.
    """
    deadline = time.monotonic() + budget
    delay = 0.1
    tries = 0
    while True:
        tries += 1
        try:
            return write()
        except DatabaseError:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "Ledger write failed (%s), try %d; retrying.", what, tries, exc_info=True
            )
            # A broken connection stays broken inside this thread until it is closed.
            connections["default"].close()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
