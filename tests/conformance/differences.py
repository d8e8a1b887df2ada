"""Where the project's brokers and middleware differ from stock Dramatiq, test by test.

Each entry names a test of Dramatiq's suite and why it does not pass here as written. An
"xfail" entry is strict: the day it passes, the run fails and this list must be corrected.
tests/conformance/README.md explains the list; keep the two in step.
"""

from __future__ import annotations

import os

import pytest

MIDDLEWARE_ORDER = (
    "Intentional: asserts positions in stock Dramatiq's middleware list; the project's list puts "
    "the ledger's tracker first (its after_* hooks must run last, docs/ARCHITECTURE.md)."
)
HELD_ACKS = (
    "Intentional: asserts the consumer still counts a message as outstanding while its ack is "
    "retried; with acks held for the ledger the message leaves the consumer's count when it is "
    "handed to the acker thread, which retries the ack itself (tests/jobs/test_acks.py). "
    "Skipped, not xfailed: the failed assertion inside the mocked ack makes the test hang."
)
CLI_MODULES = (
    "Not run: starts `python -m dramatiq tests.<module>` with a stock broker on Redis's default "
    "address; it tests Dramatiq's CLI process, which `rundramatiq` runs unchanged (our worker "
    "process is covered by tests/integration and tests/faults)."
)
LOCAL_REDIS = "Builds a stock broker on 127.0.0.1:6379 by hand: runs where REDIS_URL names it (CI)."

#: Whole files not run, by file name.
NOT_RUN_FILES = {
    "test_cli.py": CLI_MODULES,
    "test_pidfile.py": CLI_MODULES,
    "test_watch.py": CLI_MODULES,
}

#: Single tests, by "file::test" (without parameters): (kind, reason). Kinds: "xfail" and
#: "hangs" (skipped) differ on the project's brokers only; "environment" (skipped) on both.
DIFFERENCES: dict[str, tuple[str, str]] = {
    "test_broker.py::test_broker_middleware_can_be_added_before_other_middleware": (
        "xfail",
        MIDDLEWARE_ORDER,
    ),
    "test_broker.py::test_broker_middleware_can_be_added_after_other_middleware": (
        "xfail",
        MIDDLEWARE_ORDER,
    ),
    "test_redis.py::test_redis_consumer_ack_can_retry_on_connection_error": ("hangs", HELD_ACKS),
}

if not os.environ.get("REDIS_URL"):
    DIFFERENCES |= {
        "test_redis.py::test_redis_broker_can_connect_via_url": ("environment", LOCAL_REDIS),
        "test_redis.py::test_redis_broker_can_connect_via_client": ("environment", LOCAL_REDIS),
    }


def mark_differences(items: list[pytest.Item], *, stock: bool) -> None:
    """Mark each difference on its test; on stock brokers (to compare) only what cannot run."""
    for item in items:
        file_name = item.path.name
        if file_name in NOT_RUN_FILES:
            item.add_marker(pytest.mark.skip(reason=NOT_RUN_FILES[file_name]))
            continue
        kind, reason = DIFFERENCES.get(f"{file_name}::{item.originalname}", ("", ""))  # type: ignore[attr-defined]
        if kind == "xfail" and not stock:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
        elif kind == "environment" or (kind == "hangs" and not stock):
            item.add_marker(pytest.mark.skip(reason=reason))
