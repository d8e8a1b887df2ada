"""Dramatiq's Redis broker with bounded crash recovery.

Dramatiq requeues a dead worker's unacked messages only during "maintenance", which runs on a
random 0.1% of Redis commands and only for the queue named in that command: with one idle worker
that is about 12 minutes on average (DESIGN.md). This broker also runs maintenance for each queue
at least every `maintenance_interval` seconds, so a SIGKILLed worker's jobs come back within
`heartbeat_timeout` + `maintenance_interval`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from dramatiq.brokers import redis as dramatiq_redis


class RedisBroker(dramatiq_redis.RedisBroker):
    def __init__(self, *, maintenance_interval: float = 5.0, **options: Any) -> None:
        super().__init__(**options)
        self.maintenance_interval = maintenance_interval
        self._last_maintenance: dict[str, float] = {}
        self._maintenance_lock = threading.Lock()
        self._dispatching = threading.local()

    def _dispatch(self, command: str) -> Callable[..., Any]:
        dispatch = super()._dispatch(command)

        def do_dispatch(queue_name: str, *args: Any) -> Any:
            # _should_do_maintenance() only gets the command: tell it the queue too.
            self._dispatching.queue_name = queue_name
            return dispatch(queue_name, *args)

        return do_dispatch

    def _should_do_maintenance(self, command: str) -> int:
        if command in dramatiq_redis.MAINTENANCE_COMMAND_BLACKLIST:
            return 0
        queue_name = getattr(self._dispatching, "queue_name", "")
        now = time.monotonic()
        with self._maintenance_lock:
            if now - self._last_maintenance.get(queue_name, 0.0) >= self.maintenance_interval:
                self._last_maintenance[queue_name] = now
                return 1
        return super()._should_do_maintenance(command)
