"""Shared fixtures: a real Redis server for the session, named users, and a real worker process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from django.conf import settings
from django.db import connection

from jobs.brokers.embedded import EmbeddedRedis
from jobs.ledger.history import timeline
from jobs.models import EventKind, Job

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = f"unix://{settings.REDIS_SOCKET}?db=0"


def point_broker_at(url: str) -> None:
    """Make this process's broker (already built by django-dramatiq) talk to `url`.

    Actors are bound to that broker object, so we swap its connection pool rather than the broker.
    """
    broker: Any = dramatiq.get_broker()
    timeout = settings.REDIS_TIMEOUT_SECONDS  # as in production, so fault tests measure it
    broker.client.connection_pool = redis.ConnectionPool.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server: REDIS_URL if set (CI's second pass), else an embedded one. With
    BROKER_URL set to RabbitMQ (CI's RabbitMQ pass) the queues are there: no Redis is started."""
    if settings.BROKER_URL:
        yield settings.BROKER_URL
        return
    if settings.REDIS_URL != DEFAULT_REDIS_URL:
        url = settings.REDIS_URL
        redis.Redis.from_url(url).flushdb()
        point_broker_at(url)
        yield url
        return
    # A short path: unix socket paths are limited to 107 bytes.
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis", numbered=True)))
    process = server.start()
    point_broker_at(server.url)
    yield server.url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture(autouse=True)
def _clean_broker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the broker starts from empty queues."""
    yield
    if "redis_url" in request.fixturenames:
        dramatiq.get_broker().flush_all()


@pytest.fixture(scope="session", autouse=True)
def _background_writer_stopped_before_teardown(django_db_setup: Any) -> Iterator[None]:
    """The background writer (jobs/ledger/writer.py) keeps a connection to the test database:
    flushed and closed before pytest-django drops that database."""
    yield
    from jobs.ledger import writer as ledger_writer

    if ledger_writer._background is not None:
        ledger_writer._background[1].stop(10)


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # In-process workers' upkeep would enqueue periodic jobs into tests that count jobs.
    settings.JOBS_SCHEDULER_ENABLED = False
    # PBKDF2's deliberate slowness is most of a test's time otherwise (Django's testing advice).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice@example.com", "alice-password-1")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob@example.com", "bob-password-1")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("staff@example.com", "staff-password-1")


def database_url() -> str:
    """The URL of the test database this process uses, for a worker subprocess to share."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    if connection.vendor == "postgresql":
        auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
        host = f"{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}"
        return f"postgres://{auth}@{host}/{params['NAME']}"
    raise NotImplementedError(connection.vendor)


class WorkerProcess:
    """A real `manage.py rundramatiq` process sharing this test's database and Redis."""

    def __init__(
        self,
        redis_url: str,
        workdir: Path,
        media_root: str,
        *,
        name: str = "worker",
        extra_env: dict[str, str] | None = None,
        command: tuple[str, ...] = ("rundramatiq", "--processes", "1", "--threads", "4"),
        argv: list[str] | None = None,
    ) -> None:
        self.name = name
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir(exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url(),
            "EMAIL_URL": "filemail://",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "MEDIA_ROOT": media_root,
            "FAILING_EMAIL_ADDRESSES": "error@example.com",
            "DRAMATIQ_NAMESPACE": getattr(dramatiq.get_broker(), "namespace", "offload"),
            "PYTHONUNBUFFERED": "1",
            # Consumers poll every 100 ms, not every second, so a test's worker stops sooner.
            "dramatiq_worker_timeout": "100",
            # Periodic jobs would add rows to tests that count them: on where a test asks.
            "JOBS_SCHEDULER_ENABLED": "0",
            **(extra_env or {}),
        }
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv or [sys.executable, "manage.py", *command],
            # Its own session: the test can signal the whole worker (master and children).
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: b"ready for action" in self.log_path.read_bytes(), 30, self.logs)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def emails(self) -> list[str]:
        """Every message the worker sent (the file backend writes one file per connection)."""
        messages: list[str] = []
        for path in sorted(self.mail_dir.iterdir()):
            separator = "-" * 79
            messages += [m for m in path.read_text().split(separator) if m.strip()]
        return messages

    def stop(self) -> None:
        if self.process.poll() is None:
            # The master only: it forwards SIGTERM once; a second one would hard-kill the workers.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def run_coroutine(coroutine: Any) -> Any:
    """asyncio.run() in a thread of its own: Playwright's sync API leaves an event loop running in
    the main thread once a browser test ran, where asyncio.run() refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def wait_for(
    condition: Callable[[], Any], timeout: float, explain: Callable[[], str] = lambda: ""
) -> Any:
    """Poll `condition` until it is truthy; fail with `explain()` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s\n{explain()}")
        time.sleep(0.05)


