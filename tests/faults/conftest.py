"""Fault-injection harness: real worker processes running test-only actors, and figures."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.workbench.tasks  # noqa: F401 (registers the actors on this process's broker)
from jobs.brokers.embedded import EmbeddedRedis
from tests.conftest import WorkerProcess, point_broker_at


class RedisServer:
    """A Redis server process of the test's own, to stop, restart, freeze and thaw."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedRedis(directory)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = self.server.url

    def start(self) -> None:
        self.process = self.server.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
            self.process.wait(timeout=10)
            self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@pytest.fixture(autouse=True)
def _no_limits(settings: Any) -> None:
    """These tests play many users through one test client: the abuse limits would refuse them."""
    settings.RATELIMIT_ENABLE = False


@pytest.fixture
def own_redis(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis for one fault test; this process's broker points at it meanwhile."""
    server = RedisServer(tmp_path / "own-redis")
    server.start()
    point_broker_at(server.url)
    yield server
    point_broker_at(redis_url)
    server.stop()


class Workers:
    """Starts and supervises named workers (as systemd would restart a dead one)."""

    def __init__(self, redis_url: str, workdir: Path, media_root: str, env: dict[str, str]):
        self.redis_url, self.workdir, self.media_root = redis_url, workdir, media_root
        self.env = {"EXTRA_INSTALLED_APPS": "tests.workbench", "WORKBENCH_DIR": str(workdir), **env}
        self.running: dict[str, WorkerProcess] = {}
        self.restarts = 0

    def start(self, name: str, **options: Any) -> WorkerProcess:
        worker = WorkerProcess(
            self.redis_url, self.workdir, self.media_root, name=name, extra_env=self.env, **options
        )
        self.running[name] = worker
        return worker

    def restart_dead(self) -> None:
        for name, worker in list(self.running.items()):
            if worker.process.poll() is not None:
                worker.stop()
                self.restarts += 1
                self.start(f"{name.split('#')[0]}#{self.restarts}")
                del self.running[name]

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )

    def stop_all(self) -> None:
        for worker in self.running.values():
            worker.stop()


@pytest.fixture
def workers(
    redis_url: str, transactional_db: None, tmp_path: Path, settings: Any
) -> Iterator[Workers]:
    pool = Workers(redis_url, tmp_path, settings.MEDIA_ROOT, env={})
    yield pool
    pool.stop_all()


@pytest.fixture
def figures(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    """Each fault test fills this dict; it is printed as one JSON line, even if the test fails."""
    data: dict[str, Any] = {"fault": request.node.name}
    started = time.monotonic()
    yield data
    data.setdefault("seconds", round(time.monotonic() - started, 1))
    with capsys.disabled():
        print("\nFAULT-FIGURES " + json.dumps(data, sort_keys=True))
