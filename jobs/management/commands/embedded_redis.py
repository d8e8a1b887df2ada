"""Run the embedded Redis server in the foreground (one of the `make run` processes)."""

from __future__ import annotations

import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.embedded_redis import EmbeddedRedis


class Command(BaseCommand):
    help = "Run the embedded Redis server on the unix socket under var/ (unless REDIS_URL is set)."

    def handle(self, *args: Any, **options: Any) -> None:
        server = EmbeddedRedis(settings.VAR_DIR)
        if server.url != settings.REDIS_URL:
            # Stay up doing nothing: the process manager stops everything when one process exits.
            self.stdout.write(
                f"REDIS_URL is set ({settings.REDIS_URL}): not starting the embedded Redis."
            )
            self.stdout.flush()
            signal.pause()
            return
        server.directory.mkdir(parents=True, exist_ok=True)
        if server.socket.exists():
            server.socket.unlink()  # left by a killed run; redis-server would fail to bind
        self.stdout.write(f"Embedded Redis on {server.socket} (data in {server.directory}).")
        self.stdout.flush()
        command = server.command()
        os.execv(command[0], command)  # noqa: S606 (our own binary; signals go straight to it)
