"""Periodic jobs, declared in code: `schedule("nightly-report", generate_report, cron="0 3 * * *",
args=[...], timezone="Europe/Paris")` or `every=dt.timedelta(minutes=5)`, in any module the
workers import (an app's tasks.py). Workers store each declaration as a `Schedule` row, which
staff may pause and change from the admin; the code's declaration stays the default (a reset
returns to it). The scheduler (scheduler.py) runs in every worker's upkeep thread; each instant
is one ledger job, exactly once across the fleet (its uniqueness key names the instant)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dramatiq import Actor

from jobs.ledger.redaction import arguments_digest, seal_arguments
from jobs.schedules.timing import valid_cron, zone


@dataclass(frozen=True)
class Declared:
    name: str
    actor_name: str
    cron: str = ""
    interval: dt.timedelta | None = None
    timezone: str = "UTC"
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The declaration as stored on its Schedule row: secret arguments redacted, with a
        digest that changes when their values do."""
        shown = seal_arguments(self.actor_name, self.args, self.kwargs)
        return {
            "actor_name": self.actor_name,
            "cron": self.cron,
            "interval_seconds": self.interval.total_seconds() if self.interval else None,
            "timezone": self.timezone,
            "args": shown.args,
            "kwargs": shown.kwargs,
            "arguments_digest": arguments_digest(self.args, self.kwargs),
        }


#: Every schedule declared in code, by name.
DECLARED: dict[str, Declared] = {}


def schedule(
    name: str,
    actor: Actor[..., Any],
    *,
    cron: str = "",
    every: dt.timedelta | None = None,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    timezone: str = "UTC",
) -> Declared:
    """Declare a periodic job: a cron expression or an interval (one of them)."""
    if bool(cron) == (every is not None):
        raise ValueError(f"Schedule {name!r}: give a cron expression or an interval, not both.")
    if cron and not valid_cron(cron):
        raise ValueError(f"Schedule {name!r}: {cron!r} is not a cron expression.")
    if every is not None and every < dt.timedelta(seconds=1):
        raise ValueError(f"Schedule {name!r}: an interval of at least one second.")
    zone(timezone)  # an unknown zone fails here, at import, not in the scheduler
    declared = Declared(
        name, actor.actor_name, cron, every, timezone, list(args or []), dict(kwargs or {})
    )
    DECLARED[name] = declared
    return declared
