"""The private parts of Dramatiq the broker adapters rely on (jobs/brokers/redis.py and
rabbitmq.py) still have the shape they were written for: this fails on a Dramatiq release that
changed them, before production does."""

from __future__ import annotations

import inspect
from typing import Any

from dramatiq.brokers import rabbitmq as dramatiq_rabbitmq
from dramatiq.brokers import redis as dramatiq_redis

from jobs.brokers.redis import RedisBroker


def dispatched_arguments(broker: Any) -> list[Any]:
    calls: list[list[Any]] = []
    broker.scripts["dispatch"] = lambda args, keys, client=None: calls.append(list(args))
    broker._max_unpack_size = lambda: 7999  # asks Redis otherwise
    broker.do_enqueue("default", "redis-id", b"payload")
    (arguments,) = calls
    return arguments


def test_our_dispatch_passes_the_script_what_dramatiqs_passes():
    url = "redis://127.0.0.1:1"  # never connected to: the script is replaced
    ours = dispatched_arguments(RedisBroker(url=url, middleware=[]))
    stock = dispatched_arguments(dramatiq_redis.RedisBroker(url=url, middleware=[]))
    assert len(ours) == len(stock)
    # The same arguments in the same order, bar the time, the broker id and the maintenance flag.
    for index in (1, 3, 6):
        ours[index] = stock[index] = None
    assert ours == stock


def test_the_consumers_we_extend_keep_the_attributes_we_use():
    redis_init = inspect.getsource(dramatiq_redis._RedisConsumer.__init__)
    assert "self.queued_message_ids" in redis_init  # discarded when an ack is held
    # Its DecodeError is what our consumer catches to set a payload aside.
    assert "Message.decode(data)" in inspect.getsource(dramatiq_redis._RedisConsumer.__next__)
    rabbitmq_init = inspect.getsource(dramatiq_rabbitmq._RabbitmqConsumer.__init__)
    assert "self.iterator = self.channel.consume(" in rabbitmq_init  # wrapped to see bodies
    rabbitmq_next = inspect.getsource(dramatiq_rabbitmq._RabbitmqConsumer.__next__)
    assert "next(self.iterator)" in rabbitmq_next
    # An undecodable body is answered with None, which our consumer records (and no other body).
    assert "except DecodeError:" in rabbitmq_next
    assert dramatiq_redis.MAINTENANCE_COMMAND_BLACKLIST
