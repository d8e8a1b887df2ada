"""A worker's health, for supervisors: /readyz's counterpart for worker processes.

Each worker process's upkeep thread checks the database and the broker at every tick and writes
the outcome to a health file (`$OFFLOAD_VAR_DIR/health/worker-<pid>.json`); `manage.py
worker_health` reads them and exits 0 only if every live worker process checked both lately. A
process that stops ticking (wedged, frozen, its thread dead) goes stale and unhealthy.

`manage.py run_workers` (make worker) also waits for both before it starts the workers, and
exits non-zero with one line naming what it cannot reach if they do not answer within
WORKER_START_TIMEOUT_SECONDS: a supervisor sees a failed start, not a worker that says "ready"
and logs a connection error every 3 s forever.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from jobs.brokers.state import ping as ping_broker
from jobs.logs.redaction import redact_text


@dataclass(frozen=True)
class Health:
    pid: int
    checked_at: float  # epoch seconds
    problems: list[str]


def health_dir() -> Path:
    return Path(settings.VAR_DIR) / "health"


#: A worker whose clock is further than this from the database's is unhealthy: on Redis its
#: heartbeats (15 s timeout) look old or new to the others, and a clock behind gets its running
#: jobs redelivered to other workers; its ledger times are off too (docs/RELIABILITY.md).
CLOCK_SKEW_LIMIT_SECONDS = 5.0

#: The database's clock, in epoch seconds.
DATABASE_CLOCK = {
    "postgresql": "SELECT extract(epoch FROM clock_timestamp())",
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
}


def problems() -> list[str]:
    """What is wrong with this process now, each one line: the database or the broker out of
    reach, or its clock off against the database's (then its upkeep runs no duty: a scheduler
    with a wrong clock would fire schedules at the wrong time)."""
    found, database_now = _reach()
    if database_now is not None:
        skew = time.time() - database_now
        if abs(skew) > CLOCK_SKEW_LIMIT_SECONDS:
            found.append(
                f"clock {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the "
                "database's: fix its time sync (NTP); other workers may take it for dead"
            )
    return found


def _reach() -> tuple[list[str], float | None]:
    """(what cannot be reached, the database's clock in epoch seconds if it answered)."""
    found = []
    database_now = None
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute(DATABASE_CLOCK.get(connection.vendor, "SELECT NULL"))
            answer = cursor.fetchone()[0]
            database_now = None if answer is None else float(answer)
    except Exception as exc:
        connection.close()
        found.append(f"database unreachable: {_one_line(exc)}")
    try:
        ping_broker()
    except Exception as exc:
        found.append(f"broker unreachable: {_one_line(exc)}")
    return found, database_now


def record(found: list[str]) -> None:
    """Write this process's health file (atomically: a reader never sees half of it)."""
    folder = health_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"worker-{os.getpid()}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(Health(os.getpid(), time.time(), found))))
    partial.replace(path)


def forget() -> None:
    (health_dir() / f"worker-{os.getpid()}.json").unlink(missing_ok=True)


def stale_after() -> float:
    """A health file older than this belongs to a process that stopped ticking."""
    return 3 * float(settings.LEDGER_UPKEEP_INTERVAL_SECONDS) + 5


def read_all() -> list[Health]:
    """The health of every worker process still running on this machine (files of processes
    that are gone are removed)."""
    found = []
    for path in sorted(health_dir().glob("worker-*.json")):
        try:
            health = Health(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if not _running(health.pid):
            path.unlink(missing_ok=True)
            continue
        found.append(health)
    return found


def verdict(now: float | None = None) -> tuple[bool, str]:
    """Whether the workers of this machine are healthy, and one line saying why."""
    now = time.time() if now is None else now
    processes = read_all()
    if not processes:
        return False, "unhealthy: no worker process has reported (none running, or not ticked yet)"
    bad = []
    for health in processes:
        age = now - health.checked_at
        if age > stale_after():
            bad.append(f"worker {health.pid}: no check for {age:.0f} s (stuck or frozen)")
        elif health.problems:
            bad.append(f"worker {health.pid}: {'; '.join(health.problems)}")
    if bad:
        return False, "unhealthy: " + " | ".join(bad)
    pids = ", ".join(str(h.pid) for h in processes)
    return (
        True,
        f"healthy: {len(processes)} worker process(es) ({pids}) reach the database and broker"
        ", clocks in sync",
    )


def wait_until_reachable(timeout: float, *, poll: float = 1.0) -> list[str]:
    """Check the database and broker until both answer or `timeout` passes; what is still
    unreachable (empty: both answer)."""
    deadline = time.monotonic() + timeout
    while True:
        found, _ = _reach()  # a clock off is said by the health check, it does not stop a start
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(poll)


def _one_line(exc: Exception) -> str:
    """The error on one line, any credential in it removed (it reaches the health file, the
    worker's log, a failed start's line and worker_health's answer)."""
    return redact_text(" ".join(f"{type(exc).__name__}: {exc}".split()))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
