"""The RabbitMQ broker: Dramatiq's, with acks held for the ledger (jobs/brokers/held_acks.py) and
a delivery id on every send, and undecodable payloads recorded in the ledger (Dramatiq's consumer
dead-letters them; the Redis broker's moves them to a poison list).

RabbitMQ redelivers a dead consumer's unacked messages by itself, at once, with their body
unchanged: the delivery id this broker puts on each send (a redelivery keeps it, a retry gets a
new one) is what lets the claim tell a crash redelivery from a duplicate. Dramatiq's private
consumer class is used here only; tests/jobs/test_broker_seams.py fails if it changes shape.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from dramatiq import Message
from dramatiq.brokers import rabbitmq as dramatiq_rabbitmq
from dramatiq.common import xq_name
from dramatiq.errors import DecodeError

from jobs.brokers.held_acks import HoldsAcks
from jobs.brokers.on_demand import FindsActorsOnDemand
from jobs.brokers.priorities import BROKER_PRIORITY_OPTION, broker_level
from jobs.ledger.messages import DELIVERY_OPTION
from jobs.models import Job

logger = logging.getLogger(__name__)

Delivery = tuple[Any, Any, bytes]


class HeldAcksConsumer(dramatiq_rabbitmq._RabbitmqConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        #: The body of the delivery being decoded, for the rare one Dramatiq cannot decode.
        self._body: bytes | None = None
        self.iterator = self._remembering_bodies(self.iterator)

    def _remembering_bodies(self, deliveries: Iterator[Delivery]) -> Iterator[Delivery]:
        for delivery in deliveries:
            method, _properties, body = delivery
            self._body = body if method is not None else None
            yield delivery

    def __next__(self) -> Any:
        """Dramatiq's, which answers None both when nothing came and when a body could not be
        decoded (it dead-letters that one): a remembered body tells the two apart, so nothing
        is decoded twice."""
        self._body = None
        message = super().__next__()  # type: ignore[no-untyped-call]
        if message is None and self._body is not None:
            self._record_undecodable(self._body)
        return message

    def _record_undecodable(self, body: bytes) -> None:
        try:
            Message.decode(body)
            return  # not a decoding failure after all
        except DecodeError as error:
            reason = repr(error.error)
        dead_letters = xq_name(self.queue_name)
        try:
            Job.objects.create_undecodable(
                queue_name=self.queue_name,
                payload=body,
                error=reason,
                kept_in=f"RabbitMQ's dead-letter queue {dead_letters}",
            )
        except Exception:  # the body is safe in the dead-letter queue; the row is a courtesy
            logger.exception("Could not record an undecodable message in the ledger.")

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


class RabbitmqBroker(FindsActorsOnDemand, HoldsAcks, dramatiq_rabbitmq.RabbitmqBroker):
    """Dramatiq's RabbitMQ broker with held acks and a delivery id per send."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: This process's id, as Dramatiq's Redis broker has one: the worker registry's key.
        self.broker_id = uuid.uuid4().hex

    @property
    def consumer_class(self) -> type[HeldAcksConsumer]:
        return HeldAcksConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        options = {**message.options, DELIVERY_OPTION: uuid.uuid4().hex}
        if self.max_priority:  # a message sent without a priority ranks as priority 0
            options.setdefault(BROKER_PRIORITY_OPTION, broker_level(0, self.max_priority))
        delivered = message.copy(options=options)
        return super().enqueue(delivered, delay=delay)
