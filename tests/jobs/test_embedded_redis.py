"""The embedded Redis that `make run` starts: a real server, persistent, never evicting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from jobs.brokers.embedded import EmbeddedRedis
from tests.conftest import ROOT, wait_for


def run_command(var_dir: Path, **env: str) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environment.update(OFFLOAD_VAR_DIR=str(var_dir), **env)
    return subprocess.Popen(
        [sys.executable, "manage.py", "embedded_redis"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_embedded_redis_command_serves_a_persistent_non_evicting_redis(tmp_path: Path):
    process = run_command(tmp_path)
    try:
        server = EmbeddedRedis(tmp_path)
        server.wait_until_ready(15)
        client = redis.Redis(unix_socket_path=str(server.socket))
        client.set("queued-job", "kept")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()  # else stopping waits for it (next test)
    finally:
        process.terminate()
        process.wait(timeout=15)

    restarted = run_command(tmp_path)  # as the next `make run` does
    try:
        EmbeddedRedis(tmp_path).wait_until_ready(15)
        client = redis.Redis(unix_socket_path=str(EmbeddedRedis(tmp_path).socket))
        assert client.get("queued-job") == b"kept"
        client.close()
    finally:
        restarted.terminate()
        restarted.wait(timeout=15)


def test_embedded_redis_command_stays_idle_when_redis_url_points_elsewhere(tmp_path: Path):
    process = run_command(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
    try:
        # It must stay up (honcho stops every process when one exits) without starting a server.
        wait_for(lambda: process.poll() is None and b"not starting" in process.stdout.peek(), 15)  # type: ignore[union-attr]
        time.sleep(0.5)
        assert process.poll() is None
        assert not (tmp_path / "redis.sock").exists()
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_asked_to_stop_it_serves_its_clients_until_they_leave_then_stops(tmp_path: Path):
    """As on Ctrl-C in `make run`: the worker, still shutting down, keeps its broker."""
    process = run_command(tmp_path)
    server = EmbeddedRedis(tmp_path)
    try:
        server.wait_until_ready(15)
        worker = redis.Redis(unix_socket_path=str(server.socket))
        worker.set("acked-on-the-way-out", "yes")
        process.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches this process only
        time.sleep(1.0)
        assert worker.ping()  # still up while a client is connected
        assert process.poll() is None
        worker.close()  # the worker has finished shutting down
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not server.socket.exists()  # the server itself is gone too

    restarted = run_command(tmp_path)
    try:
        server.wait_until_ready(15)
        client = redis.Redis(unix_socket_path=str(server.socket))
        assert client.get("acked-on-the-way-out") == b"yes"
        client.close()
    finally:
        restarted.terminate()
        restarted.wait(timeout=15)


def test_the_server_does_not_outlive_a_killed_command(tmp_path: Path):
    process = run_command(tmp_path)
    server = EmbeddedRedis(tmp_path)
    server.wait_until_ready(15)
    client = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=1)
    assert client.ping()

    process.kill()  # as honcho does to a process still running 5 s after Ctrl-C
    process.wait(timeout=15)

    def gone() -> bool:
        try:
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError):
            return True
        return False

    wait_for(gone, 15)
