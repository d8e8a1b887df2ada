"""Dramatiq's Redis broker with bounded crash recovery and poison-message isolation.

Dramatiq requeues a dead worker's unacked messages only during "maintenance", which runs on a
random 0.1% of Redis commands and only for the queue named in that command: with one idle worker
that is about 12 minutes on average (docs/ARCHITECTURE.md). This broker also runs maintenance for
each queue at least every `maintenance_interval` seconds, so a SIGKILLed worker's jobs come back
within `heartbeat_timeout` + `maintenance_interval`.

One undecodable payload makes Dramatiq's consumer crash and restart, stranding the valid messages
fetched in the same batch until the worker dies. This broker's consumer moves such a payload to the
queue's `.poison` list, records it in the ledger as a failed job, and goes on with the batch.

A fetch whose reply timed out (Redis frozen) leaves its messages in this live worker's set of
unacked messages: a restarted consumer puts them back (jobs/brokers/redis_stranded.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
from dramatiq import Message
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.common import current_millis
from dramatiq.errors import ConnectionClosed, DecodeError

from jobs.brokers.held_acks import AckTogether, HoldsAcks
from jobs.brokers.on_demand import FindsActorsOnDemand
from jobs.brokers.redis_stranded import ReclaimsStrandedMessages
from jobs.brokers.redis_view import RedisView
from jobs.models import Job

logger = logging.getLogger(__name__)


class PoisonTolerantConsumer(dramatiq_redis._RedisConsumer):
    broker: RedisBroker

    def __next__(self) -> Any:
        while True:
            try:
                message = super().__next__()  # type: ignore[no-untyped-call]
            except DecodeError as error:
                self.set_aside(error.data, error.error)
                continue
            if message is not None:
                self.broker.handed_out(self.queue_name, message.options["redis_message_id"])
            return message

    def requeue(self, messages: Iterable[Any]) -> None:
        """Dramatiq's requeue; a Redis timeout is a connection error, which Dramatiq's consumer
        thread survives (another error in its cleanup after a failed fetch ends the thread)."""
        messages = list(messages)
        try:
            super().requeue(messages)  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        self.broker.settled(self.queue_name, (m.options["redis_message_id"] for m in messages))

    def ack(self, message: Any) -> None:
        self._after_ledger_write(message, "ack")

    def nack(self, message: Any) -> None:
        self._after_ledger_write(message, "nack")

    def _after_ledger_write(self, message: Any, command: str) -> None:
        """Ack now, or once the job's ledger write is committed (jobs/worker/acks.py)."""
        ack = _HeldAck(self, message, command)
        hold = self.broker.take_hold(message)
        if hold is None:
            ack()
            return
        # Done with here: the prefetch may replace it now (Dramatiq's consumer fetches nothing,
        # and backs off, while fetched-but-unacked messages fill it). Until its ack the message
        # stays in Redis's set of this worker's unacked messages, recovered if the worker dies.
        self.queued_message_ids.discard(message.message_id)
        hold.then(ack)

    def set_aside(self, data: bytes, error: BaseException) -> None:
        """Move an undecodable payload out of the queue and record it (rare: may scan a set)."""
        broker = self.broker
        client = broker.client
        namespace, queue = broker.namespace, self.queue_name
        messages_key = f"{namespace}:{queue}.msgs"
        fetched = broker.unacked_ids(queue)
        redis_id = next((i for i in fetched if client.hget(messages_key, i) == data), None)
        client.rpush(f"{namespace}:{queue}.poison", data)
        if redis_id is not None:
            broker.do_ack(queue, redis_id)
        logger.error(
            "Undecodable message on queue %r moved to %s:%s.poison: %s",
            queue,
            namespace,
            queue,
            error,
        )
        try:
            Job.objects.create_undecodable(
                queue_name=queue,
                payload=data,
                error=repr(error),
                kept_in=f"the {queue}.poison list in Redis",
            )
        except Exception:  # the payload is safe in the poison list; the ledger row is a courtesy
            logger.exception("Could not record the undecodable message in the ledger.")


