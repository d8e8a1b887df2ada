"""Run `rundramatiq` so that stopping it is always graceful, whoever sends the signal.

Dramatiq treats a second SIGTERM as "kill now". Process managers that signal a whole process
group (honcho in `make run`, systemd's default KillMode=control-group) deliver SIGTERM both to the
master and, again via the master, to its worker processes: in-flight jobs are killed. This command
puts rundramatiq in a process group of its own and passes on exactly one SIGTERM to its master.

Before it starts them it waits for the database and the broker (WORKER_START_TIMEOUT_SECONDS),
and exits 1 with one line naming what it cannot reach: a wrong REDIS_URL or a database that is
down is a failed start a supervisor sees, not a worker that says "ready for action".

If this command itself is killed (SIGKILL to its pid alone), Linux sends the master a SIGTERM
(PR_SET_PDEATHSIG): no orphaned workers go on consuming beside the ones a supervisor restarts.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from jobs.logs.lines import as_json_line, json_line
from jobs.worker import health


class Command(BaseCommand):
    help = "Run rundramatiq, stopping it gracefully on SIGTERM/SIGINT. Options go to rundramatiq."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("rundramatiq_args", nargs="*", help="e.g. -- --processes 2 --threads 8")

    def handle(self, *args: Any, rundramatiq_args: list[str], **options: Any) -> None:
        as_json = settings.LOG_FORMAT == "json"
        timeout = settings.WORKER_START_TIMEOUT_SECONDS
        unreachable = health.wait_until_reachable(timeout)
        if unreachable:
            line = f"Offload worker not started: after {timeout:g} s, " + "; ".join(unreachable)
            self.stderr.write(json_line("ERROR", __name__, line) if as_json else line)
            sys.exit(1)
        master = subprocess.Popen(  # noqa: S603 (our own manage.py)
            [sys.executable, "manage.py", "rundramatiq", *rundramatiq_args],
            start_new_session=True,  # out of reach of signals sent to our process group
            preexec_fn=_stop_when_parent_dies if sys.platform == "linux" else None,  # noqa: PLW1509
            # JSON logs: Dramatiq's master formats its own lines (and rundramatiq prints its
            # banner): each is passed on as a JSON object (jobs/logs/lines.py).
            stdout=subprocess.PIPE if as_json else None,
            stderr=subprocess.STDOUT if as_json else None,
            text=True,
        )
        if master.stdout is not None:
            threading.Thread(target=_pass_on, args=(master.stdout,), daemon=True).start()
        forwarded = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal forwarded
            if not forwarded:
                forwarded = True
                master.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sys.exit(master.wait())


def _stop_when_parent_dies() -> None:
    """In the child before exec: SIGTERM to it when this process dies (a graceful stop)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _pass_on(lines: IO[str]) -> None:
    for line in lines:
        if line.strip():
            sys.stdout.write(as_json_line(line) + "\n")
            sys.stdout.flush()
