"""Tasks outside any app's tasks.py: no worker imports this module at start (Django documents
tasks.py as a convention, not a rule), so a worker must import a task by its module path."""

from __future__ import annotations

from typing import Any

from jobs.tasks_framework import task


@task()
def multiply(a: int, b: int) -> int:
    return a * b


@task()
def raise_with_a_note() -> None:
    error = ValueError("first line\nsecond line: hint")
    error.add_note("hint: look at the second line")
    raise error


@task()
def returns_lookalike_keys() -> dict[str, Any]:
    """Keys that merely contain secret-looking words: a count and a person, not secrets."""
    return {"token_count": 3, "footprint": "small", "secretary": "Ann", "api_token": "tok-9"}


@task()
def with_token(user: str, api_token: str) -> str:
    return f"{user}:{api_token}"
