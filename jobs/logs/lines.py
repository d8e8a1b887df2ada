"""One JSON object per log line in production, with one time format (ISO 8601, UTC, ms).

Django's own records go through `JsonFormatter` (LOGGING in config/settings.py). Two writers
log in their own formats: gunicorn (its error log: config/gunicorn_logging.py) and Dramatiq's
master process, which formats its lines before Django is loaded; `manage.py run_workers` passes
the master's output through `as_json_line`, which turns its lines (and any other stray line,
such as rundramatiq's banner) into the same JSON objects.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time

from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from jobs.logs.redaction import redact_text

#: Dramatiq's CLI format: "[2026-12-03 20:24:04,399] [PID 4573] [MainThread] [logger] [INFO] ..."
DRAMATIQ_LINE = re.compile(
    r"^\[(?P<time>[\d-]+ [\d:]+),(?P<ms>\d{3})\] \[PID (?P<pid>\d+)\] \[(?P<thread>[^\]]*)\] "
    r"\[(?P<logger>[^\]]*)\] \[(?P<level>[A-Z]+)\] (?P<message>.*)$"
)


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


class JsonFormatter(BaseJsonFormatter):
    """python-json-logger's, with the time in ISO 8601 (it wrote "2026-12-03 20:24:04,399")."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record.created)


class DropFalseWarnings(logging.Filter):
    """Drops Dramatiq's warning that a returned value "has been discarded": it assumes only its
    Results middleware keeps results, and the ledger keeps them (jobs/ledger/results.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name.startswith("dramatiq.worker") and "has been discarded" in str(record.msg)
        )


def json_line(level: str, logger: str, message: str) -> str:
    return json.dumps(
        {"time": iso_time(time.time()), "level": level, "logger": logger, "message": message}
    )


def as_json_line(line: str) -> str:
    """`line` as one JSON object: unchanged if it is one, else parsed as Dramatiq's format or
    kept whole as the message of an INFO line (credentials removed either way)."""
    text = line.rstrip("\n")
    if text.startswith("{"):
        try:
            json.loads(text)
            return text
        except ValueError:
            pass
    text = redact_text(text)
    match = DRAMATIQ_LINE.match(text)
    if match is None:
        return json_line("INFO", "rundramatiq", text.strip())
    at = dt.datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S")
    local = at.replace(microsecond=int(match["ms"]) * 1000).astimezone(dt.UTC)
    return json.dumps(
        {
            "time": local.isoformat(timespec="milliseconds"),
            "level": match["level"],
            "logger": match["logger"],
            "message": match["message"],
            "pid": int(match["pid"]),
            "thread": match["thread"],
        }
    )
