"""Test-only actors whose side effects are appended to files, so tests count real runs.

Each run appends one line to $WORKBENCH_DIR/<name>.log with O_APPEND (atomic for small writes,
safe across processes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import dramatiq
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from dramatiq.middleware import CurrentMessage

from jobs import exactly_once
from jobs.schedules import schedule
from jobs.tasks_framework import TaskContext, task
from tests.workbench.records import die_the_first_time, insert_effect, record
from tests.workbench.records import runs as runs  # the tests read the records through here

QUEUE = "workbench"
logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def slow_effect(key: str, seconds: float) -> None:
    """Starts, sleeps (a window to kill the worker in), then records its side effect."""
    record("started", key)
    time.sleep(seconds)
    record("done", key)


def gave_up(key: str, *, error: str) -> None:
    """The final-failure hook of the actors below (jobs/worker/hooks.py)."""
    record("gave_up", f"{key}: {error}")


@dramatiq.actor(queue_name=QUEUE, max_retries=3, on_final_failure=gave_up)
def kill_my_worker(key: str) -> None:
    """Dies like a job that runs out of memory: SIGKILL to its own worker process."""
    record("started", key)
    os.kill(os.getpid(), signal.SIGKILL)


@dramatiq.actor(queue_name=QUEUE, max_retries=3)
def quick_effect(key: str) -> None:
    """A short job with a side effect, for load tests."""
    time.sleep(0.02)
    record("done", key)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def noop() -> None:
    """Does nothing: what remains of a job's cost is the ledger's (bench/worker_round_trips.py)."""


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
async def async_noop() -> None:
    """noop as an async def actor: what running on the event loop thread adds (bench)."""


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def flaky(key: str) -> None:
    """Fails while $WORKBENCH_DIR/<key>.broken exists: a bug fixed between a failure and a retry."""
    record("attempts", key)
    if (Path(os.environ["WORKBENCH_DIR"]) / f"{key}.broken").exists():
        raise RuntimeError(f"{key} is broken")
    record("done", key)


@dramatiq.actor(queue_name=QUEUE, max_retries=0, secret_arguments=("iban",))
def with_secrets(key: str, api_token: str, *, password: str = "", iban: str = "") -> None:
    """Records the values it received: secret arguments must reach the actor unredacted."""
    record("secrets", f"{key} {api_token} {password} {iban}")


@dramatiq.actor(queue_name=QUEUE, max_retries=1, min_backoff=10, secret_arguments=("card",))
def charge_card(account: str, password: str, *, card: dict[str, str]) -> None:
    """Fails every attempt with its secrets in the error, as careless code does."""
    raise PermissionError(
        f"declined for {account}: password={password!r} card={card!r}",
        {"number": card.get("number")},
    )


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
async def async_effect(key: str) -> dict[str, Any]:
    """An async actor: awaits, logs, records its effect off the loop, returns what it saw."""
    await asyncio.sleep(0.01)
    message = CurrentMessage.get_current_message()
    logger.warning("async effect %s", key)
    await asyncio.to_thread(record, "done", key)
    return {"key": key, "message_id": message.message_id if message else None}


@dramatiq.actor(queue_name=QUEUE, max_retries=2, min_backoff=100, max_backoff=200)
async def async_fails_once(key: str) -> str:
    """Fails its first attempt, succeeds at the second."""
    await asyncio.to_thread(record, "attempts", key)
    if (
        len([line for line in runs(Path(os.environ["WORKBENCH_DIR"]), "attempts") if key in line])
        < 2
    ):
        raise RuntimeError(f"{key}: first attempt fails")
    return f"{key} done"


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=500)
async def async_sleeper(key: str, seconds: float) -> None:
    """Sleeps past its 0.5 s time limit unless `seconds` is short."""
    await asyncio.to_thread(record, "started", key)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(record, "done", key)


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=1000)
async def async_blocker(key: str, seconds: float) -> None:
    """Blocks its event loop (a sync sleep in async code) past its 1 s time limit."""
    await asyncio.to_thread(record, "started", key)
    time.sleep(seconds)  # noqa: ASYNC251  # the mistake this actor stands for
    # Before its next await: there the cancellation its time limit asked for lands at last.
    record("done", key)


@dramatiq.actor(queue_name=QUEUE, max_retries=0, time_limit=500)
def sync_sleeper(key: str, seconds: float) -> None:
    """A sync actor working past its 0.5 s time limit (Python code: the limit's exception lands
    between two steps; it cannot interrupt one C call)."""
    record("started", key)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    record("done", key)


@dramatiq.actor(queue_name=QUEUE, max_retries=3, secret_result_keys=("api_token",))
def returns(kind: str) -> Any:
    """Returns what the ledger refuses (`object`, `too_big`), or a result with a declared
    secret key (`secret`)."""
    if kind == "object":
        return object()
    if kind == "too_big":
        return "x" * (settings.JOBS_RESULT_MAX_BYTES + 1)
    return {"api_token": "tok-123", "rows": [1, 2, 3]}


# Django's Tasks framework (TASKS names jobs.tasks_framework.backend.OffloadBackend): tasks on
# "default".


@dramatiq.actor(max_retries=0)  # in the `default` queue, beside Django's tasks
def plain_in_the_default_queue() -> None:
    record("plain_in_the_default_queue", "ran")


@task()
def add(a: int, b: int) -> int:
    record("task", f"add {a} {b}")
    return a + b


@task()
def explode(key: str) -> None:
    raise ValueError(f"{key} exploded")


@task(takes_context=True)
async def attempt_of(context: TaskContext, key: str) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {"key": key, "attempt": context.attempt, "id": context.task_result.id}


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def tick(label: str) -> str:
    """The workbench schedule's actor: records each run."""
    record("ticks", label)
    return label