class _HeldAck(AckTogether):
    """A message's ack (or nack) by its consumer; many of one broker's go in one pipeline."""

    def __init__(self, consumer: PoisonTolerantConsumer, message: Any, command: str) -> None:
        self.consumer, self.message, self.command = consumer, message, command
        self.together_key = consumer.broker

    def __call__(self) -> None:
        consumer = dramatiq_redis._RedisConsumer
        single = consumer.ack if self.command == "ack" else consumer.nack
        single(self.consumer, self.message)  # type: ignore[no-untyped-call]
        self.consumer.broker.settled(self.consumer.queue_name, [self.redis_id])

    @property
    def redis_id(self) -> str:
        return str(self.message.options["redis_message_id"])

    def ack_all(self, acks: list[AckTogether]) -> None:
        """Dramatiq's ack script for each message, in one Redis round trip."""
        broker = self.consumer.broker
        pipeline = broker.client.pipeline(transaction=False)
        redis_acks = [ack for ack in acks if isinstance(ack, _HeldAck)]
        if len(redis_acks) != len(acks):
            raise TypeError(f"not all Redis acks: {acks!r}")
        for ack in redis_acks:
            do = getattr(broker, f"do_{ack.command}")
            do(ack.consumer.queue_name, ack.redis_id, client=pipeline)
        try:
            pipeline.execute()
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        for ack in redis_acks:
            broker.settled(ack.consumer.queue_name, [ack.redis_id])


class RedisBroker(
    FindsActorsOnDemand,
    HoldsAcks,
    ReclaimsStrandedMessages,
    RedisView,
    dramatiq_redis.RedisBroker,
):
    """Dramatiq's Redis broker whose consumers ack a message whose ledger write is pending once
    it is committed, set poison messages aside, and force maintenance periodically; a consumer
    restarted after an error requeues what its worker fetched and lost
    (jobs/brokers/redis_stranded.py); it answers the ledger's questions from its keys
    (jobs/brokers/redis_view.py)."""

    def __init__(self, *, maintenance_interval: float = 5.0, **options: Any) -> None:
        super().__init__(**options)
        self.maintenance_interval = maintenance_interval
        self._last_maintenance: dict[str, float] = {}
        self._maintenance_lock = threading.Lock()

    @property
    def consumer_class(self) -> type[PoisonTolerantConsumer]:
        return PoisonTolerantConsumer

    def enqueue_many(self, messages: Sequence[Message[Any]]) -> list[Message[Any]]:
        """`enqueue()` for many messages (no delay) in one round trip: Dramatiq's dispatch
        script run once per message in a Redis pipeline, where `enqueue()` waits for each.

        The middleware hooks run as for `enqueue()`. If Redis fails, an error is raised and
        some of the messages may have been enqueued all the same: the caller must treat them as
        unsent but safe to send again (the ledger's claim refuses a second delivery).
        """
        prepared = [m.copy(options={"redis_message_id": str(uuid.uuid4())}) for m in messages]
        for message in prepared:
            self.emit_before("enqueue", message, None)
        pipeline = self.client.pipeline(transaction=False)
        for message in prepared:
            redis_id = message.options["redis_message_id"]
            self.do_enqueue(message.queue_name, redis_id, message.encode(), client=pipeline)
        pipeline.execute()
        for message in prepared:
            self.emit_after("enqueue", message, None)
        return prepared

    def _dispatch(self, command: str) -> Callable[..., Any]:
        """Dramatiq 2.2.1's `_dispatch`, with the queue passed to the maintenance decision and
        an optional `client` (a pipeline) to run the script on."""
        dispatch = self.scripts["dispatch"]
        keys = [self.namespace]

        def do_dispatch(queue_name: str, *args: Any, client: Any = None) -> Any:
            arguments = [
                command,
                current_millis(),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                self._maintenance_due(command, queue_name),
                self._max_unpack_size(),  # type: ignore[no-untyped-call]
                *args,
            ]
            return dispatch(args=arguments, keys=keys, client=client)

        return do_dispatch

    def _maintenance_due(self, command: str, queue_name: str) -> int:
        if command in dramatiq_redis.MAINTENANCE_COMMAND_BLACKLIST:
            return 0
        now = time.monotonic()
        with self._maintenance_lock:
            if now - self._last_maintenance.get(queue_name, 0.0) >= self.maintenance_interval:
                self._last_maintenance[queue_name] = now
                return 1
        return self._should_do_maintenance(command)  # Dramatiq's own random 0.1 %
