"""Poison input: an undecodable payload between valid messages, and a message for an actor that
no longer exists. Neither strands other jobs nor stops the worker; both are visible as failed."""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
import pytest
from dramatiq import Message

from jobs.models import UNDECODABLE_ACTOR, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import unacked, wait_for
from tests.faults.conftest import Workers
from tests.workbench.tasks import QUEUE, runs, slow_effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def push_raw(redis_client: Any, payload: bytes) -> None:
    """What Dramatiq's enqueue script does, with a payload no worker can decode."""
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    redis_id = str(uuid.uuid4())
    redis_client.hset(f"{namespace}:{QUEUE}.msgs", redis_id, payload)
    redis_client.rpush(f"{namespace}:{QUEUE}", redis_id)


def test_an_undecodable_payload_between_valid_messages_strands_none_of_them(
    workers: Workers, redis_client: Any, figures: dict[str, Any]
):
    before = [enqueue(slow_effect, f"valid-{n}", 0.0) for n in range(3)]
    push_raw(redis_client, b"\x80 this is not JSON {")
    after = [enqueue(slow_effect, f"valid-{n}", 0.0) for n in range(3, 6)]
    ids = [job.id for job in before + after]

    workers.start("a")  # starts after the queue is filled, so one fetch takes them all
    wait_for(
        lambda: Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 6,
        30,
        workers.logs,
    )
    poison = wait_for(lambda: Job.objects.filter(actor_name=UNDECODABLE_ACTOR).first(), 10)

    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    parked = redis_client.lrange(f"{namespace}:{QUEUE}.poison", 0, -1)
    figures.update(expected=6, succeeded=6, poison_recorded=1, stranded=0)
    assert parked == [b"\x80 this is not JSON {"]
    assert poison.status == JobStatus.FAILED
    assert "Undecodable" in poison.last_error
    # Nothing left unacked: each ack follows its success's commit, by the worker's acker
    # thread (jobs/worker/acks.py), so the last ones may land just after the ledger says so.
    wait_for(lambda: unacked(redis_client, QUEUE) == 0, 10, workers.logs)
    assert len(runs(workers.workdir, "done")) == 6
    assert workers.running["a"].process.poll() is None  # the worker is still up


@pytest.mark.rabbitmq
def test_an_undecodable_body_on_rabbitmq_is_dead_lettered_and_recorded(workers: Workers):
    broker: Any = dramatiq.get_broker()
    before = enqueue(slow_effect, "valid-before", 0.0)  # declares the queue
    broker.channel.basic_publish(exchange="", routing_key=QUEUE, body=b"\x80 this is not JSON {")
    after = enqueue(slow_effect, "valid-after", 0.0)

    workers.start("a")
    wait_for(
        lambda: Job.objects.filter(pk__in=[before.id, after.id], status="succeeded").count() == 2,
        30,
        workers.logs,
    )
    poison = wait_for(lambda: Job.objects.filter(actor_name=UNDECODABLE_ACTOR).first(), 10)
    assert poison.status == JobStatus.FAILED
    assert f"dead-letter queue {QUEUE}.XQ" in poison.last_error
    _waiting, _delayed, dead = wait_for(
        lambda: (counts := broker.get_queue_message_counts(QUEUE))[2] and counts, 10
    )
    assert dead == 1  # the body itself is kept by RabbitMQ


def test_a_message_for_an_unknown_actor_is_recorded_as_failed_with_the_reason(
    workers: Workers, figures: dict[str, Any]
):
    message: Message[Any] = Message(
        queue_name=QUEUE, actor_name="renamed_by_a_deploy", args=(1,), kwargs={}, options={}
    )
    dramatiq.get_broker().enqueue(message)
    healthy = enqueue(slow_effect, "after-the-unknown-one", 0.0)

    workers.start("a")
    failed = wait_for(
        lambda: Job.objects.filter(pk=message.message_id, status=JobStatus.FAILED).first(),
        30,
        workers.logs,
    )
    wait_for(lambda: Job.objects.filter(pk=healthy.id, status=JobStatus.SUCCEEDED).exists(), 30)

    figures.update(expected=2, succeeded=1, failed=1)
    assert "renamed_by_a_deploy" in failed.last_error
    assert "dead-lettered" in failed.last_error
