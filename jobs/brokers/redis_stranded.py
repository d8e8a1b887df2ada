"""Messages a live Redis worker fetched and then lost, put back in their queue.

Dramatiq's fetch script moves messages from the queue into the worker's set of unacked
messages (`__acks__.<worker>.<queue>`) and returns them. When Redis is frozen the fetch times
out, and Redis runs it all the same when it thaws: the messages are in the set, the reply is
lost. A consumer restarted after a connection error also drops what its predecessor held (its
prefetched messages, and Dramatiq's local delay queue). Redis keeps all of them in the set of a
worker that is alive, where maintenance never looks: they would wait for the worker's death.

So when a consumer thread consumes a queue again (Dramatiq's restart after an error), every
message in the set that this process did not hand to its worker threads goes back to the queue.
The messages handed out stay: they are being run, waiting to be run, or waiting for their ack.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import redis
from dramatiq.common import dq_name, q_name
from dramatiq.errors import ConnectionClosed

logger = logging.getLogger(__name__)


class ReclaimsStrandedMessages:
    """Mixin for jobs.brokers.redis.RedisBroker: its consumer reports what it hands out
    (`handed_out`) and what it acks, nacks or requeues (`settled`)."""

    if TYPE_CHECKING:

        def unacked_ids(self, queue_name: str) -> set[str]: ...  # jobs.brokers.redis_view
        def do_requeue(self, queue_name: str, *redis_ids: str) -> Any: ...  # Dramatiq's broker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_out: defaultdict[str, set[str]] = defaultdict(set)
        self._consuming: defaultdict[str, set[threading.Thread]] = defaultdict(set)
        self._handed_out_lock = threading.Lock()

    def handed_out(self, queue_name: str, redis_id: str) -> None:
        with self._handed_out_lock:
            self._handed_out[queue_name].add(redis_id)

    def settled(self, queue_name: str, redis_ids: Iterable[str]) -> None:
        with self._handed_out_lock:
            self._handed_out[queue_name].difference_update(redis_ids)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        thread = threading.current_thread()
        with self._handed_out_lock:
            consumers = self._consuming[queue_name]
            consumers.intersection_update(t for t in consumers if t.is_alive())
            restart, alone = thread in consumers, consumers <= {thread}
            consumers.add(thread)
        # Another live thread consuming the queue (two Workers on one broker, in tests) may hold
        # prefetched messages this process has not handed out yet: nothing can be told stranded.
        if restart and alone:
            self.reclaim_stranded(queue_name)
        return super().consume(queue_name, prefetch, timeout)  # type: ignore[misc]

    def reclaim_stranded(self, queue_name: str) -> list[str]:
        """Requeue this process's unacked messages of the queue that no worker thread holds.

        A delay queue's messages are held by its consumer thread alone (Dramatiq's local delay
        queue, empty when the consumer restarts): all of them go back. A message acked between
        the two reads is not requeued: Dramatiq's requeue moves only what is still in the set.
        """
        try:
            unacked = self.unacked_ids(queue_name)
            if queue_name == dq_name(q_name(queue_name)):
                held: set[str] = set()
            else:
                with self._handed_out_lock:
                    held = set(self._handed_out[queue_name])
            stranded = sorted(unacked - held)
            if stranded:
                self.do_requeue(queue_name, *stranded)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]
        self.settled(queue_name, stranded)
        if stranded:
            logger.warning(
                "Requeued %d message(s) of queue %r that this worker had fetched but lost "
                "(a fetch whose reply timed out, or a consumer restarted after an error).",
                len(stranded),
                queue_name,
            )
        return stranded
