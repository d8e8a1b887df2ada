"""Item 5: secret arguments are unreadable wherever the ledger hides them: the broker's messages
and dead letters, every worker log line, errors and tracebacks; the actor still gets them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pika
import pytest
import redis
from django.conf import settings
from django.test import Client

import tests.workbench.tasks as workbench
from jobs.models import JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, wait_until_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Secret-8c1f"
CARD = "4111-1111-1111-9931"
TOKEN = "tok-Secret-51aa"


def everything_the_broker_holds(redis_url: str) -> str:
    """Every message of every queue, dead letters included, as text."""
    if settings.BROKER_URL:
        connection = pika.BlockingConnection(pika.URLParameters(settings.BROKER_URL))
        channel = connection.channel()
        bodies = []
        for queue in (workbench.QUEUE, f"{workbench.QUEUE}.DQ", f"{workbench.QUEUE}.XQ"):
            while True:
                _method, _properties, body = channel.basic_get(queue, auto_ack=False)
                if body is None:
                    break
                bodies.append(body.decode())
        connection.close()  # unacked: back to their queues
        return "\n".join(bodies)
    client = redis.Redis.from_url(redis_url, decode_responses=True, encoding_errors="replace")
    texts: list[Any] = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == "hash":
            texts += client.hvals(key)
        elif kind == "list":
            texts += client.lrange(key, 0, -1)
        elif kind == "zset":
            texts += client.zrange(key, 0, -1)
        elif kind == "string":
            texts.append(client.get(key) or "")
    return "\n".join(str(text) for text in texts)


def test_a_failing_job_keeps_its_secrets_out_of_broker_logs_and_ledger(
    workbench_worker: WorkerProcess, redis_url: str, tmp_path: Path, staff: Any
):
    ok = enqueue(workbench.with_secrets, "s1", TOKEN, password=PASSWORD, iban="DE-1")
    failing = enqueue(
        workbench.charge_card, "acct-7", PASSWORD, card={"number": CARD, "holder": "Ann"}
    )

    done = wait_until_final(ok.pk, workbench_worker)
    assert done.status == JobStatus.SUCCEEDED, (done.last_error, workbench_worker.logs()[-3000:])
    job = wait_until_final(failing.pk, workbench_worker, timeout=60)

    assert job.status == JobStatus.FAILED
    # The actors received the real values.
    received = [line.rsplit(" pid=", 1)[0] for line in workbench.runs(tmp_path, "secrets")]
    assert received == [f"s1 {TOKEN} {PASSWORD} DE-1"]
    # Nowhere in clear: the broker (dead letters too), the worker's log, the ledger.
    ledger = json.dumps(
        [job.last_error, *job.events.values_list("message", "traceback"), job.args, job.kwargs]
    )
    for place, text in {
        "broker": everything_the_broker_holds(redis_url),
        "worker log": workbench_worker.logs(),
        "ledger": ledger,
    }.items():
        for secret in (PASSWORD, CARD, TOKEN):
            assert secret not in text, f"{secret} in the {place}"
    # The error still says what went wrong and names what was hidden.
    assert "declined for acct-7: password='[redacted]'" in job.last_error
    assert "'number': '[redacted]'" in job.last_error
    assert "PermissionError" in workbench_worker.logs()
    # Staff with every permission see the error as recorded: no secret there either.
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "declined for acct-7" in page
    assert PASSWORD not in page and CARD not in page
