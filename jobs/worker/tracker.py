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
from typing import Any, TypeVar

from django.db import DatabaseError, close_old_connections, connections
from dramatiq import Broker, Message
from dramatiq.broker import MessageProxy
from dramatiq.errors import ActorNotFound
from dramatiq.middleware import Middleware, MiddlewareError, SkipMessage

from jobs.brokers.identity import broker_id
from jobs.brokers.sealing import message_arguments
from jobs.ledger import transitions
from jobs.ledger.messages import (
    RECORDED_OPTION,
    AnyMessage,
    delivery_id,
    eta_of,
    max_retries_of,
    message_job_id,
)
from jobs.ledger.redaction import ACTOR_OPTION as SECRET_ARGUMENTS_OPTION
from jobs.ledger.redaction import SealError
from jobs.ledger.requests import ClaimRequest, SuccessRequest
from jobs.ledger.results import (
    SECRET_RESULT_KEYS_OPTION,
    ResultNotStorableError,
    storable_result,
)
from jobs.ledger.retries import (
    CLAIM_WRITE_BUDGET,
    OUTCOME_WRITE_BUDGET,
    SENT_WRITE_BUDGET,
    write_with_retries,
)
from jobs.ledger.unique import UNIQUE_OPTION
from jobs.log_context import job_context
from jobs.models import EventKind, Job, JobStatus
from jobs.worker.process import WorkerLedger

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LedgerUnavailableError(MiddlewareError):
    """The claim could not be written. A MiddlewareError, so Dramatiq does not swallow it:
    the attempt fails, Retries schedules another one, and no actor code runs unrecorded."""


@dataclass
class Claim:
    job_id: uuid.UUID
    attempt: int
    started_at: dt.datetime
    worker: str
    retry_eta: dt.datetime | None = None


