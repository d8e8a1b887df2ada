"""Run the embedded Redis server in the foreground (one of the `make run` processes).

On Ctrl-C every process of `make run` is told to stop at once; a Redis that stopped first would
leave the worker finishing its jobs without a broker (errors in the log, acks left for later). So
the server runs as a child in a session of its own, out of reach of the terminal's Ctrl-C, and
is stopped once its clients have left, or after CLIENTS_GRACE seconds (honcho kills every
process 5 s after asking it to stop). It also stops if this command is killed.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.brokers.embedded import EmbeddedRedis

#: Longest wait, once asked to stop, for the other processes' connections to close.
CLIENTS_GRACE = 4.0
_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """In the child: receive SIGTERM when this command's process dies (even by SIGKILL)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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
        stop = threading.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        process = subprocess.Popen(  # noqa: S603 (our own binary and flags)
            server.command(), start_new_session=True, preexec_fn=_stop_with_parent
        )
        while process.poll() is None and not stop.wait(0.2):
            pass
        if process.poll() is None:
            self._wait_for_clients_to_leave(server)
            process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
        sys.exit(process.wait())

    def _wait_for_clients_to_leave(self, server: EmbeddedRedis) -> None:
        deadline = time.monotonic() + CLIENTS_GRACE
        client = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if int(client.info("clients")["connected_clients"]) <= 1:  # this one
                    return
                time.sleep(0.1)
        except redis.RedisError:
            return
        finally:
            client.close()
