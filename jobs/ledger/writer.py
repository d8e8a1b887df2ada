"""LedgerWriter: one thread per process writes the ledger writes of all its threads together
(group commit), instead of every thread paying its own transactions: in a worker, the claims and
successes of its worker threads; in any process, the "queued" records of its sends
(`background_writer()`, which nobody waits for: see `LedgerWriter.sent`).

A worker thread hands its write over and waits for it, as it would for its own transaction: the
claim must be settled before the actor runs (it is what refuses duplicates), the success before
the message is acked (a job acked but recorded as running would be lost to the ledger). While
one batch is being written the next gathers, so batches grow with the load and a lone write
waits for nothing but itself: no timer, no added latency when idle. The background writer,
whose records nobody waits for, writes at most once per `linger` (SENT_LINGER) under load, to
gather the sends of many requests into one transaction: each transaction is one more the
requests' own could collide with.

Guarantees (tests/jobs/test_writer.py):
- Order: one thread writes every batch, in arrival order, and a batch holds at most one write
  per job (a second one waits for the next batch), so a job's events commit in the order its
  worker asked for them.
- No loss on shutdown: `stop()` writes everything handed over before it returns; a write handed
  over after that is done by the caller itself (see JobTracker).
- Database blips: a batch that fails with a connection or lock error is retried on a fresh
  connection until each write's own budget runs out; then only that write fails, with the error
  its caller would have had doing the write itself.
- A row that cannot be written (e.g. its job was deleted meanwhile) fails alone: the batch falls
  back to writing its requests one by one, a batch of one each.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

from django.db import DatabaseError, InterfaceError, OperationalError, connections

from jobs.ledger.batch_sql import write_batch
from jobs.ledger.requests import ClaimRequest, Request, SentRequest, SuccessRequest
from jobs.ledger.retries import backoff, reconnect, write_with_retries

logger = logging.getLogger(__name__)

#: Most writes per statement: bounds the statement's size and the time a lock is held.
MAX_BATCH = 200
#: The background writer writes its "queued" records at most once per this many seconds under
#: load, not once per request (each is a transaction the next request's could collide with; on
#: SQLite by sleeping for the lock); a record arriving after a quiet spell is written at once.
SENT_LINGER = 0.05


class WriterStoppedError(Exception):
    """The writer is not running (not started, or stopped): write directly instead."""


class _Handover:
    """One write handed to the writer thread, and its outcome for the waiting caller."""

    __slots__ = ("request", "deadline", "_waiting", "settled", "result", "error")

    def __init__(self, request: Request, deadline: float) -> None:
        self.request = request
        self.deadline = deadline
        # A lock held until the outcome is in: cheaper than an Event (a Condition and a new
        # waiter lock per wait), and this is paid twice per job.
        self._waiting = threading.Lock()
        self._waiting.acquire()
        self.settled = False
        self.result: Any = None
        self.error: BaseException | None = None

    def wait(self, timeout: float) -> bool:
        return self._waiting.acquire(timeout=timeout)

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.settled:
            return  # once only: the lock is released once
        self.result, self.error = result, error
        self.settled = True
        self._waiting.release()
        if error is not None and isinstance(self.request, SentRequest):
            # Nobody waits for a send's record: its failure is reported here instead.
            logger.error(
                "Could not record that job %s was sent (%s); it stays pending until the relay "
                "sends it again.",
                self.request.job_id,
                error,
            )


class LedgerWriter:
    """Group-commits the ledger writes that the threads of one process hand over: claims and
    successes (a worker's threads, which wait for them) and sends (fire and forget).

    `threads`: writer threads sharing the queue. One is the measured best (docs/PERFORMANCE.md:
    two made smaller batches that contend for the GIL and the database).
    """

    def __init__(
        self, *, worker_id: str, threads: int = 1, using: str = "default", linger: float = 0.0
    ) -> None:
        self.worker_id = worker_id
        self.threads = threads
        self.using = using
        self.linger = linger
        self._last_write = float("-inf")  # time.monotonic() when the last batch was written
        self._queue: queue.SimpleQueue[_Handover | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accepting = False

    @property
    def running(self) -> bool:
        return self._accepting

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            self._threads = [
                threading.Thread(target=self._run, name=f"ledger-writer-{n}", daemon=True)
                for n in range(self.threads)
            ]
            self._accepting = True
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Write everything handed over so far, then end the threads."""
        with self._lock:
            threads, self._threads = self._threads, []
            self._accepting = False
            for _ in threads:  # after every handover: they were all put under this lock
                self._queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # --- callers (worker threads) -----------------------------------------------------------

    def claim(self, request: ClaimRequest, *, budget: float) -> tuple[int, dt.datetime] | None:
        """A claim through the writer, waited for: (attempt, started_at), or None if refused."""
        result: tuple[int, dt.datetime] | None = self._hand_over(request, budget)
        return result

    def succeeded(self, request: SuccessRequest, *, budget: float) -> Callable[[], bool]:
        """Hand the success over now; the function returned waits for it and says whether the
        job moved (jobs/worker/process.py: the message's ack waits, not the worker thread)."""
        handover = self._submit(request, budget)
        return lambda: bool(self._outcome(handover, budget))

    def sent(self, request: SentRequest, *, budget: float) -> None:
        """A send's record, in the background: the caller does not wait.

        Safe because the send already happened: if this write is lost (the process dies first,
        or the database stays down past `budget`), the job stays `pending` and the relay sends
        it again, and the worker's claim refuses the second delivery.
        """
        self._hand_over(request, budget, wait=False)

    def _hand_over(self, request: Request, budget: float, *, wait: bool = True) -> Any:
        handover = self._submit(request, budget)
        return self._outcome(handover, budget) if wait else None

    def _submit(self, request: Request, budget: float) -> _Handover:
        handover = _Handover(request, time.monotonic() + budget)
        with self._lock:
            if not self._accepting:
                raise WriterStoppedError
            self._queue.put(handover)
        return handover

    @staticmethod
    def _outcome(handover: _Handover, budget: float) -> Any:
        # The writer settles every handover (even on its own bugs); the timeout only guards
        # against a writer thread killed from outside.
        if not handover.wait(budget + 60):
            raise OperationalError("the ledger writer did not answer")
        if handover.error is not None:
            raise handover.error
        return handover.result

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        held: list[_Handover] = []  # second writes for a job already in the last batch
        stopping = False
        try:
            while not (stopping and not held):
                batch, held = held, []
                if not batch and not stopping:
                    first = self._queue.get()
                    if first is None:
                        break
                    batch.append(first)
                    stopping = self._linger(batch)
                while not stopping and len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                    else:
                        batch.append(item)
                seen: set[uuid.UUID] = set()
                now: list[_Handover] = []
                for handover in batch:
                    job_id = handover.request.job_id
                    (held if job_id in seen else now).append(handover)
                    seen.add(job_id)
                self._write(now)
                self._last_write = time.monotonic()
        finally:
            connections[self.using].close()

    def _linger(self, batch: list[_Handover]) -> bool:
        """Gather writes until `linger` seconds after the last batch was written: at most one
        transaction per `linger` under load, none delayed after a quiet spell (True if told to
        stop meanwhile)."""
        if not self.linger:
            return False
        deadline = self._last_write + self.linger
        while len(batch) < MAX_BATCH and (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is None:
                return True
            batch.append(item)
        return False

    def _write(self, batch: list[_Handover]) -> None:
        pending = batch
        delays = backoff()
        tries = 0
        while pending:
            tries += 1
            try:
                self._write_batch(pending)
                return
            except (OperationalError, InterfaceError) as exc:
                # The database went away or is locked: a fresh connection, and again. The batch
                # is one transaction, so nothing of it was written.
                reconnect(self.using)
                delay = next(delays)
                give_up = time.monotonic() + delay
                for handover in pending:
                    if handover.deadline < give_up:
                        handover.settle(error=exc)
                pending = [h for h in pending if not h.settled]
                logger.warning(
                    "Ledger batch of %d write(s) failed (try %d); retrying %d.",
                    len(batch),
                    tries,
                    len(pending),
                    exc_info=True,
                )
                time.sleep(delay)
            except DatabaseError:
                logger.warning(
                    "Ledger batch of %d write(s) refused; writing them one by one.",
                    len(pending),
                    exc_info=True,
                )
                self._one_by_one(pending)
                return
            except Exception as exc:  # a bug must fail the writes, never hang their callers
                logger.exception("Ledger writer failed on a batch of %d write(s).", len(pending))
                for handover in pending:
                    handover.settle(error=exc)
                return

    def _write_batch(self, batch: list[_Handover]) -> None:
        # Rows locked in id order: two processes' batches never wait on each other in a circle.
        batch = sorted(batch, key=lambda h: h.request.job_id)
        claims = [h for h in batch if isinstance(h.request, ClaimRequest)]
        successes = [h for h in batch if isinstance(h.request, SuccessRequest)]
        sends = [h for h in batch if isinstance(h.request, SentRequest)]
        outcome = write_batch(
            [cast(ClaimRequest, h.request) for h in claims],
            [cast(SuccessRequest, h.request) for h in successes],
            [cast(SentRequest, h.request) for h in sends],
            worker_id=self.worker_id,
            using=self.using,
        )
        for handover in claims:
            request = cast(ClaimRequest, handover.request)
            won = request.job_id in outcome.claimed
            handover.settle((request.retries + 1, outcome.at) if won else None)
        for handover in successes:
            handover.settle(handover.request.job_id in outcome.moved)
        for handover in sends:
            handover.settle(handover.request.job_id in outcome.sent)

    def _one_by_one(self, batch: Sequence[_Handover]) -> None:
        """Each write in its own transaction, a batch of one, so a row that cannot be written
        fails alone."""
        for handover in batch:
            budget = max(0.0, handover.deadline - time.monotonic())
            try:
                write_with_retries(partial(self._write_batch, [handover]), "ledger", budget=budget)
            except Exception as exc:
                handover.settle(error=exc)


_background: tuple[int, LedgerWriter] | None = None
_background_lock = threading.Lock()


def background_writer() -> LedgerWriter:
    """This process's writer for records nobody waits for (sends), started on first use and
    flushed at exit. Per process id: a forked child starts its own."""
    global _background
    with _background_lock:
        if _background is None or _background[0] != os.getpid():
            writer = LedgerWriter(worker_id="", linger=SENT_LINGER)
            writer.start()
            atexit.register(writer.stop, 10)
            _background = (os.getpid(), writer)
        return _background[1]
