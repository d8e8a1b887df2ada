"""The ledger's own upkeep, as periodic jobs (rundramatiq imports every app's tasks.py): the
ledger check, rollups and retention, and the alert rules. Each run is an ordinary ledger job:
retries, timeline, dashboard, error groups; staff see and change the schedules in the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dramatiq
from django.conf import settings

from jobs.maintenance.alerts import check_alerts
from jobs.maintenance.upkeep import ledger_check_duty, retention_duty
from jobs.schedules import schedule

UPKEEP_QUEUE = "default"


@dramatiq.actor(queue_name=UPKEEP_QUEUE, max_retries=0, time_limit=10 * 60 * 1000)
def check_ledger_now() -> dict[str, Any]:
    """The ledger against the broker: stranded, overdue and dead-lettered jobs repaired."""
    return {"findings": ledger_check_duty()}


@dramatiq.actor(queue_name=UPKEEP_QUEUE, max_retries=0, time_limit=10 * 60 * 1000)
def roll_up_and_prune() -> dict[str, Any]:
    """Settled hours rolled up, then finished jobs past LEDGER_RETENTION_DAYS deleted."""
    return retention_duty()


@dramatiq.actor(queue_name=UPKEEP_QUEUE, max_retries=0, time_limit=2 * 60 * 1000)
def check_alert_rules() -> dict[str, Any]:
    """Open and resolve alert incidents; notify once each way."""
    return {"notified": [str(incident) for incident in check_alerts()]}


schedule(
    "ledger-check",
    check_ledger_now,
    every=dt.timedelta(seconds=settings.LEDGER_CHECK_INTERVAL_SECONDS),
)
schedule("ledger-retention", roll_up_and_prune, every=dt.timedelta(minutes=5))
schedule("alerts", check_alert_rules, every=dt.timedelta(minutes=1))
