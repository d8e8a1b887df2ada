"""enqueue(): row in the caller's transaction, message on commit, nothing lost if Redis is down."""

from __future__ import annotations

import json
from typing import Any

import dramatiq
import pytest
from django.db import transaction
from django.test import Client

from accounts.models import User
from accounts.tasks import send_welcome_email
from jobs.models import Job, JobStatus
from jobs.outbox import enqueue, enqueue_many
from tests.conftest import point_broker_at
from tests.factories import event_kinds

pytestmark = pytest.mark.django_db


def queued_messages(redis_client, queue: str = "default") -> list[dict[str, Any]]:
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    key = f"{namespace}:{queue}.msgs"
    return [json.loads(raw) for raw in redis_client.hvals(key)]


def test_the_message_is_sent_on_commit_with_the_job_id_as_message_id(
    redis_url: str, redis_client, alice: User, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = enqueue(send_welcome_email, alice.pk, about=alice)
        assert queued_messages(redis_client) == []  # nothing sent before commit

    for callback in callbacks:
        callback()

    [message] = queued_messages(redis_client)
    assert message["message_id"] == str(job.id)
    assert message["args"] == [alice.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert job.sent_at is not None


def test_rolled_back_enqueue_leaves_no_row_and_sends_nothing(
    redis_url: str, redis_client, alice: User, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                enqueue(send_welcome_email, alice.pk)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass

    assert callbacks == []
    assert not Job.objects.exists()
    assert queued_messages(redis_client) == []


def test_signup_while_redis_is_down_answers_202_and_keeps_the_job_pending(
    redis_url: str, tmp_path, django_capture_on_commit_callbacks
):
    point_broker_at(f"unix://{tmp_path}/no-redis-here.sock")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().post(
                "/signup", {"email": "down@example.com"}, content_type="application/json"
            )
    finally:
        point_broker_at(redis_url)

    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == JobStatus.PENDING
    assert User.objects.filter(email="down@example.com").exists()


def test_enqueue_many_records_every_job_and_sends_them_all_on_commit(
    redis_url: str, redis_client, alice: User, bob: User, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs = enqueue_many(send_welcome_email, [(alice.pk,), (bob.pk,)], caused_by=alice)
        assert queued_messages(redis_client) == []  # nothing sent before commit
        assert [j.status for j in Job.objects.order_by("args")] == [JobStatus.PENDING] * 2

    for callback in callbacks:
        callback()

    messages = {m["message_id"]: m["args"] for m in queued_messages(redis_client)}
    assert messages == {str(jobs[0].id): [alice.pk], str(jobs[1].id): [bob.pk]}
    for job in Job.objects.filter(pk__in=[j.id for j in jobs]):
        assert job.status == JobStatus.QUEUED
        assert job.caused_by == alice
        assert event_kinds(job) == ["enqueued", "queued"]


def test_enqueue_many_rolled_back_leaves_no_row_and_sends_nothing(
    redis_url: str, redis_client, alice: User, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        enqueue_many(send_welcome_email, [(alice.pk,)] * 3)
        raise RuntimeError("roll back")

    assert callbacks == []
    assert not Job.objects.exists()
    assert queued_messages(redis_client) == []


def test_enqueue_many_while_redis_is_down_keeps_every_job_pending(
    redis_url: str, tmp_path, alice: User, django_capture_on_commit_callbacks
):
    point_broker_at(f"unix://{tmp_path}/no-redis-here.sock")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs = enqueue_many(send_welcome_email, [(alice.pk,)] * 3)
    finally:
        point_broker_at(redis_url)

    assert {j.status for j in Job.objects.filter(pk__in=[j.id for j in jobs])} == {
        JobStatus.PENDING
    }


def test_enqueue_many_sends_in_pipelined_chunks_and_each_message_is_whole(
    redis_url: str, redis_client, alice: User, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("jobs.outbox.SEND_CHUNK", 2)  # 5 jobs: pipelines of 2, 2 and 1
    with django_capture_on_commit_callbacks(execute=True):
        jobs = enqueue_many(send_welcome_email, [(alice.pk, n) for n in range(5)])

    messages = {m["message_id"]: m for m in queued_messages(redis_client)}
    assert set(messages) == {str(job.id) for job in jobs}
    for job in jobs:
        message = messages[str(job.id)]
        assert message["args"] == job.args
        assert message["actor_name"] == "send_welcome_email"
        assert message["options"]["redis_message_id"]  # as enqueue() gives it, for the ack
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    assert redis_client.llen(f"{namespace}:default") == 5  # each id in the queue's list
    statuses = Job.objects.filter(pk__in=[j.id for j in jobs]).values_list("status", flat=True)
    assert set(statuses) == {JobStatus.QUEUED}
