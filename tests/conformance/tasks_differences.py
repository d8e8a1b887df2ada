"""Where Django's `tests/tasks` cannot apply to OffloadBackend, test by test.

Each entry names a test of Django's suite ("file::Class::test") and why it cannot pass as
written on a worker-backed backend. Each is a strict xfail: the day one passes, the run fails
and this list must be corrected. tests/conformance/README.md explains the list.
"""

from __future__ import annotations

import django
import dramatiq
import pytest

from jobs.brokers.priorities import orders_by_priority

REFERENCE_CLASS = (
    "Asserts the backend is an instance of Django's reference backend class; the stand-in is "
    "OffloadBackend in that backend's role (tests/conformance/tasks_fixtures.py)."
)
SUPPORTED = (
    "Asserts ImmediateBackend's refusal of a feature OffloadBackend has ({}): the framework "
    "lets a backend support it, and the tests of that feature pass here."
)
DUMMY_STORAGE = (
    "Changes the result object DummyBackend keeps in memory and expects refresh() to read it "
    "back; OffloadBackend's results live in the ledger, which refresh() reads (and the "
    "refresh tests that change a job's ledger row pass in tests/integration)."
)
SYNC_IN_ASYNC = (
    "Calls the sync refresh() inside an async test: a result read from a database cannot be "
    "(Django raises SynchronousOnlyOperation); arefresh() in the same test is what async code "
    "calls, and passes."
)
PRIORITY_ON_REDIS = (
    "Sets a priority: Redis cannot order a queue by priority, so OffloadBackend refuses it there "
    "with the framework's own error (supports_priority is False); it passes on RabbitMQ."
)

IMMEDIATE = "test_immediate_backend.py::ImmediateBackendTestCase::"
DUMMY = "test_dummy_backend.py::DummyBackendTestCase::"
TASKS = "test_tasks.py::TaskTestCase::"

#: "file::Class::test": why.
DIFFERENCES: dict[str, str] = {
    f"{DUMMY}test_using_correct_backend": REFERENCE_CLASS,
    f"{IMMEDIATE}test_using_correct_backend": REFERENCE_CLASS,
    f"{TASKS}test_using_correct_backend": REFERENCE_CLASS,
    f"{TASKS}test_get_backend": REFERENCE_CLASS,
    f"{IMMEDIATE}test_cannot_get_result": SUPPORTED.format("results"),
    f"{IMMEDIATE}test_cannot_refresh_result": SUPPORTED.format("results"),
    f"{IMMEDIATE}test_cannot_pass_run_after": SUPPORTED.format("run_after"),
    "test_immediate_backend.py::ImmediateBackendTransactionTestCase::"
    "test_doesnt_wait_until_transaction_commit_by_default": (
        "Intentional: OffloadBackend sends a job when the transaction that enqueued it "
        "commits (a rolled-back enqueue never runs); ImmediateBackend runs it at once."
    ),
    f"{IMMEDIATE}test_throws_keyboard_interrupt": (
        "A worker thread runs the task: its KeyboardInterrupt is the job's failure (recorded and "
        "logged), it cannot reach the code that called enqueue() as it does inline."
    ),
    f"{DUMMY}test_refresh_result": DUMMY_STORAGE,
    f"{DUMMY}test_refresh_result_async": DUMMY_STORAGE,
    f"{TASKS}test_refresh_result": SYNC_IN_ASYNC,
}
#: Only where the broker cannot order by priority (Redis).
PRIORITY_TESTS = {
    f"{TASKS}test_using_priority": PRIORITY_ON_REDIS,
    f"{TASKS}test_chained_using": PRIORITY_ON_REDIS,
    f"{TASKS}test_invalid_priority": PRIORITY_ON_REDIS,
}

#: Only on Django 5.2, where the tests of Django 6.0 run on the django-tasks backport.
BACKPORT_TESTS = {
    f"{DUMMY}test_validate_disallowed_async_task": (
        "The backport's message says 'async tasks' where Django's says 'async Tasks'."
    ),
    "test_custom_backend.py::CustomBackendTestCase::test_enqueue_async_task_on_non_async_backend": (
        "The backport's message says 'async tasks' where Django's says 'async Tasks'."
    ),
    "test_custom_backend.py::CustomBackendTestCase::test_no_enqueue": (
        "Asserts Python 3.12's wording of the abstract-class error (Django 6 needs 3.12); "
        "Django 5.2 runs here on 3.11, which words it otherwise."
    ),
}


def mark_differences(items: list[pytest.Item]) -> None:
    differences = dict(DIFFERENCES)
    if not orders_by_priority(dramatiq.get_broker()):
        differences.update(PRIORITY_TESTS)
    if django.VERSION < (6,):
        differences.update(BACKPORT_TESTS)
    for item in items:
        key = "::".join(item.nodeid.split("::")[-3:]).rsplit("/", 1)[-1]
        reason = differences.get(key)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