@pytest.fixture
def worker(
    redis_url: str, transactional_db: None, tmp_path: Path, settings: Any
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(redis_url, tmp_path, settings.MEDIA_ROOT)
    yield process
    process.stop()


@pytest.fixture
def workbench_worker(
    redis_url: str, transactional_db: None, tmp_path: Path, settings: Any, monkeypatch: Any
) -> Iterator[WorkerProcess]:
    """A real worker that also runs the test-only actors of tests/workbench (their effects are
    logged under tmp_path, which this process sees as $WORKBENCH_DIR too)."""
    monkeypatch.setenv("WORKBENCH_DIR", str(tmp_path))
    process = WorkerProcess(
        redis_url,
        tmp_path,
        settings.MEDIA_ROOT,
        extra_env={"EXTRA_INSTALLED_APPS": "tests.workbench", "WORKBENCH_DIR": str(tmp_path)},
    )
    yield process
    process.stop()


class Webhook:
    """A real HTTP endpoint for alert webhooks: keeps each JSON body POSTed to it and answers
    with `status` (set it to 500 to make the channel fail)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.status = 204
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.status < 300:
                    hook.received.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


def unacked(redis_client: Any, queue: str) -> int:
    """Messages of `queue` fetched or waiting but not yet acked (Dramatiq's `.msgs` hash)."""
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    return int(redis_client.hlen(f"{namespace}:{queue}.msgs"))


def settled(job_id: Any) -> Job | None:
    """The job if it is final and its send is recorded (a fast job can end before this
    process's background writer records the send: jobs/ledger/writer.py), else None."""
    job = Job.objects.get(pk=job_id)
    sent = any(event.kind in (EventKind.QUEUED, EventKind.RESENT) for event in timeline(job))
    return job if job.is_final and sent else None


def wait_until_final(job_id: Any, worker: WorkerProcess, timeout: float = 30) -> Job:
    def explain() -> str:
        job = Job.objects.filter(pk=job_id).first()
        events = [(event.kind, event.message) for event in timeline(job)] if job else []
        return f"job {job_id}: {job and job.status} {events}\n--- worker log ---\n{worker.logs()}"

    result: Job = wait_for(lambda: settled(job_id), timeout, explain)
    return result


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly when the browser tests did not run, and how to make them run; print the
    fuzz tests' answers per endpoint."""
    fuzz = sys.modules.get("tests.test_fuzz_inputs")
    if fuzz is not None and fuzz.STATUSES:
        terminalreporter.section("fuzz: answers per endpoint")
        for endpoint, counts in sorted(fuzz.STATUSES.items()):
            answers = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
            terminalreporter.line(f"{endpoint:40} {sum(counts.values()):6} inputs  ({answers})")
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "Chromium not found" in str(report.longrepr)
    ]
    if skipped:
        terminalreporter.section("browser tests NOT run", sep="!", yellow=True, bold=True)
        terminalreporter.line(
            f"{len(skipped)} browser test(s) skipped: /usr/bin/chromium is missing. "
            "Run `make browser` (installs Debian's chromium; needs root), then `make test`.",
            yellow=True,
            bold=True,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On RabbitMQ (BROKER_URL set) the tests that read or stop Redis itself do not apply, and
    without it those that read RabbitMQ itself."""
    if not settings.BROKER_URL:
        only_rabbitmq = pytest.mark.skip(reason="reads RabbitMQ itself: the RabbitMQ pass runs it")
        for item in items:
            if item.get_closest_marker("rabbitmq"):
                item.add_marker(only_rabbitmq)
        return
    skip = pytest.mark.skip(reason="reads or stops Redis itself: the Redis passes run it")
    for item in items:
        uses_redis = {"redis_client", "own_redis"} & set(getattr(item, "fixturenames", ()))
        if uses_redis or item.get_closest_marker("redis"):
            item.add_marker(skip)
