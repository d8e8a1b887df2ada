"""Test-only actors whose side effects are appended to files, so tests count real runs.

Each run appends one line to $WORKBENCH_DIR/<name>.log with O_APPEND (atomic for small writes,
safe across processes).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dramatiq

QUEUE = "workbench"


def record(name: str, line: str) -> None:
    directory = Path(os.environ["WORKBENCH_DIR"])  # set by tests/faults/conftest.py
    with (directory / f"{name}.log").open("a") as log:
        log.write(f"{line} pid={os.getpid()}\n")


def runs(directory: Path, name: str) -> list[str]:
    path = directory / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def slow_effect(key: str, seconds: float) -> None:
    """Starts, sleeps (a window to kill the worker in), then records its side effect."""
    record("started", key)
    time.sleep(seconds)
    record("done", key)


@dramatiq.actor(queue_name=QUEUE, max_retries=3)
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
