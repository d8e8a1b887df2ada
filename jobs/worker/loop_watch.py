"""EventLoopWatch: says when an `async def` actor blocks its worker process's event loop.

Every async job of a worker process shares one event loop (Dramatiq's AsyncIO middleware): a
coroutine that calls blocking code (time.sleep, a sync HTTP client) stalls all of them, and its
time limit cannot stop it (jobs/worker/failures.py records that). Nothing can unblock it from
outside; what Offload does is say so at once: a thread posts a heartbeat to the loop every
CHECK_SECONDS, and when one has waited BLOCKED_SECONDS it logs a warning naming the async jobs
running in this process, and another when the loop answers again.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any

from dramatiq import Broker
from dramatiq.middleware import Middleware

from jobs.worker.failures import COROUTINE_STILL_RUNNING

logger = logging.getLogger(__name__)

CHECK_SECONDS = 0.5
BLOCKED_SECONDS = 2.0


class EventLoopWatch(Middleware):
    def __init__(self) -> None:
        self._running: dict[str, tuple[str, float]] = {}  # message id -> (actor, started)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._async_actors: set[str] = set()

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        try:
            from dramatiq.asyncio import get_event_loop_thread
        except ImportError:  # pragma: no cover (dramatiq without asyncio support)
            return
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            return  # no AsyncIO middleware: no event loop to watch
        self._stop.clear()
        threading.Thread(
            target=self._watch, args=(loop_thread.loop,), name="event-loop-watch", daemon=True
        ).start()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self._stop.set()

    def before_process_message(self, broker: Broker, message: Any) -> None:
        if self._is_async(broker, message.actor_name):
            with self._lock:
                self._running[message.message_id] = (message.actor_name, time.monotonic())

    def after_process_message(
        self, broker: Broker, message: Any, *, exception: BaseException | None = None, **_: Any
    ) -> None:
        with self._lock:
            if str(exception) == COROUTINE_STILL_RUNNING:
                # Given up by its worker thread, its coroutine still runs: named until the loop
                # answers again.
                actor, started = self._running.get(message.message_id, (message.actor_name, 0))
                self._running[message.message_id] = (f"{actor}, given up", started)
            else:
                self._running.pop(message.message_id, None)

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        with self._lock:
            self._running.pop(message.message_id, None)

    def _is_async(self, broker: Broker, actor_name: str) -> bool:
        if actor_name in self._async_actors:
            return True
        try:
            fn = broker.get_actor(actor_name).fn
        except Exception:  # noqa: BLE001  # an unknown actor is not ours to watch
            return False
        if inspect.iscoroutinefunction(inspect.unwrap(fn)):  # Dramatiq wraps async ones
            self._async_actors.add(actor_name)
            return True
        return False

    def _watch(self, loop: Any) -> None:
        answered = time.monotonic()
        blocked_since: float | None = None

        def beat() -> None:
            nonlocal answered
            answered = time.monotonic()

        while not self._stop.wait(CHECK_SECONDS):
            waited = time.monotonic() - answered
            if waited >= BLOCKED_SECONDS and blocked_since is None:
                blocked_since = answered
                logger.warning(
                    "The event loop of this worker process has not answered for %.1f s: an "
                    "async def actor runs blocking code. Every async job of this process waits "
                    "meanwhile. Async jobs running here: %s",
                    waited,
                    self._describe_running() or "none left",
                )
            elif waited < BLOCKED_SECONDS and blocked_since is not None:
                logger.warning(
                    "The event loop of this worker process answers again, after %.1f s blocked.",
                    answered - blocked_since,
                )
                blocked_since = None
                with self._lock:  # the given-up coroutines have finished by now, or yielded
                    for message_id in [
                        m for m, (actor, _) in self._running.items() if actor.endswith("given up")
                    ]:
                        del self._running[message_id]
            try:
                loop.call_soon_threadsafe(beat)
            except RuntimeError:
                return  # the loop is closed: the worker is stopping

    def _describe_running(self) -> str:
        now = time.monotonic()
        with self._lock:
            running = sorted(self._running.items(), key=lambda item: item[1][1])
        return ", ".join(
            f"job {message_id} ({actor}, for {now - started:.1f} s)"
            for message_id, (actor, started) in running
        )
