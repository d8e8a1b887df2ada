"""`manage.py worker_health`: exit 0 if every worker process on this machine reached the
database and the broker at its last check and checked lately; 1 otherwise, with one line
saying why (jobs/worker/health.py). For a supervisor's or orchestrator's health probe."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from jobs.worker.health import verdict


class Command(BaseCommand):
    help = "Exit 0 if this machine's worker processes are healthy, 1 (with the reason) if not."

    def handle(self, *args: Any, **options: Any) -> None:
        healthy, line = verdict()
        (self.stdout if healthy else self.stderr).write(line)
        sys.exit(0 if healthy else 1)