# Runs only in workers started with JOBS_SCHEDULER_ENABLED=1 (tests/conftest.py turns it off).
schedule("workbench-tick", tick, every=dt.timedelta(seconds=2), args=["tick"])


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def sync_partner(partner: str, *, api_token: str) -> None:
    record("partner", f"{partner} {api_token}")


#: A schedule with a secret argument: the Schedules page and the ledger must never show it.
PARTNER_TOKEN = "tok-partner-3f9e1c"
schedule(
    "workbench-partner-sync",
    sync_partner,
    cron="0 4 29 2 *",  # 29 February: never due during a test
    args=["acme"],
    kwargs={"api_token": PARTNER_TOKEN},
)


# --- exactly-once effects: each dies once at `point` of its first run -------------------------
# "before": before the effect; "effect": after it, before the commit; "commit": after the
# commit, before the ack (an on-commit callback of the actor's own transaction); "none": never
# (bench/chaos.py's load). `seconds`: work before the effect, a window for outside kills.


def _effect_then_die(key: str, point: str, seconds: float) -> None:
    if point == "before":
        die_the_first_time(key, point)
    time.sleep(seconds)
    insert_effect(key)
    if point == "effect":
        die_the_first_time(key, point)
    if point == "commit":
        transaction.on_commit(lambda: die_the_first_time(key, point))


@dramatiq.actor(queue_name=QUEUE, max_retries=3, exactly_once=True)
def effect_once(key: str, point: str, seconds: float = 0.0) -> str:
    record("started", key)
    _effect_then_die(key, point, seconds)
    return key


@dramatiq.actor(queue_name=QUEUE, max_retries=3, exactly_once=True)
async def async_effect_once(key: str, point: str, seconds: float = 0.0) -> str:
    record("started", key)
    await asyncio.sleep(0.01)
    await sync_to_async(_effect_then_die)(key, point, seconds)
    return key


@task()
@exactly_once
def task_effect_once(key: str, point: str, seconds: float = 0.0) -> str:
    record("started", key)
    _effect_then_die(key, point, seconds)
    return key


@dramatiq.actor(queue_name=QUEUE, max_retries=3)
def effect_at_least_once(key: str, point: str, seconds: float = 0.0) -> str:
    """The same effect without the option: what the broker alone promises."""
    record("started", key)
    _effect_then_die(key, point, seconds)
    return key
