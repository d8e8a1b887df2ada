"""Sending through whichever broker is configured: what a failed send raises, and bulk sends
where the broker has them (the Redis broker pipelines them: jobs/brokers/redis.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import dramatiq
from dramatiq import Message
from dramatiq.errors import BrokerConnectionError
from redis.exceptions import RedisError

#: A send that raises one of these did not reach the broker (or may not have): the job stays
#: pending for the relay. Redis' own errors, socket errors, and Dramatiq's wrapper of others.
SEND_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, BrokerConnectionError)


@runtime_checkable
class SendsInBulk(Protocol):
    def enqueue_many(self, messages: Sequence[Message[Any]]) -> list[Message[Any]]: ...


def enqueue_all(messages: Sequence[Message[Any]]) -> None:
    """Send `messages`: in one go where the broker can, else one by one."""
    broker = dramatiq.get_broker()
    if isinstance(broker, SendsInBulk):
        broker.enqueue_many(messages)
        return
    for message in messages:
        broker.enqueue(message)
