"""Where the workbench's actors and signal receivers write what happened, and how tests read it.

Each record appends one line to $WORKBENCH_DIR/<name>.log with O_APPEND (atomic for small
writes, safe across processes). Declares no actor: the app's ready() may import it whatever the
broker (the benchmarks run workers on stock Dramatiq brokers too).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from jobs.tasks_framework import task_started


def record(name: str, line: str) -> None:
    directory = Path(os.environ["WORKBENCH_DIR"])  # set by tests/faults/conftest.py
    with (directory / f"{name}.log").open("a") as log:
        log.write(f"{line} pid={os.getpid()}\n")


def record_signal(signal: Any, task_result: Any, **kwargs: Any) -> None:
    """What the framework's task_started / task_finished gave, one JSON line per signal."""
    which = "started" if signal is task_started else "finished"
    seen = {
        "signal": which,
        "id": task_result.id,
        "status": str(task_result.status),
        "attempts": task_result.attempts,
        "worker_ids": task_result.worker_ids,
    }
    record("task_signals", json.dumps(seen))


def runs(directory: Path, name: str) -> list[str]:
    path = directory / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


# The effects of the exactly-once actors: a row per effect in workbench_effect, no uniqueness,
# so a second run shows. Plain SQL: the workbench has no models (it is installed in workers only).


def create_effects_table() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS workbench_effect "
            "(key varchar(200) NOT NULL, pid integer, at timestamp DEFAULT CURRENT_TIMESTAMP)"
        )


def insert_effect(key: str) -> None:
    """One effect row, timed by the database's clock (a worker's own may be off: bench/chaos.py)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the statement's time, not its transaction's
            cursor.execute(
                "INSERT INTO workbench_effect (key, pid, at) "
                "VALUES (%s, %s, statement_timestamp())",
                [key, os.getpid()],
            )
        else:
            cursor.execute(
                "INSERT INTO workbench_effect (key, pid) VALUES (%s, %s)", [key, os.getpid()]
            )


def effects(key: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM workbench_effect WHERE key = %s", [key])
        return int(cursor.fetchone()[0])


def die_the_first_time(key: str, point: str) -> None:
    """SIGKILL this worker process at `point` of job `key`'s first run only (a marker file
    outside the database says it happened)."""
    marker = Path(os.environ["WORKBENCH_DIR"]) / f"killed-{key}-{point}"
    if marker.exists():
        return
    marker.touch()
    os.kill(os.getpid(), signal.SIGKILL)
