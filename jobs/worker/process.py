"""The ledger machinery of one worker process: its group-commit writer (jobs/ledger/writer.py)
and its acker thread (jobs/worker/acks.py), started before the worker threads and stopped after
them. The tracker middleware owns one and calls it; nothing else in the tracker starts threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from dramatiq import Broker
from dramatiq.broker import MessageProxy

from jobs.brokers.held_acks import HoldsAcks
from jobs.brokers.identity import broker_id
from jobs.ledger.requests import SuccessRequest
from jobs.ledger.retries import write_with_retries
from jobs.ledger.writer import LedgerWriter, WriterStoppedError
from jobs.worker.acks import Acker

T = TypeVar("T")


class WorkerLedger:
    def __init__(self, *, defer_acks: bool) -> None:
        #: Ack a success once it is committed, by the acker thread, where the broker can hold
        #: acks; False: each worker thread waits for its success's write.
        self.defer_acks = defer_acks
        #: Group-commits the claims and successes of this process; None outside a worker (the
        #: web process) or after shutdown: writes go directly.
        self._writer: LedgerWriter | None = None
        #: None where the broker cannot hold acks: worker threads wait for their successes.
        self._acker: Acker | None = None
        self._holding_broker: HoldsAcks | None = None

    def start(self, broker: Broker) -> None:
        """Before the worker threads start, so that all their claims go through the writer."""
        if self._writer is None:
            self._writer = LedgerWriter(worker_id=broker_id(broker))
            self._writer.start()
        if self._acker is None and self.defer_acks and isinstance(broker, HoldsAcks):
            self._holding_broker = broker
            self._acker = Acker()
            self._acker.start()

    def stop(self, *, ack_timeout: float) -> None:
        """After the worker threads finished (or timed out): ack what waits for the writer,
        then write what they handed over."""
        acker, self._acker = self._acker, None
        if acker is not None:
            acker.stop(timeout=ack_timeout)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()

    def join_acks(self) -> None:
        """Wait for the acks held for the ledger (`Worker.join()` does not)."""
        if self._acker is not None:
            self._acker.join()

    def write(
        self,
        through_writer: Callable[[LedgerWriter], T],
        directly: Callable[[], T],
        what: str,
        *,
        budget: float,
    ) -> T:
        """A hot-path write through the process's writer, or directly without one."""
        writer = self._writer
        if writer is not None:
            try:
                return through_writer(writer)
            except WriterStoppedError:
                pass  # shutting down: this thread outlived the worker's stop timeout
        return write_with_retries(directly, what, budget=budget)

    def hold_ack_for_success(
        self,
        message: MessageProxy,
        success: SuccessRequest,
        report: Callable[[Callable[[], bool]], None],
        *,
        budget: float,
    ) -> bool:
        """Hand the success to the writer without waiting for it: the message's ack waits
        instead, and `report` gets the write's outcome. False where the broker cannot hold
        acks, or the writer has stopped: the caller writes and waits itself."""
        writer, acker, broker = self._writer, self._acker, self._holding_broker
        if writer is None or acker is None or broker is None:
            return False
        try:
            moved = writer.succeeded_later(success, budget=budget)
        except WriterStoppedError:
            return False
        broker.hold_ack(message, acker.hold(lambda: report(moved)))
        return True
