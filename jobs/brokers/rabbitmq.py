"""The RabbitMQ broker: Dramatiq's, with acks held for the ledger (jobs/brokers/held_acks.py) and
a delivery id on every send. (An undecodable payload is dead-lettered by Dramatiq's consumer, not
yet recorded in the ledger as the Redis broker does.)

RabbitMQ redelivers a dead consumer's unacked messages by itself, at once, with their body
unchanged: the delivery id this broker puts on each send (a redelivery keeps it, a retry gets a
new one) is what lets the claim tell a crash redelivery from a duplicate. Dramatiq's private
consumer class is used here only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from dramatiq import Message
from dramatiq.brokers import rabbitmq as dramatiq_rabbitmq

from jobs.brokers.held_acks import HoldsAcks
from jobs.ledger.messages import DELIVERY_OPTION


class HeldAcksConsumer(dramatiq_rabbitmq._RabbitmqConsumer):
    def ack(self, message: Any) -> None:
        self._after_ledger_write(message, super().ack)

    def nack(self, message: Any) -> None:
        self._after_ledger_write(message, super().nack)

    def _after_ledger_write(self, message: Any, ack: Callable[[Any], None]) -> None:
        """Ack now, or once the job's ledger write is committed (pika's acks are thread-safe:
        Dramatiq's consumer hands them to its connection's thread)."""
        hold = self.broker.take_hold(message)
        if hold is None:
            ack(message)
            return
        hold.then(lambda: ack(message))


class RabbitmqBroker(HoldsAcks, dramatiq_rabbitmq.RabbitmqBroker):
    """Dramatiq's RabbitMQ broker with held acks and a delivery id per send."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: This process's id, as Dramatiq's Redis broker has one: the worker registry's key.
        self.broker_id = uuid.uuid4().hex

    @property
    def consumer_class(self) -> type[HeldAcksConsumer]:
        return HeldAcksConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        delivered = message.copy(options={**message.options, DELIVERY_OPTION: uuid.uuid4().hex})
        return super().enqueue(delivered, delay=delay)
