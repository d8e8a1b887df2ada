"""The ledger machinery of one worker process: its group-commit writer (jobs/ledger/writer.py)
and its acker thread (jobs/worker/acks.py), started before the worker threads and stopped after
them. The tracker middleware owns one and calls it; nothing else in the tracker starts threads.

A job's path through it, the only one:
- `claim()`: the worker thread hands its claim to the writer and waits for it (the claim is
  what refuses a duplicate delivery, so it must be settled before the actor runs).
- `succeeded()`: the worker thread hands the success to the writer and moves on; the message's
  ack waits for that write's commit, held by the broker's consumer and settled in order by the
  acker thread. Where the broker cannot hold acks (Dramatiq's StubBroker), the worker thread
  settles it itself before its ack: the same write, waited for by another thread.
Outside a worker (no writer, or after its stop) the same writes run in the calling thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from dramatiq import Broker
from dramatiq.broker import MessageProxy

from jobs.brokers.held_acks import HoldsAcks
from jobs.brokers.identity import broker_id
from jobs.ledger.batch_sql import write_batch
from jobs.ledger.requests import ClaimRequest, SuccessRequest
from jobs.ledger.retries import CLAIM_WRITE_BUDGET, OUTCOME_WRITE_BUDGET, write_with_retries
from jobs.ledger.writer import LedgerWriter, WriterStoppedError
from jobs.worker.acks import Acker

#: What a success's settling is told: the write's outcome (True: the job moved), to be read
#: by calling it (it raises the write's DatabaseError, if it failed for good).
Settled = Callable[[], bool]


class WorkerLedger:
    def __init__(self) -> None:
        #: Group-commits the claims and successes of this process; None outside a worker (the
        #: web process) or after shutdown: writes go directly.
        self._writer: LedgerWriter | None = None
        #: None where the broker cannot hold acks: worker threads settle their successes.
        self._acker: Acker | None = None
        self._holding_broker: HoldsAcks | None = None
        self._worker_id = ""

    def start(self, broker: Broker) -> None:
        """Before the worker threads start, so that all their claims go through the writer."""
        self._worker_id = broker_id(broker)
        if self._writer is None:
            self._writer = LedgerWriter(worker_id=self._worker_id)
            self._writer.start()
        if self._acker is None and isinstance(broker, HoldsAcks):
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

    def claim(self, request: ClaimRequest) -> tuple[int, dt.datetime] | None:
        """(attempt, started_at) if the claim won, else None (refused, or not recorded yet)."""
        writer = self._writer
        if writer is not None:
            try:
                return writer.claim(request, budget=CLAIM_WRITE_BUDGET)
            except WriterStoppedError:
                pass  # shutting down: this thread outlived the worker's stop timeout

        def directly() -> tuple[int, dt.datetime] | None:
            outcome = write_batch([request], [], worker_id=self._worker_id, prepared=False)
            return (request.retries + 1, outcome.at) if request.job_id in outcome.claimed else None

        return write_with_retries(directly, "claim", budget=CLAIM_WRITE_BUDGET)

    def succeeded(
        self, message: MessageProxy, request: SuccessRequest, report: Callable[[Settled], object]
    ) -> None:
        """Hand the success over; `report` gets its outcome before the message is acked."""
        settled = self._success_write(request)

        def settle() -> None:
            report(settled)

        acker, broker = self._acker, self._holding_broker
        if acker is not None and broker is not None:
            broker.hold_ack(message, acker.hold(settle))
        else:
            settle()

    def _success_write(self, request: SuccessRequest) -> Settled:
        writer = self._writer
        if writer is not None:
            try:
                return writer.succeeded(request, budget=OUTCOME_WRITE_BUDGET)
            except WriterStoppedError:
                pass

        def directly() -> bool:
            outcome = write_batch([], [request], worker_id=self._worker_id, prepared=False)
            return request.job_id in outcome.moved

        return lambda: write_with_retries(directly, "succeeded", budget=OUTCOME_WRITE_BUDGET)
