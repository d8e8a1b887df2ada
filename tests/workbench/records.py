"""Where the workbench's actors and signal receivers write what happened, and how tests read it.

Each record appends one line to $WORKBENCH_DIR/<name>.log with O_APPEND (atomic for small
writes, safe across processes). Declares no actor: the app's ready() may import it whatever the
broker (the benchmarks run workers on stock Dramatiq brokers too).
"""

from __future__ import annotations

import json
import os
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
