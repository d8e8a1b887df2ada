"""The documented production start, run as an operator would: `make static`, `make serve`
(gunicorn's ASGI worker, servestatic) and `make worker` with DEBUG=0 and settings from the
environment, tried from outside over HTTP as a proxy would forward it (X-Forwarded-Proto)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from jobs.models import AlertIncident, AlertRule
from jobs.models import WorkerProcess as WorkerRow
from tests.conftest import ROOT, WorkerProcess, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEB_PROCESSES = 2
METRICS_TOKEN = secrets.token_urlsafe(32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: make's targets run with this test run's virtualenv (.venv, or .venv-django6 for Django 6.1).
SAME_VENV = [f"VENV={sys.prefix}"]


def production_env(redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    # As a deployment's: without the test session's DJANGO_ALLOW_ASYNC_UNSAFE (Playwright's).
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **inherited,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "OFFLOAD_VAR_DIR": str(var_dir),
        "METRICS_TOKEN": METRICS_TOKEN,
        "WEB_CONCURRENCY": str(WEB_PROCESSES),
        "BIND_HOST": "127.0.0.1",
        **extra,
    }


class Web:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", *SAME_VENV, "serve"],
            cwd=ROOT,
            env={**env, "PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._answers, 60, self.logs)

    def _answers(self) -> bool:
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        payload = json.dumps(body).encode() if body is not None else None
        sent = {"X-Forwarded-Proto": "https", **(headers or {})}
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        result = response.status, dict(response.getheaders()), response.read()
        conn.close()
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


@contextmanager
def started_production(
    redis_url: str, tmp_path: Path, **extra: str
) -> Iterator[tuple[Web, WorkerProcess]]:
    """`make static`, `make serve` and `make worker` with the production environment (plus
    `extra`), stopped as a supervisor would."""
    env = production_env(redis_url, tmp_path / "var", **extra)
    static = subprocess.run(
        ["make", "--no-print-directory", *SAME_VENV, "static"],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    assert static.returncode == 0, static.stdout + static.stderr
    web = Web(env, tmp_path / "web.log")
    worker = WorkerProcess(
        redis_url,
        tmp_path,
        str(tmp_path / "media"),
        name="production-worker",
        extra_env={**env, "WORKER_PROCESSES": "1", "WORKER_THREADS": "4"},
        argv=["make", "--no-print-directory", *SAME_VENV, "worker"],
    )
    try:
        yield web, worker
    finally:
        web.stop()
        stop_production_worker(worker)


def stop_production_worker(worker: WorkerProcess) -> None:
    # make's group: make itself and run_workers, which forwards one SIGTERM to rundramatiq.
    if worker.process.poll() is None:
        os.killpg(worker.process.pid, signal.SIGTERM)
    worker.stop()


@pytest.fixture
def production(redis_url: str, transactional_db: None, tmp_path: Path) -> Iterator[Any]:
    with started_production(redis_url, tmp_path) as started:
        yield started


def test_a_production_start_serves_pages_static_files_and_runs_a_signup(production):
    web, worker = production

    status, headers, page = web.request("GET", "/signup")
    assert status == 200, web.logs()
    assert "Strict-Transport-Security" in headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    css = page.decode().split('href="/static/')[1].split('"')[0]
    status, headers, _ = web.request("GET", f"/static/{css}")  # servestatic, hashed name
    assert status == 200 and "immutable" in headers["Cache-Control"]
    # Static files carry the security headers too.
    for header in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options"):
        assert header in headers, header

    status, headers, body = web.request("POST", "/signup", {"email": "prod@example.com"})
    assert status == 202, body
    job_url = headers["Location"]

    def succeeded() -> bool:
        return json.loads(web.request("GET", job_url)[2])["status"] == "succeeded"

    wait_for(succeeded, 30, lambda: web.logs() + worker.logs())
    assert any("prod@example.com" in message for message in worker.emails())
    assert web.request("GET", "/jobs/not-a-job")[2].startswith(b"{")

    # The access log stays one JSON object per line whatever the path holds.
    assert web.request("GET", '/no-such-page/%22%5C%0A%09"\\end')[0] == 404

    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in web.logs().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("logger") == "gunicorn.access"]

    # Served as async file responses: Django did not have to read a sync iterator whole.
    assert "must consume synchronous iterators" not in web.logs()
    nasty = '/no-such-page/"\\\n\t"\\end'
    wait_for(lambda: nasty in [line["path"] for line in access_lines()], 10, web.logs)

    # One JSON object per line; a failing attempt's lines name its job, attempt and worker.
    status, headers, body = web.request("POST", "/signup", {"email": "error@example.com"})
    failing_job = headers["Location"].rsplit("/", 1)[-1]

    def attempt_logged() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in worker.logs().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("job_id") == failing_job]

    [line, *_] = wait_for(attempt_logged, 30, worker.logs)
    assert (line["actor"], line["attempt"]) == ("send_welcome_email", 1)
    assert line["worker"] and line["level"] in {"WARNING", "ERROR"}
    # ... and the request that caused it, as the web's lines and the response say it.
    assert line["request_id"] == headers["X-Request-ID"]

    # Every line of both is one JSON object with one time format: gunicorn's error log,
    # Dramatiq's master process and rundramatiq's banner included.
    for name, text in (("web", web.logs()), ("worker", worker.logs())):
        for raw in text.splitlines():
            record = json.loads(raw)  # not JSON: fails here, naming the line
            at = dt.datetime.fromisoformat(record["time"])
            assert at.tzinfo is not None and "T" in record["time"], (name, raw)
    loggers = {json.loads(raw)["logger"] for raw in worker.logs().splitlines()}
    assert {"dramatiq.MainProcess", "rundramatiq"} <= loggers, loggers
    web_loggers = {json.loads(raw)["logger"] for raw in web.logs().splitlines()}
    assert {"gunicorn.error", "gunicorn.access"} <= web_loggers, web_loggers


def test_the_production_web_fires_the_workers_alert_when_every_worker_stopped(redis_url, tmp_path):
    """gunicorn's processes watch the alerts (post_worker_init: jobs/maintenance/watch.py)."""
    rule = AlertRule.objects.create(
        name="no workers", kind=AlertRule.Kind.WORKERS_GONE, threshold=1
    )
    with started_production(redis_url, tmp_path, ALERTS_INTERVAL_SECONDS="1") as (web, worker):
        firing = AlertIncident.objects.filter(rule=rule, resolved_at__isnull=True)
        # (It may fire while the web starts before the worker: resolved once the worker is up.)
        wait_for(lambda: WorkerRow.objects.exists() and not firing.exists(), 20, worker.logs)
        stop_production_worker(worker)
        wait_for(firing.exists, 15, web.logs)


