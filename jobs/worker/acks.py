"""Acks that wait for the ledger: a worker thread hands its job's success to the ledger writer
and goes on to its next message at once; the message is acked (removed from Redis) only once
that success is committed, by one "acker" thread per worker process.

Why: waiting for the success write was half of the time a worker thread spent on the ledger
(docs/PERFORMANCE.md). Why it loses nothing: the ack still follows the commit, so a worker
killed in between leaves an unacked message whose redelivery finds the job `succeeded` and is
refused, or finds it `running` and, its worker gone, runs it again: what happens when a worker
dies while its thread waits, as before. Dramatiq emits `after_ack` when the worker thread hands
the message over, not when it is acked: no middleware of ours relies on it.

The consumer (jobs/brokers/redis.py) acks through the hold the tracker (jobs/worker/tracker.py)
gave its broker, which it does only for brokers that hold acks (jobs/brokers/held_acks.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from dramatiq.errors import BrokerConnectionError

from jobs.brokers.held_acks import AckTogether

logger = logging.getLogger(__name__)

#: As Dramatiq's own post_process_message: an ack retried while Redis is unreachable.
RETRY_DELAY = 1.0
#: Most holds settled and acked together.
MAX_GROUP = 200


class Hold:
    """A message's ack (or nack), held until `settle` returns: it waits for the ledger write
    and reports its outcome."""

    __slots__ = ("_acker", "_settle")

    def __init__(self, acker: Acker, settle: Callable[[], None]) -> None:
        self._acker = acker
        self._settle = settle

    def then(self, ack: Callable[[], None]) -> None:
        """Run `ack` once the write is settled (called by the consumer instead of acking)."""
        self._acker.put(self._settle, ack)


class Acker:
    """The thread that settles holds in the order they came and acks their messages (one is
    enough: an ack is one Redis round trip, and one batch settles many holds at once)."""

    def __init__(self) -> None:
        # A Queue, not a SimpleQueue: join() waits for what was put (Worker.join() does not).
        self._queue: queue.Queue[tuple[Callable[[], None], Callable[[], None]] | None] = (
            queue.Queue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-acker", daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ack everything held so far (waiting for its writes), then end the thread. The
        ledger writer must still be running: the held writes are its."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def hold(self, settle: Callable[[], None]) -> Hold:
        return Hold(self, settle)

    def put(self, settle: Callable[[], None], ack: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put((settle, ack))
                return
        _settle_then_ack(settle, ack)  # stopped: a late worker thread acks for itself

    def join(self) -> None:
        """Wait until every ack held so far is done: Dramatiq's Worker.join() returns once the
        worker threads are idle, before the acks they left here."""
        self._queue.join()

    def _run(self) -> None:
        stopping = False
        while not stopping and (item := self._queue.get()) is not None:
            # What else is held already goes with it: its writes settle in order, then its
            # acks go in one round trip where the broker can (AckTogether).
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
            try:
                _settle_then_ack_all(group)
            finally:
                for _ in group:
                    self._queue.task_done()
        self._queue.task_done()  # the stop marker


def _settle_then_ack_all(group: list[tuple[Callable[[], None], Callable[[], None]]]) -> None:
    for settle, _ in group:
        _settle(settle)
    together: dict[object, list[AckTogether]] = {}
    for _, ack in group:
        if isinstance(ack, AckTogether):
            together.setdefault(ack.together_key, []).append(ack)
        else:
            _ack(ack)
    for acks in together.values():
        try:
            acks[0].ack_all(acks) if len(acks) > 1 else _ack(acks[0])
        except Exception:
            logger.warning("Acking %d messages together failed; one by one.", len(acks))
            for ack in acks:
                _ack(ack)


def _settle_then_ack(settle: Callable[[], None], ack: Callable[[], None]) -> None:
    _settle(settle)
    _ack(ack)


def _settle(settle: Callable[[], None]) -> None:
    try:
        settle()
    except Exception:  # a bug in reporting must not keep the message from its ack
        logger.exception("Settling a held ack failed; acking anyway.")


def _ack(ack: Callable[[], None]) -> None:
    while True:
        try:
            ack()
            return
        except BrokerConnectionError as exc:
            logger.warning("Could not ack a message (%s); retrying in %.0f s.", exc, RETRY_DELAY)
            time.sleep(RETRY_DELAY)
        except Exception:
            # Unacked, the message is redelivered once this worker is gone, and its claim
            # refuses it: the ledger already says how the job ended.
            logger.exception("Could not ack a message; it will be redelivered and refused.")
            return
