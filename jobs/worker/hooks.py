"""What product code declares to happen when a job fails for good, decided once by the ledger.

An actor declares `on_final_failure=function` (an actor option): when the ledger records the
job `failed` (its retries exhausted, an error it `throws`, a result it cannot store), the
tracker calls `function(*args, error=text, **kwargs)` with the job's arguments, once per job,
after the failure is committed; never for an attempt that will be retried. A job failed because
its worker kept dying (MAX_LOST_DELIVERIES, in the claim) or whose worker and message were both
lost (the ledger check) gets the same call, with the ledger's reason as `error`. So no actor
looks at Dramatiq's retry count to guess whether this attempt was its last.
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq import Broker
from dramatiq.errors import ActorNotFound

from jobs.brokers.sealing import message_arguments
from jobs.ledger.redaction import SealError

logger = logging.getLogger(__name__)

#: The actor option naming the function to call when a job of that actor fails for good.
FINAL_FAILURE_OPTION = "on_final_failure"


def call_final_failure_hook(broker: Broker, message: Any, error: str) -> None:
    """Run the actor's final-failure hook for the job of this message, if it declares one."""
    try:
        args, kwargs = message_arguments(message)
    except SealError:
        args, kwargs = list(message.args), dict(message.kwargs)
    call_hook(broker, message.actor_name, args, kwargs, error)


def call_hook(
    broker: Broker, actor_name: str, args: list[Any], kwargs: dict[str, Any], error: str
) -> None:
    """Run an actor's final-failure hook, if it declares one; its own errors are logged (the
    job's failure is recorded already)."""
    try:
        hook = broker.get_actor(actor_name).options.get(FINAL_FAILURE_OPTION)
    except ActorNotFound:
        return
    if hook is None:
        return
    try:
        hook(*args, error=error, **kwargs)
    except Exception:
        logger.exception("The final-failure hook of %s failed.", actor_name)
