"""Send pending jobs (committed but never sent, e.g. Redis was down) to the broker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.maintenance.relay import DEFAULT_GRACE, send_pending_jobs


class Command(BaseCommand):
    help = "Send jobs still 'pending' after a grace period (their on-commit send failed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=DEFAULT_GRACE.total_seconds(),
            help="Only jobs pending for at least this many seconds (default: %(default)s).",
        )
        parser.add_argument("--limit", type=int, default=1000)

    def handle(self, *args: Any, older_than: float, limit: int, **options: Any) -> None:
        sent = send_pending_jobs(older_than=dt.timedelta(seconds=older_than), limit=limit)
        self.stdout.write(f"Sent {sent} pending job(s).")
