"""Ledger writes retry through database errors within a time budget, then give up loudly."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from jobs.ledger.retries import write_with_retries


def flaky(failures: int) -> tuple[list[int], object]:
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("server closed the connection unexpectedly")
        return "written"

    return calls, write


def test_a_write_that_fails_twice_is_retried_until_it_succeeds():
    calls, write = flaky(failures=2)

    assert write_with_retries(write, "test", budget=5) == "written"  # type: ignore[arg-type]
    assert len(calls) == 3


def test_a_write_that_keeps_failing_raises_once_its_budget_is_spent():
    calls, write = flaky(failures=1000)

    with pytest.raises(OperationalError):
        write_with_retries(write, "test", budget=0.5)  # type: ignore[arg-type]
    assert 2 <= len(calls) < 10
