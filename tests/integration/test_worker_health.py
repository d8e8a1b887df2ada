"""A worker's start and health as a supervisor sees them (jobs/worker/health.py): a start that
cannot reach the broker or the database fails with one line; `manage.py worker_health` says
whether each running worker process reached both lately, and a worker whose broker comes back
recovers by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jobs.brokers.embedded import EmbeddedRedis
from tests.conftest import ROOT, WorkerProcess, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"LEDGER_UPKEEP_INTERVAL_SECONDS": "0.3"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), **FAST, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def worker_health(redis_url: str, var_dir: Path) -> subprocess.CompletedProcess[str]:
    return manage("worker_health", REDIS_URL=redis_url, OFFLOAD_VAR_DIR=str(var_dir))


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        pytest.param(  # on RabbitMQ the broker is BROKER_URL's
            "REDIS_URL",
            "redis://:hunter2@127.0.0.1:1/0",
            "broker unreachable",
            marks=pytest.mark.redis,
        ),
        ("DATABASE_URL", "postgres://offload:hunter2@127.0.0.1:1/offload", "database unreachable"),
    ],
)
def test_a_start_that_cannot_reach_a_service_exits_1_with_one_line(
    redis_url: str, setting: str, value: str, says: str
):
    started = time.monotonic()
    env = {"REDIS_URL": redis_url, "WORKER_START_TIMEOUT_SECONDS": "2", setting: value}
    result = manage("run_workers", "--", "--processes", "1", "--threads", "1", **env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert lines[0].startswith("Offload worker not started: after 2 s")
    assert "hunter2" not in result.stderr  # the URL's password is not printed
    assert "ready for action" not in result.stdout + result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.redis  # stops its own redis-server: the broker only on the Redis passes
def test_worker_health_follows_a_frozen_worker_and_a_broker_that_comes_back(
    tmp_path: Path, settings: Any
):
    redis = EmbeddedRedis(tmp_path / "own-redis")
    server = redis.start()
    # Its own var/: the health files of this machine's other workers (other tests') stay out.
    var_dir = tmp_path / "var"
    worker = WorkerProcess(
        redis.url,
        tmp_path,
        settings.MEDIA_ROOT,
        extra_env={**FAST, "OFFLOAD_VAR_DIR": str(var_dir)},
    )

    def health() -> subprocess.CompletedProcess[str]:
        return worker_health(redis.url, var_dir)

    def explain() -> str:
        result = health()
        return f"worker_health: {result.stdout}{result.stderr}\n{worker.logs()}"

    try:
        healthy = wait_for(lambda: health().returncode == 0, 20, explain)
        result = health()
        assert result.stdout.startswith("healthy: 1 worker process(es)"), result.stdout
        assert healthy

        # Its broker gone: unhealthy, saying so, and the worker does not exit.
        server.terminate()
        server.wait()
        failing = wait_for(lambda: (r := health()).returncode == 1 and r, 20, explain)
        assert "broker unreachable" in failing.stderr, failing.stderr
        assert worker.process.poll() is None

        # Back: the same worker recovers, healthy again, and runs jobs.
        server = redis.start()
        wait_for(lambda: health().returncode == 0, 30, explain)

        # Frozen (every thread stopped): its checks go stale, unhealthy.
        os.killpg(worker.process.pid, signal.SIGSTOP)
        try:
            frozen = wait_for(lambda: (r := health()).returncode == 1 and r, 30, explain)
            assert "no check for" in frozen.stderr, frozen.stderr
        finally:
            os.killpg(worker.process.pid, signal.SIGCONT)
    finally:
        worker.stop()
        server.terminate()
    # Stopped cleanly: nothing left to report.
    result = health()
    assert result.returncode == 1 and "no worker process has reported" in result.stderr


def test_a_problem_never_carries_a_credential_into_the_health_file_or_the_start_line():
    from jobs.worker.health import _one_line

    line = _one_line(ConnectionError("Error connecting to\n redis://:hunter2@cache:6379/0"))
    assert line.startswith("ConnectionError: Error connecting to redis://")
    assert "hunter2" not in line and "\n" not in line


def test_a_worker_whose_clock_is_an_hour_behind_is_unhealthy_and_says_why(
    tmp_path: Path, settings: Any, redis_url: str
):
    # Its wall clock moved for real in every process of the worker (tests/workbench/clock_shift),
    # the database's own clock untouched: on Redis its heartbeats would look an hour old.
    var_dir = tmp_path / "var"
    shift = str(ROOT / "tests" / "workbench" / "clock_shift")
    worker = WorkerProcess(
        redis_url,
        tmp_path,
        settings.MEDIA_ROOT,
        extra_env={
            **FAST,
            "OFFLOAD_VAR_DIR": str(var_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [shift, os.environ.get("PYTHONPATH")])),
            "CHAOS_CLOCK_SHIFT_SECONDS": "-3600",
        },
    )
    try:
        # The health file's own time is the worker's too: read it, not its age.
        from jobs.worker import health

        settings.VAR_DIR = var_dir
        reported = wait_for(lambda: [h for h in health.read_all() if h.problems], 30, worker.logs)
        (problem,) = reported[0].problems
        assert problem.startswith("clock 3600 s behind the database's"), problem
        assert "Worker unhealthy" in worker.logs()
    finally:
        worker.stop()
