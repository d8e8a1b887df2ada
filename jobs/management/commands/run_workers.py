"""Run `rundramatiq` so that stopping it is always graceful, whoever sends the signal.

Dramatiq treats a second SIGTERM as "kill now". Process managers that signal a whole process
group (honcho in `make run`, systemd's default KillMode=control-group) deliver SIGTERM both to the
master and, again via the master, to its worker processes: in-flight jobs are killed. This command
puts rundramatiq in a process group of its own and passes on exactly one SIGTERM to its master.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run rundramatiq, stopping it gracefully on SIGTERM/SIGINT. Options go to rundramatiq."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("rundramatiq_args", nargs="*", help="e.g. -- --processes 2 --threads 8")

    def handle(self, *args: Any, rundramatiq_args: list[str], **options: Any) -> None:
        master = subprocess.Popen(  # noqa: S603 (our own manage.py)
            [sys.executable, "manage.py", "rundramatiq", *rundramatiq_args],
            start_new_session=True,  # out of reach of signals sent to our process group
        )
        forwarded = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal forwarded
            if not forwarded:
                forwarded = True
                master.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sys.exit(master.wait())
