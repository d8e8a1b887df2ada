"""Delete finished jobs older than a cutoff, with their events, in short batches."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jobs.ledger.rollups import roll_up
from jobs.maintenance.retention import prune, prune_cutoff
from jobs.models import Job, JobStatus


class Command(BaseCommand):
    help = (
        "Delete finished jobs (succeeded, failed, skipped, cancelled) that finished more than "
        "--days ago, with their events. Unfinished jobs are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=float,
            default=settings.LEDGER_RETENTION_DAYS or None,
            help="Age in days (default: LEDGER_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--parallel",
            type=int,
            default=1,
            help="Connections pruning at once (PostgreSQL; each takes its own batches).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count only; delete nothing.")

    def handle(
        self, *args: Any, days: float | None, parallel: int, dry_run: bool, **options: Any
    ) -> None:
        if not days or days <= 0:
            raise CommandError("Give --days (or set LEDGER_RETENTION_DAYS).")
        older_than = dt.timedelta(days=days)
        roll_up()  # count every settled hour first (deletes nothing): only counted jobs go
        cutoff = prune_cutoff(older_than)
        if cutoff is not None and cutoff < timezone.now() - older_than:
            self.stdout.write(
                f"Only jobs finished before {cutoff:%Y-%m-%d %H:%M} UTC are counted in the "
                "hourly rollups yet: the others stay until they are."
            )
        if dry_run:
            count = (
                0
                if cutoff is None
                else Job.objects.filter(
                    status__in=JobStatus.final(), finished_at__lt=cutoff
                ).count()
            )
            self.stdout.write(f"{count} finished job(s) older than {days:g} days would be deleted.")
            return
        result = prune(older_than, parallel=parallel)
        longest = max(result.batch_seconds, default=0.0)
        self.stdout.write(
            f"Deleted {result.jobs} job(s) and {result.events} event(s) in {result.seconds:.1f} s "
            f"({result.jobs_per_second:.0f} jobs/s, {len(result.batch_seconds)} batches, "
            f"longest {longest:.2f} s)."
        )
