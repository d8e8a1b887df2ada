"""Secret arguments: redacted wherever the ledger shows them, sealed for the sends needing them."""

from __future__ import annotations

import json
from typing import Any

import dramatiq
import pytest

import tests.workbench.tasks as workbench
from jobs.brokers.sealing import SEALED_OPTION, SealingEncoder
from jobs.ledger.redaction import (
    REDACTED,
    SealError,
    is_secret_name,
    open_arguments,
    seal_arguments,
)
from jobs.maintenance.relay import message_for
from jobs.models import Job
from jobs.outbox import enqueue

pytestmark = pytest.mark.django_db


def messages_in(redis_client, queue: str) -> list[dict[str, Any]]:
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    return [json.loads(raw) for raw in redis_client.hvals(f"{namespace}:{queue}.msgs")]


@pytest.mark.parametrize(
    "name", ["password", "new_password", "API_TOKEN", "client_secret", "api_key", "session_key"]
)
def test_names_that_look_secret_are_recognised(name: str):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["user_id", "email", "report_id", "author", "key"])
def test_ordinary_names_are_not_redacted(name: str):
    assert not is_secret_name(name)


def test_more_names_can_be_declared_in_settings(settings):
    settings.JOBS_SECRET_ARGUMENT_NAMES = ["email"]

    assert is_secret_name("contact_email")


def test_secret_keyword_and_positional_arguments_are_redacted_in_the_stored_job():
    job = enqueue(workbench.with_secrets, "k1", "tok-123", password="hunter2", iban="DE89")

    job.refresh_from_db()
    assert job.args == ["k1", REDACTED]  # api_token, by its parameter name
    assert job.kwargs == {"password": REDACTED, "iban": REDACTED}  # iban: declared by the actor
    for secret in ("tok-123", "hunter2", "DE89"):
        assert secret not in json.dumps([job.args, job.kwargs])
        assert secret not in job.sealed_arguments  # encrypted, not merely encoded


def test_the_rebuilt_message_carries_the_real_values():
    job = enqueue(workbench.with_secrets, "k1", "tok-123", password="hunter2", iban="DE89")
    job.refresh_from_db()

    message = message_for(job)

    assert message.args == ("k1", "tok-123")
    assert message.kwargs == {"password": "hunter2", "iban": "DE89"}


def test_a_bare_send_is_recorded_redacted_too(redis_url: str, redis_client):
    message = workbench.with_secrets.send("k2", "tok-456", password="pw")

    job = Job.objects.get(pk=message.message_id)
    assert job.args == ["k2", REDACTED]
    assert job.kwargs == {"password": REDACTED}
    [sent] = messages_in(redis_client, workbench.QUEUE)
    assert_sealed(sent, ("k2", "tok-456"), {"password": "pw"})


def test_the_message_sent_on_commit_carries_its_secrets_sealed(
    redis_url: str, redis_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(workbench.with_secrets, "k3", "tok-789", password="pw-789")

    [sent] = messages_in(redis_client, workbench.QUEUE)
    assert_sealed(sent, ("k3", "tok-789"), {"password": "pw-789"})


def assert_sealed(sent: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The broker holds no secret in clear; the worker opens exactly what was sent."""
    for secret in [*args[1:], *kwargs.values()]:
        assert secret not in json.dumps(sent)
    assert sent["args"][1] == REDACTED
    opened = open_arguments(sent["args"], sent["kwargs"], sent["options"][SEALED_OPTION])
    assert opened == (list(args), kwargs)


def test_sealed_arguments_open_after_a_key_rotation_with_the_old_key_kept(settings):
    stored = seal_arguments("with_secrets", ["k", "tok"], {})
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key"

    assert open_arguments(stored.args, stored.kwargs, stored.sealed) == (["k", "tok"], {})


def test_sealed_arguments_refuse_to_open_with_a_foreign_key(settings):
    stored = seal_arguments("with_secrets", ["k", "tok"], {})
    settings.SECRET_KEY = "a-new-key"

    with pytest.raises(SealError, match="SECRET_KEY_FALLBACKS"):
        open_arguments(stored.args, stored.kwargs, stored.sealed)


def test_jobs_without_secrets_store_nothing_sealed():
    stored = seal_arguments("with_secrets", ["k"], {"other": 1})

    assert stored.sealed == ""
    assert stored.args == ["k"]


@pytest.mark.parametrize("value", [42, None, "text", [1, 2], {"result": {"password": "p"}}])
def test_the_sealing_encoder_leaves_what_is_not_a_message_alone(value: Any):
    """Dramatiq's result backends encode results with the same encoder."""
    encoder = SealingEncoder()

    assert encoder.decode(encoder.encode(value)) == value