def worker_identity() -> str:
    """host:pid:thread, shown in the admin (stable for a thread, so callers may cache it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class JobTracker(Middleware):
    """Records enqueue, claim, success, retry, failure and skip of every message."""

    # Lets actors declare arguments to redact in the ledger (jobs/ledger/redaction.py) and
    # result keys to hide where people see results (jobs/ledger/results.py).
    actor_options = {SECRET_ARGUMENTS_OPTION, SECRET_RESULT_KEYS_OPTION, UNIQUE_OPTION}
    #: Ack a success once it is committed, by the acker thread, where the broker can hold
    #: acks; False: each worker thread waits for its success's write (bench's variant).
    defer_acks = True

    def __init__(self) -> None:
        self._local = threading.local()
        #: This worker process's writer and acker threads (jobs/worker/process.py).
        self.process = WorkerLedger(defer_acks=self.defer_acks)

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
        try:
            write_with_retries(
                lambda: self._create_from_message(broker, message),
                "unseen",
                budget=SENT_WRITE_BUDGET,
            )
        except DatabaseError:
            # The message is in the broker and will be recorded when a worker claims it.
            logger.exception("Could not record that job %s was sent.", message.message_id)

    def _create_from_message(self, broker: Broker, message: AnyMessage) -> None:
        try:
            args, kwargs = message_arguments(message)  # re-sealed by the ledger as it stores them
        except SealError:  # sealed with a key we lack: recorded as it came, redacted
            args, kwargs = list(message.args), dict(message.kwargs)
        Job.objects.create_from_message(
            job_id=message_job_id(message),
            actor_name=message.actor_name,
            queue_name=message.queue_name.removesuffix(".DQ"),
            args=args,
            kwargs=kwargs,
            max_retries=max_retries_of(broker, message),
            eta=eta_of(message),
        )

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
            }
        )
        delivery = delivery_id(message)
        identity = {
            "retries": retries,
            "worker": worker,
            "worker_id": broker_id(broker),
            "delivery_id": delivery,
        }

        def claim_slowly() -> tuple[int, dt.datetime] | None:
            """The rare cases: a redelivery after a lost worker, or a job not recorded when the
            first claim ran. A bare `actor.send()` records its row in the sender's
            after_enqueue, which may land just after that claim: whoever inserted it (the
            sender, or this thread now), the claim is tried again on the row."""
            won = transitions.reclaim_after_worker_lost(job_id, **identity)
            if won is None:
                if not Job.objects.filter(pk=job_id).exists():
                    self._create_from_message(broker, message)
                won = transitions.claim(job_id, **identity)
            return won

        try:
            won = self.process.write(
                lambda writer: writer.claim(
                    ClaimRequest(job_id, retries, worker, delivery), budget=CLAIM_WRITE_BUDGET
                ),
                lambda: transitions.claim(job_id, **identity),
                "claim",
                budget=CLAIM_WRITE_BUDGET,
            )
            if won is None:
                won = write_with_retries(claim_slowly, "claim", budget=CLAIM_WRITE_BUDGET)
        except DatabaseError as exc:
            logger.exception("Could not claim job %s; failing the attempt.", job_id)
            raise LedgerUnavailableError(f"Job ledger unavailable: {exc}") from exc

        if won is None:
            if self._refuse(job_id, retries, worker) == JobStatus.FAILED:
                message.fail()  # dead-letter it, as the ledger says failed
            raise SkipMessage(f"job {job_id} is not expecting attempt {retries + 1}")
        attempt, started_at = won
        self._local.claim = Claim(job_id, attempt, started_at, worker)

    def _refuse(self, job_id: uuid.UUID, retries: int, worker: str) -> str | None:
        """Record a delivery that must not run: a duplicate, or the job is final/cancelled.

        Returns the job's status, or None if it could not be read.
        """
        try:
            job = Job.objects.only("status", "attempts").get(pk=job_id)
            reason = (
                f"Delivery for attempt {retries + 1} refused: job is {job.status} "
                f"with {job.attempts} attempt(s) recorded."
            )
            Job.objects.record_event(
                job_id, EventKind.SKIPPED, attempt=retries + 1, worker=worker, message=reason
            )
            logger.warning("Skipping job %s: %s", job_id, reason)
        except DatabaseError:
            logger.exception("Could not record the refused delivery of job %s.", job_id)
            return None
        return str(job.status)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        try:
            self._record_skipped(message)
        finally:
            job_context.set(None)

    def _record_skipped(self, message: MessageProxy) -> None:
        claim = self._take_claim(message)
        if claim is None:
            return  # refused by our own claim: already recorded
        self._finish(
            "skipped",
            lambda: write_with_retries(
                lambda: transitions.mark_skipped(
                    claim.job_id,
                    attempt=claim.attempt,
                    worker=claim.worker,
                    reason="Skipped by middleware (e.g. the message exceeded its age limit).",
                ),
                "skipped",
                budget=OUTCOME_WRITE_BUDGET,
            ),
            claim,
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
            self._record_outcome(message, result, exception)
        finally:
            job_context.set(None)

    def _record_outcome(
        self, message: MessageProxy, result: Any, exception: BaseException | None
    ) -> None:
        claim = self._take_claim(message)
        if claim is None:
            if isinstance(exception, LedgerUnavailableError):
                logger.error("Job %s attempt failed before it was claimed.", message.message_id)
            return
        if exception is None:
            try:
                result = storable_result(result)
            except ResultNotStorableError as error:
                # Running it again would return the same: fail it for good, dead-lettered.
                message.fail()
                exception = error
        if exception is None:
            success = SuccessRequest(
                claim.job_id,
                attempt=claim.attempt,
                started_at=claim.started_at,
                worker=claim.worker,
                result=result,
            )
            if self.process.hold_ack_for_success(
                message,
                success,
                lambda moved: self._finish("succeeded", moved, claim),
                budget=OUTCOME_WRITE_BUDGET,
            ):
                return
            self._finish(
                "succeeded",
                lambda: self.process.write(
                    lambda writer: writer.succeeded(success, budget=OUTCOME_WRITE_BUDGET),
                    lambda: transitions.mark_succeeded(
                        success.job_id,
                        attempt=success.attempt,
                        started_at=success.started_at,
                        worker=success.worker,
                        result=success.result,
                    ),
                    "succeeded",
                    budget=OUTCOME_WRITE_BUDGET,
                ),
                claim,
            )
            return
        # Retries has run before us: it either failed the message for good or re-enqueued it.
        final = bool(message.failed) or claim.retry_eta is None
        what = "failed" if final else "retrying"
        self._finish(
            what,
            lambda: write_with_retries(
                lambda: transitions.mark_attempt_failed(
                    claim.job_id,
                    attempt=claim.attempt,
                    started_at=claim.started_at,
                    worker=claim.worker,
                    exception_type=transitions.exception_type_of(exception),
                    message=str(exception),
                    traceback="".join(traceback.format_exception(exception)),
                    final=final,
                    eta=claim.retry_eta,
                    arguments=(message.args, message.kwargs),
                ),
                what,
                budget=OUTCOME_WRITE_BUDGET,
            ),
            claim,
        )

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        """A dead-lettered message that never ran (e.g. an actor renamed by a deploy)."""
        error = getattr(message, "_exception", None)
        if not isinstance(error, ActorNotFound):
            return  # a failure after running: already recorded by after_process_message
        reason = (
            f"No actor named {message.actor_name!r} in this worker (renamed or removed by a "
            "deploy?): the message was dead-lettered without running."
        )

        def record() -> None:
            job_id = message_job_id(message)
            self._create_from_message(broker, message)  # no-op if the job is already recorded
            transitions.mark_failed_unrunnable(job_id, reason=reason)

        try:
            write_with_retries(record, "unrunnable", budget=OUTCOME_WRITE_BUDGET)
        except DatabaseError:
            logger.critical("LEDGER WRITE LOST: %s (job %s)", reason, message.message_id)

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
        if claim is None or claim.job_id != message_job_id(message):
            return None
        return claim

    def _finish(self, what: str, write: Callable[[], bool], claim: Claim) -> None:
        """Run an outcome write (which retries on its own) and say loudly if it is lost."""
        try:
            if not write():
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
