"""What every log line is about: the web request or the job a thread is working on.

The web sets the request id (config/request_ids.py) and the ledger stores it on the jobs that
request enqueues; the worker's tracker sets the job's id, actor, attempt and worker. The filter
copies both onto each record, so JSON lines carry them as fields and plain lines as a suffix.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str] = ContextVar("request_id", default="")
job_context: ContextVar[dict[str, Any] | None] = ContextVar("job_context", default=None)


def current_context() -> dict[str, Any]:
    context: dict[str, Any] = {}
    if rid := request_id.get():
        context["request_id"] = rid
    context.update(job_context.get() or {})
    return context


class ContextFilter(logging.Filter):
    """Adds the current request's or job's fields to the record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_context()
        for key, value in context.items():
            setattr(record, key, value)
        record.context = (
            " [" + " ".join(f"{key}={value}" for key, value in context.items()) + "]"
            if context
            else ""
        )
        return True
