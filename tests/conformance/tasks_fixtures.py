"""Django's own `tests/tasks` suite, run on OffloadBackend with a real worker (`make
conformance-tasks`; tests/conformance/README.md says what differs and why).

Django's tests configure its two reference backends by path. Each is replaced, when the
framework builds it, by OffloadBackend in the role that backend plays in the tests:

- ImmediateBackend (enqueue runs the task): `ImmediateOnAWorker` sends the job through the
  ledger and the project's broker as any enqueue does, then waits until a real Dramatiq worker
  (started in this process, so the framework's log lines reach the test's `assertLogs`) has
  finished it, and returns the ledger's result.
- DummyBackend (enqueue stores the task, nothing runs it): `DummyWithoutAWorker` is
  OffloadBackend with no worker running; `results` (what its enqueues returned) and `clear()`
  (which deletes their jobs from the ledger) are the dummy's helpers for tests.

Every test class may use the database (the ledger records every enqueue); the broker is
emptied and the worker stopped after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from django.db import transaction
from django.test import SimpleTestCase
from dramatiq import Worker

from jobs.models import Job, JobStatus
from jobs.tasks_framework import Task, TaskResult, task_backends
from jobs.tasks_framework.backend import OffloadBackend
from tests.conformance.tasks_differences import mark_differences

# Fixtures of the project's suite: a real Redis server, and the ledger's background writer
# stopped before the test database is dropped.
from tests.conftest import _background_writer_stopped_before_teardown as writer_stopped  # noqa: F401
from tests.conftest import redis_url, wait_for  # noqa: F401  (redis_url: a fixture)

#: How long a test waits for the worker to finish a job before failing.
FINISH_TIMEOUT_SECONDS = 30.0


class _Worker:
    """The in-process worker ImmediateOnAWorker starts on first use; stopped after each test."""

    running: Worker | None = None

    @classmethod
    def ensure(cls) -> None:
        if cls.running is None:
            broker = dramatiq.get_broker()
            cls.running = Worker(broker, worker_timeout=50, worker_threads=2)
            cls.running.start()

    @classmethod
    def stop(cls) -> None:
        if cls.running is not None:
            cls.running.stop()
            # Dramatiq leaves a stopped worker's middleware on the broker, which would start
            # consumers for it on every queue declared later (a backend with QUEUES declares).
            broker = cls.running.broker
            broker.middleware[:] = [
                m for m in broker.middleware if getattr(m, "worker", None) is not cls.running
            ]
            cls.running = None


class ImmediateOnAWorker(OffloadBackend):
    """OffloadBackend whose enqueue returns once a real worker has run the job (outside a
    transaction; inside one the job is sent on commit, as always)."""

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        result = super().enqueue(task, args, kwargs)
        if transaction.get_connection().in_atomic_block:
            return result
        _Worker.ensure()
        finished = Job.objects.filter(pk=result.id, status__in=JobStatus.final())
        wait_for(finished.exists, FINISH_TIMEOUT_SECONDS, lambda: f"job {result.id} unfinished")
        return self.get_result(result.id)


class DummyWithoutAWorker(OffloadBackend):
    """OffloadBackend with no worker: every job stays READY."""

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.results: list[TaskResult[Any]] = []

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        result = super().enqueue(task, args, kwargs)
        self.results.append(result)
        return result

    def clear(self) -> None:
        jobs = Job.objects.filter(pk__in=[result.id for result in self.results])
        # Each send is recorded by the ledger's background writer: deleted after it, not under it.
        unsent = jobs.filter(status=JobStatus.PENDING)
        wait_for(lambda: not unsent.exists(), FINISH_TIMEOUT_SECONDS, lambda: "sends unrecorded")
        jobs.delete()
        self.results.clear()


STAND_INS: dict[str, type[OffloadBackend]] = {
    "django.tasks.backends.immediate.ImmediateBackend": ImmediateOnAWorker,
    "django.tasks.backends.dummy.DummyBackend": DummyWithoutAWorker,
    # The backport's paths (Django 5.2), where the suite's imports are rewritten to it.
    "django_tasks.backends.immediate.ImmediateBackend": ImmediateOnAWorker,
    "django_tasks.backends.dummy.DummyBackend": DummyWithoutAWorker,
}

_create_connection = type(task_backends).create_connection


def _create_stand_in(handler: Any, alias: str) -> Any:
    params = handler.settings[alias]
    stand_in = STAND_INS.get(params["BACKEND"])
    if stand_in is None:
        return _create_connection(handler, alias)
    return stand_in(alias=alias, params=params)


type(task_backends).create_connection = _create_stand_in  # type: ignore[method-assign,assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test_class = getattr(item, "cls", None)
        if test_class is not None and issubclass(test_class, SimpleTestCase):
            # The ledger records every enqueue, whichever backend the test names; the marker
            # makes pytest-django create the test database for a SimpleTestCase too.
            test_class.databases = {"default"}
            item.add_marker(pytest.mark.django_db(databases=["default"]))
    mark_differences(items)


@pytest.fixture(scope="session", autouse=True)
def broker_on_a_real_server(redis_url: str) -> None:  # noqa: F811  (the fixture imported above)
    """The project's broker on a real server (tests/conftest.py), booted as `dramatiq` does."""
    dramatiq.get_broker().emit_after("process_boot")


@pytest.fixture(autouse=True)
def no_worker_after_the_test() -> Iterator[None]:
    yield
    _Worker.stop()
    dramatiq.get_broker().flush_all()  # a dummy's jobs must not run in a later test