def test_health_and_metrics_answer_from_outside(production):
    web, _worker = production
    web.request("POST", "/signup", {"email": "metrics@example.com"})

    assert web.request("GET", "/healthz", headers={"X-Forwarded-Proto": "http"})[0] == 200
    status, _, body = web.request("GET", "/readyz", headers={"X-Forwarded-Proto": "http"})
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert web.request("GET", "/metrics")[0] == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert web.request("GET", "/metrics", headers=wrong)[0] == 401
    status, headers, body = web.request(
        "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    assert (
        'offload_jobs_enqueued_total{actor="send_welcome_email",queue="default"}' in body.decode()
    )
    assert "offload_broker_up 1.0" in body.decode()


def test_a_body_over_the_limit_gets_413_json(production):
    web, _worker = production
    status, headers, body = web.request("POST", "/signup", {"email": "x" * 2_000_000})
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" in headers
    assert "over the limit" in json.loads(body)["errors"]["body"][0]


def test_slow_clients_dripping_bodies_do_not_stall_other_users(production):
    """More dripping connections than web processes: each would hold a sync worker forever."""
    web, _worker = production
    stop = threading.Event()
    drippers = []
    for _ in range(WEB_PROCESSES * 4):
        sock = socket.create_connection(("127.0.0.1", web.port))
        sock.sendall(
            b"POST /signup HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        drippers.append(sock)

    def drip() -> None:
        while not stop.wait(0.5):
            for sock in drippers:
                sock.sendall(b" ")

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        time.sleep(1)  # let every dripper be accepted and blocked mid-body
        # Answered while all of them still drip (the client's 30 s timeout would fail it).
        assert web.request("GET", "/healthz")[0] == 200
        status, _, _ = web.request("POST", "/signup", {"email": "patient@example.com"})
        assert status == 202
        assert all(sock.fileno() != -1 for sock in drippers)
    finally:
        stop.set()
        thread.join()
        for sock in drippers:
            sock.close()


@pytest.mark.parametrize("key", ["", "change-me-to-a-long-random-string", "short"])
def test_a_bad_secret_key_stops_the_start_with_one_line(redis_url, tmp_path, key):
    env = production_env(redis_url, tmp_path / "var", SECRET_KEY=key, PORT=str(free_port()))
    started = subprocess.run(
        [".venv/bin/python", "manage.py", "check"], cwd=ROOT, env=env, capture_output=True
    )
    assert started.returncode != 0
    assert started.stderr.decode().strip().count("\n") == 0, started.stderr
    assert "Refusing to start with DEBUG=0: SECRET_KEY" in started.stderr.decode()


def test_check_deploy_passes_with_the_documented_production_environment(redis_url, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's own warning (W040, covering indexes): the PostgreSQL pass runs it")
    env = production_env(redis_url, tmp_path / "var")
    checked = subprocess.run(
        [".venv/bin/python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
