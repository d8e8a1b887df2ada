"""Report what the ledger and Redis disagree about, and repair it (maintenance/ledger_check.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.maintenance.ledger_check import check_ledger


class Command(BaseCommand):
    help = "Find stuck or lost jobs (ledger vs Redis) and repair them. Try --dry-run first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        findings = check_ledger(repair=not dry_run)
        for finding in findings:
            self.stdout.write(f"{finding.job_id or '-'}  {finding.problem}  ->  {finding.action}")
        verb = "would repair" if dry_run else "repaired"
        self.stdout.write(f"{len(findings)} finding(s); {verb} what could be repaired.")
