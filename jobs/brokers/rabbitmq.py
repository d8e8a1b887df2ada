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
from collections.abc import Iterator
from typing import Any

import pika
from dramatiq import Message
from dramatiq.brokers import rabbitmq as dramatiq_rabbitmq
from dramatiq.common import xq_name
from dramatiq.errors import ConnectionClosed, DecodeError

from jobs.brokers.held_acks import AckTogether, HoldsAcks
from jobs.brokers.on_demand import FindsActorsOnDemand
from jobs.brokers.priorities import BROKER_PRIORITY_OPTION, broker_level
from jobs.brokers.state import oldest_waiting_in_ledger
from jobs.brokers.view import Place, QueueState
from jobs.ledger.messages import DELIVERY_OPTION
from jobs.models import Job

logger = logging.getLogger(__name__)

Delivery = tuple[Any, Any, bytes]

#: The consumer's prefetch, as a multiple of the worker's: its acks held for the ledger count.
HELD_ACKS_ROOM = 2


class HeldAcksConsumer(dramatiq_rabbitmq._RabbitmqConsumer):
    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        # RabbitMQ counts a delivery against the prefetch until it is acked: a message whose
        # ack waits for its ledger write (finished work) would keep new work out, as if the
        # prefetch were smaller (0.30x of plain Dramatiq at 1x8, docs/PERFORMANCE.md). Room for
        # as many held acks as the prefetch itself, as the Redis consumer stops counting them.
        prefetch = prefetch * HELD_ACKS_ROOM
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
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
        self._after_ledger_write(message, "ack")

    def nack(self, message: Any) -> None:
        self._after_ledger_write(message, "nack")

    def _after_ledger_write(self, message: Any, command: str) -> None:
        """Ack now, or once the job's ledger write is committed (pika's acks are thread-safe:
        Dramatiq's consumer hands them to its connection's thread)."""
        ack = _HeldAck(self, message, command)
        hold = self.broker.take_hold(message)
        if hold is None:
            ack()
            return
        hold.then(ack)

    def ack_many(self, acks: list[_HeldAck]) -> None:
        """Acks (and nacks) of this consumer's messages, handed to its connection's thread in
        one callback: one wake-up of that thread instead of one per message."""
        tags = []
        for held in acks:
            try:
                self.known_tags.remove(held.message._tag)
            except KeyError:
                logger.warning("Failed to ack message: not in known tags.")
                continue
            tags.append((held.message._tag, held.command == "ack"))

        def send() -> None:
            for tag, ack in tags:
                if ack:
                    self.channel.basic_ack(tag)
                else:
                    self.channel.basic_nack(tag, requeue=False)

        try:
            self.connection.add_callback_threadsafe(send)
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as error:
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]


class _HeldAck(AckTogether):
    """A message's ack (or nack) by its consumer; one consumer's go to its connection's thread
    together."""

    def __init__(self, consumer: HeldAcksConsumer, message: Any, command: str) -> None:
        self.consumer, self.message, self.command = consumer, message, command
        self.together_key = consumer

    def __call__(self) -> None:
        """Dramatiq's own ack (or nack) of this one message."""
        getattr(dramatiq_rabbitmq._RabbitmqConsumer, self.command)(self.consumer, self.message)

    def ack_all(self, acks: list[AckTogether]) -> None:
        self.consumer.ack_many([held for held in acks if isinstance(held, _HeldAck)])


class RabbitmqBroker(FindsActorsOnDemand, HoldsAcks, dramatiq_rabbitmq.RabbitmqBroker):
    """Dramatiq's RabbitMQ broker with held acks and a delivery id per send, answering the
    ledger's questions (jobs/brokers/view.py) as far as RabbitMQ can tell."""

    #: RabbitMQ watches its consumers itself: a dead one's messages come back at once.
    worker_timeout_seconds = 0.0

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: This process's id, as Dramatiq's Redis broker has one: the worker registry's key.
        self.broker_id = uuid.uuid4().hex

    @property
    def consumer_class(self) -> type[HeldAcksConsumer]:
        return HeldAcksConsumer

    def ping(self) -> None:
        self.channel  # noqa: B018 (opens, or reuses, this thread's channel: raises if down)

    def queue_states(self) -> list[QueueState]:
        states = []
        for queue in sorted(
            q for q in self.get_declared_queues() if not q.endswith((".DQ", ".XQ"))
        ):
            waiting, delayed, dead = self.get_queue_message_counts(queue)
            oldest = oldest_waiting_in_ledger(queue) if waiting else None
            states.append(QueueState(queue, waiting, 0, delayed, dead, oldest_age=oldest))
        return states

    def live_worker_ids(self) -> set[str] | None:
        return None  # it redelivers a dead consumer's messages by itself

    def message_places(self, *, dead_only: bool) -> dict[str, Place] | None:
        return None  # it lists no message ids without consuming them

    def forget_dead_letter(self, queue_name: str, job_id: str, delivery_id: str) -> None:
        return None  # a dead-lettered copy cannot be taken out by id: the check never reads it

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        options = {**message.options, DELIVERY_OPTION: uuid.uuid4().hex}
        if self.max_priority:  # a message sent without a priority ranks as priority 0
            options.setdefault(BROKER_PRIORITY_OPTION, broker_level(0, self.max_priority))
        delivered = message.copy(options=options)
        return super().enqueue(delivered, delay=delay)
