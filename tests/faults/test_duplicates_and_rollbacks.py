"""The same message enqueued twice runs its actor once; a rolled-back transaction leaves no job,
no message and no effect."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from django.db import transaction

from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import unacked, wait_for
from tests.faults.conftest import Workers
from tests.workbench.tasks import QUEUE, quick_effect, runs

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_same_message_enqueued_twice_runs_its_actor_once(
    workers: Workers, figures: dict[str, Any]
):
    message = quick_effect.message("twice")
    broker = dramatiq.get_broker()
    broker.enqueue(message)
    broker.enqueue(message)

    workers.start("a")
    workers.start("b")
    job = wait_for(
        lambda: Job.objects.filter(pk=message.message_id, status=JobStatus.SUCCEEDED).first(),
        30,
        workers.logs,
    )
    wait_for(lambda: job.events.filter(kind=EventKind.SKIPPED).exists(), 30, workers.logs)

    effects = runs(workers.workdir, "done")
    figures.update(expected=1, succeeded=1, deliveries=2, duplicate_side_effects=len(effects) - 1)
    assert len(effects) == 1
    assert job.attempts == 1


def test_a_rolled_back_transaction_leaves_no_job_no_message_and_no_effect(
    workers: Workers, redis_client: Any, figures: dict[str, Any]
):
    workers.start("a")
    kept = enqueue(quick_effect, "kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue(quick_effect, "rolled-back")
        raise RuntimeError("the request failed after enqueueing")

    wait_for(
        lambda: Job.objects.filter(pk=kept.id, status=JobStatus.SUCCEEDED).exists(),
        30,
        workers.logs,
    )
    effects = [line.split()[0] for line in runs(workers.workdir, "done")]
    figures.update(expected=1, jobs=Job.objects.count(), effects=len(effects))
    assert Job.objects.count() == 1
    assert effects == ["kept"]
    # Every message acked, the last one by the worker's acker thread just after its success
    # is committed (jobs/worker/acks.py).
    wait_for(lambda: unacked(redis_client, QUEUE) == 0, 10, workers.logs)
