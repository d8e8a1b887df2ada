"""What a failed attempt is recorded as, where Dramatiq's own exception says too little.

A time limit raises `TimeLimitExceeded()` with no message. An `async def` actor stopped by its
time limit (or a shutdown) is cancelled; if its coroutine does not stop within a second (it
blocks the event loop), Dramatiq raises "Timed out while waiting for coroutine." instead, and
the coroutine's work runs on. The ledger records the interruption, the limit, the elapsed time,
and, for the blocked coroutine, that its work may still be running.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Interrupt, TimeLimit, TimeLimitExceeded

#: Dramatiq's message when an interrupted coroutine did not finish within a second.
COROUTINE_STILL_RUNNING = "Timed out while waiting for coroutine."


def time_limit_seconds(broker: Broker, message: MessageProxy) -> float | None:
    """The time limit this message ran under, as Dramatiq's TimeLimit middleware reads it."""
    middleware = next((m for m in broker.middleware if isinstance(m, TimeLimit)), None)
    if middleware is None:
        return None
    actor = broker.get_actor(message.actor_name)
    limit = message.options.get("time_limit") or actor.options.get(
        "time_limit", middleware.time_limit
    )
    return float(limit) / 1000


def explained(
    error: BaseException, broker: Broker, message: MessageProxy, started_at: dt.datetime
) -> tuple[BaseException, str]:
    """The exception to record (its type names the failure) and the message to record."""
    elapsed = (timezone.now() - started_at).total_seconds()
    cause = error.__cause__
    still_running = (
        isinstance(error, RuntimeError)
        and isinstance(cause, Interrupt)
        and str(error) == COROUTINE_STILL_RUNNING
    )
    interrupt = cause if still_running else error
    if not isinstance(interrupt, Interrupt):
        return error, str(error)
    if isinstance(interrupt, TimeLimitExceeded):
        limit = time_limit_seconds(broker, message)
        what = f"Time limit of {limit:g} s exceeded" if limit else "Time limit exceeded"
    else:
        what = f"Interrupted ({type(interrupt).__name__})"
    if not still_running:
        return interrupt, f"{what}: stopped after {elapsed:.1f} s."
    return interrupt, (
        f"{what} after {elapsed:.1f} s, and the coroutine did not stop within 1 s of its "
        "cancellation: it blocks the event loop (a blocking call in an async def actor). Its "
        "work may still be running, and every async job of this worker process waits for it."
    )
