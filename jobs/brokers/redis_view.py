"""The Redis broker's answers to the ledger (jobs/brokers/view.py), read from Dramatiq's storage
format: a queue is a list of message ids (`ns:queue`) beside a hash of their payloads
(`ns:queue.msgs`), delayed messages are in `ns:queue.DQ`, dead letters in `ns:queue.XQ` (a
sorted set), worker heartbeats in `ns:__heartbeats__`, a worker's fetched and unacked messages in
`ns:__acks__.<broker id>.<queue>`. Only this module reads those keys."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from jobs.brokers.view import Place, QueueState


class RedisView:
    """Mixin for jobs.brokers.redis.RedisBroker (its `client`, `namespace`, heartbeat timeout)."""

    client: Any
    namespace: str
    broker_id: str
    heartbeat_timeout: int  # milliseconds

    if TYPE_CHECKING:

        def get_declared_queues(self) -> set[str]: ...  # Dramatiq's Broker

    @property
    def worker_timeout_seconds(self) -> float:
        return self.heartbeat_timeout / 1000

    def ping(self) -> None:
        self.client.ping()

    def queue_states(self) -> list[QueueState]:
        queues = sorted(q for q in self.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
        pipe: Any = self.client.pipeline(transaction=False)
        for queue in queues:
            base = f"{self.namespace}:{queue}"
            pipe.llen(base).hlen(f"{base}.msgs").hlen(f"{base}.DQ.msgs").zcard(f"{base}.XQ")
            pipe.lindex(base, 0)
        replies = pipe.execute()
        states = []
        for index, queue in enumerate(queues):
            waiting, stored, delayed, dead, head = replies[index * 5 : index * 5 + 5]
            states.append(
                QueueState(
                    name=queue,
                    waiting=waiting,
                    in_workers=max(0, stored - waiting),
                    delayed=delayed,
                    dead=dead,
                    oldest_age=self._age_of(f"{self.namespace}:{queue}.msgs", head),
                )
            )
        return states

    def _age_of(self, messages_key: str, redis_id: bytes | None) -> float | None:
        if redis_id is None:
            return None
        payload = self.client.hget(messages_key, redis_id)
        try:
            enqueued_ms = json.loads(payload)["message_timestamp"]
        except (TypeError, ValueError, KeyError):
            return None
        return max(0.0, time.time() - float(enqueued_ms) / 1000)

    def unacked_ids(self, queue_name: str) -> set[str]:
        """The ids of the messages this process fetched from the queue and has not acked."""
        acks_key = f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}"
        return {_text(redis_id) for redis_id in self.client.smembers(acks_key)}

    def live_worker_ids(self) -> set[str] | None:
        cutoff = time.time() * 1000 - self.heartbeat_timeout
        members = self.client.zrangebyscore(f"{self.namespace}:__heartbeats__", cutoff, "+inf")
        return {_text(member) for member in members}

    def message_places(self, *, dead_only: bool) -> dict[str, Place] | None:
        where: dict[str, Place] = {}
        pattern = f"{self.namespace}:*.XQ.msgs" if dead_only else f"{self.namespace}:*.msgs"
        for raw_key in self.client.scan_iter(match=pattern, count=1000):
            key = _text(raw_key)
            place: Place = (
                "dead"
                if key.endswith(".XQ.msgs")
                else "delayed"
                if key.endswith(".DQ.msgs")
                else "live"
            )
            for _redis_id, payload in self.client.hscan_iter(key, count=1000):
                try:
                    where[json.loads(payload)["message_id"]] = place
                except (ValueError, KeyError, TypeError):
                    continue  # undecodable: the poison handling deals with it
        return where

    def forget_dead_letter(self, queue_name: str, job_id: str, delivery_id: str) -> None:
        """`delivery_id` is the Redis id of the job's last delivery (its dead copy's key);
        without one, the dead letters' hash is scanned."""
        dead_key = f"{self.namespace}:{queue_name}.XQ"
        redis_ids = [delivery_id] if delivery_id else []
        if not redis_ids:
            for redis_id, payload in self.client.hscan_iter(f"{dead_key}.msgs", count=1000):
                try:
                    if json.loads(payload)["message_id"] == job_id:
                        redis_ids.append(_text(redis_id))
                except (ValueError, KeyError, TypeError):
                    continue
        if redis_ids:
            self.client.pipeline(transaction=True).zrem(dead_key, *redis_ids).hdel(
                f"{dead_key}.msgs", *redis_ids
            ).execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
