"""What the ledger reads off a Dramatiq message: its job id, due time, retry limit, and whether
its send is already recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from dramatiq import Broker, Message
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Retries

#: Hooks get the message itself on the enqueue side and a MessageProxy on the worker side.
AnyMessage = Message[Any] | MessageProxy

#: Message option: the ledger records this send itself (jobs.outbox.send), not after_enqueue.
RECORDED_OPTION = "offload_recorded"
#: Message option: the id of the web request that enqueued the job (the job row has it too), so
#: the worker's log lines of its attempts carry it (jobs/logs/context.py).
REQUEST_OPTION = "offload_request_id"


def recorded_options(request_id: str) -> dict[str, Any]:
    """The options of a message whose job the ledger recorded (and whose send it records)."""
    return {RECORDED_OPTION: True, **({REQUEST_OPTION: request_id} if request_id else {})}


#: Message option: the broker's id of this send, kept by a crash redelivery, new on every
#: enqueue (Redis: Dramatiq's own `redis_message_id`; RabbitMQ: set by jobs/brokers/rabbitmq.py).
DELIVERY_OPTION = "offload_delivery_id"


def delivery_id(message: AnyMessage) -> str:
    return str(message.options.get("redis_message_id") or message.options.get(DELIVERY_OPTION, ""))


def message_job_id(message: AnyMessage) -> uuid.UUID:
    return uuid.UUID(message.message_id)


def eta_of(message: AnyMessage) -> dt.datetime | None:
    eta = message.options.get("eta")
    return dt.datetime.fromtimestamp(eta / 1000, tz=dt.UTC) if eta else None


def max_retries_of(broker: Broker, message: AnyMessage) -> int | None:
    if "max_retries" in message.options:
        return int(message.options["max_retries"])
    retries = next((m for m in broker.middleware if isinstance(m, Retries)), None)
    if retries is None:
        return 0  # without Retries a failed attempt is never retried
    try:
        actor = broker.get_actor(message.actor_name)
    except Exception:  # an actor this process does not know (e.g. sent by name)
        return retries.max_retries
    return int(actor.options.get("max_retries", retries.max_retries))
