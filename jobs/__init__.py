"""The job ledger: one row per background job, its event history, and how both are written.

The public surface, for the apps that use it (`from jobs import enqueue, Job`): `enqueue`,
`enqueue_many`, `result` and `aresult` (wait for a job's result), `JobFailedError`, `Job`,
`JobStatus`, `EventKind`, `exactly_once` (a task that completes inside its transaction).
Loaded on first use, because this package is imported while Django loads its apps, before any
model may be.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at runtime __getattr__ loads them on first use
    from jobs.models import EventKind as EventKind
    from jobs.models import Job as Job
    from jobs.models import JobStatus as JobStatus
    from jobs.outbox import enqueue as enqueue
    from jobs.outbox import enqueue_many as enqueue_many
    from jobs.results import JobFailedError as JobFailedError
    from jobs.results import aresult as aresult
    from jobs.results import result as result
    from jobs.worker.exactly_once import exactly_once as exactly_once

_PUBLIC = {
    "enqueue": "jobs.outbox",
    "enqueue_many": "jobs.outbox",
    "result": "jobs.results",
    "aresult": "jobs.results",
    "JobFailedError": "jobs.results",
    "Job": "jobs.models",
    "JobStatus": "jobs.models",
    "EventKind": "jobs.models",
    "exactly_once": "jobs.worker.exactly_once",
}
__all__ = [
    "EventKind",
    "Job",
    "JobFailedError",
    "JobStatus",
    "aresult",
    "enqueue",
    "enqueue_many",
    "exactly_once",
    "result",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'jobs' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
