"""JobTracker: the Dramatiq middleware that writes every message's life into the ledger.

It must be FIRST in JOBS_BROKER["MIDDLEWARE"]: `before_*` hooks run in list order, so the
claim happens before any other middleware or the actor; `after_*` hooks run in reverse, so the
tracker records the outcome after Retries decided it and TimeLimit disarmed (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from django.db import DatabaseError, close_old_connections, connections
from dramatiq import Broker, Message
from dramatiq.broker import MessageProxy
from dramatiq.errors import ActorNotFound, Retry
from dramatiq.middleware import Middleware, MiddlewareError, SkipMessage

from jobs.brokers.identity import broker_id
from jobs.ledger import transitions
from jobs.ledger.messages import (
    RECORDED_OPTION,
    REQUEST_OPTION,
    delivery_id,
    eta_of,
    message_job_id,
)
from jobs.ledger.redaction import ACTOR_OPTION as SECRET_ARGUMENTS_OPTION
from jobs.ledger.requests import ClaimRequest, SuccessRequest
from jobs.ledger.results import (
    SECRET_RESULT_KEYS_OPTION,
    ResultNotStorableError,
    storable_result,
)
from jobs.ledger.retries import (
    CLAIM_WRITE_BUDGET,
    OUTCOME_WRITE_BUDGET,
    write_with_retries,
)
from jobs.ledger.unique import UNIQUE_OPTION
from jobs.logs.context import job_context
from jobs.models import Job, JobStatus
from jobs.worker.exactly_once import set_running_claim
from jobs.worker.failures import explained
from jobs.worker.hooks import FINAL_FAILURE_OPTION, call_final_failure_hook
from jobs.worker.process import WorkerLedger
from jobs.worker.records import (
    create_from_message,
    record_refusal,
    record_unrunnable,
    record_unseen_send,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


#: A delivery whose claim the database refused is tried again this much later.
LEDGER_UNAVAILABLE_DELAY_MS = 2000


class LedgerUnavailableError(MiddlewareError, Retry):
    """The claim could not be written: no actor code runs unrecorded. A MiddlewareError, so
    Dramatiq does not swallow it; a Retry, so Retries sends the message again after
    LEDGER_UNAVAILABLE_DELAY_MS rather than the actor's backoff. The raiser keeps the
    delivery out of the job's retry count: the actor never ran, and a database outage must
    not use up its retries and fail a job that never started."""


@dataclass
class Claim:
    job_id: uuid.UUID
    attempt: int
    started_at: dt.datetime
    worker: str
    retry_eta: dt.datetime | None = None
    #: Its success was committed with the actor's own writes (jobs/worker/exactly_once.py).
    committed: bool = False


def claim_slowly(
    broker: Broker, message: MessageProxy, request: ClaimRequest, failed_for_good: list[str]
) -> tuple[int, dt.datetime] | None:
    """The rare cases of a claim: a redelivery after a lost worker, or a job not recorded when
    the first claim ran. A bare `actor.send()` records its row in the sender's after_enqueue,
    which may land just after that claim: whoever inserted it (the sender, or this thread now),
    the claim is tried again on the row. A job failed for good (its worker kept dying) appends
    the reason to `failed_for_good` and is not claimed."""
    identity: dict[str, Any] = {
        "retries": request.retries,
        "worker": request.worker,
        "worker_id": broker_id(broker),
        "delivery_id": request.delivery_id,
    }
    won = transitions.reclaim_after_worker_lost(request.job_id, **identity)
    if isinstance(won, str):
        failed_for_good.append(won)
        return None
    if won is None:
        if not Job.objects.filter(pk=request.job_id).exists():
            create_from_message(broker, message)
        won = transitions.claim(request.job_id, **identity)
    return won


def ledger_unavailable(message: MessageProxy, error: DatabaseError) -> LedgerUnavailableError:
    """The error for a claim the database refused, the delivery kept out of the retry count."""
    logger.warning(
        "Could not claim job %s (%s); delivered again in %d ms.",
        message.message_id,
        error,
        LEDGER_UNAVAILABLE_DELAY_MS,
    )
    # Retries adds one back: this delivery was not an attempt.
    message.options["retries"] = message.options.get("retries", 0) - 1
    return LedgerUnavailableError(
        f"Job ledger unavailable: {error}", delay=LEDGER_UNAVAILABLE_DELAY_MS
    )


def worker_identity() -> str:
    """host:pid:thread, shown in the admin (stable for a thread, so callers may cache it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class JobTracker(Middleware):
    """Records enqueue, claim, success, retry, failure and skip of every message."""

    # Lets actors declare arguments to redact in the ledger (jobs/ledger/redaction.py) and
    # result keys to hide where people see results (jobs/ledger/results.py).
    actor_options = {
        SECRET_ARGUMENTS_OPTION,
        SECRET_RESULT_KEYS_OPTION,
        UNIQUE_OPTION,
        FINAL_FAILURE_OPTION,
    }

    def __init__(self) -> None:
        self._local = threading.local()
        #: This worker process's writer and acker threads: the path of every claim and success
        #: (jobs/worker/process.py).
        self.process = WorkerLedger()

    # --- enqueue side (web process, or a worker sending follow-up jobs) -------------------

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int | None) -> None:
        claim: Claim | None = getattr(self._local, "claim", None)
        if claim is not None and claim.job_id == message_job_id(message):
            # Retries re-enqueuing the message this thread is processing: remember when the
            # next attempt is due, for after_process_message to record.
            claim.retry_eta = eta_of(message)
            return
        if message.options.get(RECORDED_OPTION) or message.options.get("retries"):
            # Sent through jobs.outbox.send (which records it), or a retry or delay-queue hop
            # of a job already recorded.
            return
        record_unseen_send(broker, message)

    # --- worker side ------------------------------------------------------------------------

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._local.claim = None
        # Once per message, as Django does once per request: drop a connection that broke or
        # expired while this thread was idle (the next query runs the health check).
        close_old_connections()
        job_id = message_job_id(message)
        retries = message.options.get("retries", 0)
        worker = getattr(self._local, "worker", None) or worker_identity()
        self._local.worker = worker
        # Every log line of this attempt, ours and Dramatiq's, says which job it is about.
        job_context.set(
            {
                "job_id": str(job_id),
                "actor": message.actor_name,
                "attempt": retries + 1,
                "worker": worker,
                # The request that caused the job, for a search across web and worker logs.
                **({"request_id": rid} if (rid := message.options.get(REQUEST_OPTION)) else {}),
            }
        )
        request = ClaimRequest(job_id, retries, worker, delivery_id(message))

        failed_for_good: list[str] = []
        try:
            won = self.process.claim(request)
            if won is None:
                won = write_with_retries(
                    lambda: claim_slowly(broker, message, request, failed_for_good),
                    "claim",
                    budget=CLAIM_WRITE_BUDGET,
                )
        except DatabaseError as exc:
            raise ledger_unavailable(message, exc) from exc

        if won is None:
            for reason in failed_for_good[-1:]:
                call_final_failure_hook(broker, message, reason)
            if record_refusal(job_id, retries, worker) == JobStatus.FAILED:
                message.fail()  # dead-letter it, as the ledger says failed
            raise SkipMessage(f"job {job_id} is not expecting attempt {retries + 1}")
        attempt, started_at = won
        self._local.claim = Claim(job_id, attempt, started_at, worker)
        set_running_claim(self._local.claim)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        try:
            self._record_skipped(message)
        finally:
            job_context.set(None)

    def _record_skipped(self, message: MessageProxy) -> None:
        claim = self._take_claim(message)
        if claim is None:
            return  # refused by our own claim: already recorded
        reason = "Skipped by middleware (e.g. the message exceeded its age limit)."
        self._record(
            "skipped",
            claim,
            lambda: transitions.mark_skipped(
                claim.job_id, attempt=claim.attempt, worker=claim.worker, reason=reason
            ),
        )

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            self._record_outcome(broker, message, result, exception)
        finally:
            job_context.set(None)

    def _record_outcome(
        self, broker: Broker, message: MessageProxy, result: Any, exception: BaseException | None
    ) -> None:
        claim = self._take_claim(message)
        if claim is None:
            return  # not claimed (refused, or the ledger was unavailable: said so then)
        if exception is None and claim.committed:
            return  # written in the actor's own transaction: the ack may go
        if exception is None:
            try:
                stored = storable_result(result)
            except ResultNotStorableError as error:
                # Running it again would return the same: fail it for good, dead-lettered.
                message.fail()
                exception = error
            else:
                success = SuccessRequest(
                    claim.job_id, claim.attempt, claim.started_at, claim.worker, stored
                )
                self.process.succeeded(
                    message, success, lambda settled: self._report("succeeded", claim, settled)
                )
                return
        self._record_failure(broker, message, claim, exception)

    def _record_failure(
        self, broker: Broker, message: MessageProxy, claim: Claim, error: BaseException
    ) -> None:
        # Retries has run before us: it either failed the message for good or re-enqueued it.
        final = bool(message.failed) or claim.retry_eta is None
        raised = error
        error, text = explained(raised, broker, message, claim.started_at)
        moved = self._record(
            "failed" if final else "retrying",
            claim,
            lambda: transitions.mark_attempt_failed(
                claim.job_id,
                attempt=claim.attempt,
                started_at=claim.started_at,
                worker=claim.worker,
                exception_type=transitions.exception_type_of(error),
                message=text,
                traceback="".join(traceback.format_exception(raised)),
                final=final,
                eta=claim.retry_eta,
                arguments=(message.args, message.kwargs),
            ),
        )
        if final and moved:
            call_final_failure_hook(broker, message, f"{type(error).__name__}: {text}")

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        """A dead-lettered message that never ran (e.g. an actor renamed by a deploy)."""
        error = getattr(message, "_exception", None)
        if not isinstance(error, ActorNotFound):
            return  # a failure after running: already recorded by after_process_message
        record_unrunnable(broker, message)

    # --- the process's ledger writer and acker -------------------------------------------

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        self.process.start(broker)

    def join_acks(self) -> None:
        """Wait for the acks held for the ledger: call after `Worker.join()` (tests, commands
        that run a worker in-process), which does not wait for them."""
        self.process.join_acks()

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self.process.stop(ack_timeout=OUTCOME_WRITE_BUDGET + 10)

    # --- connection lifecycle (what django-dramatiq's DbConnectionsMiddleware did at shutdown) --

    def before_worker_thread_shutdown(self, broker: Broker, thread: Any) -> None:
        connections.close_all()

    def before_consumer_thread_shutdown(self, broker: Broker, thread: Any) -> None:
        connections.close_all()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        connections.close_all()

    def _take_claim(self, message: MessageProxy) -> Claim | None:
        claim: Claim | None = getattr(self._local, "claim", None)
        self._local.claim = None
        set_running_claim(None)
        if claim is None or claim.job_id != message_job_id(message):
            return None
        return claim

    def _record(self, what: str, claim: Claim, write: Callable[[], bool]) -> bool:
        """An outcome written now, in this thread, retried on database errors; whether the job
        moved."""
        return self._report(
            what, claim, partial(write_with_retries, write, what, budget=OUTCOME_WRITE_BUDGET)
        )

    def _report(self, what: str, claim: Claim, outcome: Callable[[], bool]) -> bool:
        """Wait for an outcome's write (which retries on its own) and say loudly if it is
        lost: Dramatiq would swallow the error. Whether the job moved."""
        try:
            moved = outcome()
            if not moved:
                logger.warning(
                    "Job %s attempt %d: %s not applied, the job moved on meanwhile.",
                    claim.job_id,
                    claim.attempt,
                    what,
                )
        except DatabaseError:
            # Dramatiq would swallow this: say it loudly. The job stays "running" with this
            # worker and attempt, which is what stuck-job detection looks for.
            logger.critical(
                "LEDGER WRITE LOST: job %s attempt %d finished as %s but could not be recorded.",
                claim.job_id,
                claim.attempt,
                what,
                exc_info=True,
            )
            return False
        return moved
