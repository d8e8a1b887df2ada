"""The fault matrix: every fault injected while a steady load runs, on Redis and on RabbitMQ.

It starts what it kills: a PostgreSQL cluster of its own (`initdb` on a free port), a Redis server
of its own (the embedded binary) or a RabbitMQ node of its own (`rabbitmq-server` with its own
node name, ports and data), the production web (gunicorn, DEBUG=0) and three supervised worker
processes (`manage.py run_workers`, restarted when they die, as systemd would). A load thread
signs users up over HTTP (each a welcome e-mail, a file per message: idempotent by the ledger's
rules) and enqueues two workbench actors that add a row to a table with no uniqueness (so a second
run shows): `effect_once` (exactly_once=True) and `effect_at_least_once` (the same without it).

Per cell (a fault on a broker): jobs accepted, lost (accepted, never done and not failed: must be
0), failed for good (with the ledger's reason), effects doubled per kind, seconds from the fault's
end to the last job done, and p50/p99 of the time from acceptance to effect for the jobs accepted
during the fault. Results: a Markdown table on stdout and JSON under var/chaos/.

    make chaos                                   # both brokers, every fault (about 11 minutes)
    .venv/bin/python bench/chaos.py --brokers redis --short      # CI's pass: short faults
    .venv/bin/python bench/chaos.py --brokers redis --faults broker-freeze,db-restart
    .venv/bin/python bench/chaos.py --soak 100000                # docs/RELIABILITY.md, "Soak"
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import http.client
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from slow_clients import free_port  # noqa: E402 (the bench directory is not a package)

WORKERS = 3
#: Jobs per second of each kind the load offers (signups over HTTP, and the two effect actors).
RATE = {"signup": 3.0, "once": 3.0, "at_least_once": 3.0}
#: An effect job's work: long enough that a kill finds jobs mid-run.
WORK_SECONDS = 0.3
#: Seconds of load after a fault's end, counted as "during the fault" (the system catching up).
AFTERMATH = 5.0
#: On a worker's PYTHONPATH, moves the wall clock of its every Python process (worker-clock).
CLOCK_SHIFT = ROOT / "tests" / "workbench" / "clock_shift"


def wait(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(Exception):
            if value := condition():
                return value
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not within {seconds} s")


# --- the services it kills ------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL cluster of the run's own: restarted, its backends terminated, made
    read-only, without touching the machine's server."""

    def __init__(self, base: Path) -> None:
        self.data = base / "pgdata"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/chaos"
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to postgres
            shutil.chown(base, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        found = shutil.which(tool) or max(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
        command = [found, *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.data / "log"),
            "-o",
            options,
            "-w",
            "start",
        )
        with suppress(Exception):
            self.sql("CREATE DATABASE chaos", database="postgres")

    def restart(self) -> None:
        """Stopped as by a crash (immediate: no checkpoint, recovery from the WAL), started."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def sql(self, statement: str, *, database: str = "chaos") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname={database}", autocommit=True
        ) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def terminate_backends(self) -> int:
        rows = self.sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = 'chaos' AND pid <> pg_backend_pid()",
            database="postgres",
        )
        return int(rows[0][0])

    def read_only(self, on: bool) -> None:
        self.sql(
            f"ALTER DATABASE chaos SET default_transaction_read_only = {'on' if on else 'off'}",
            database="postgres",  # the chaos database itself refuses it once read-only
        )
        self.terminate_backends()  # sessions read the setting when they start


class Broker:
    name = ""

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def start(self) -> None: ...
    def stop(self) -> None: ...

    @property
    def pid(self) -> int:
        raise NotImplementedError

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        with suppress(Exception):  # not running: nothing to thaw
            os.kill(self.pid, signal.SIGCONT)


class OwnRedis(Broker):
    """redis-server (the embedded binary) on a port of its own, append-only as in production."""

    name = "redis"

    def __init__(self, base: Path) -> None:
        from jobs.brokers.embedded import EmbeddedRedis

        base.mkdir(parents=True, exist_ok=True)
        self.server = EmbeddedRedis(base, port=free_port())
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": f"redis://127.0.0.1:{self.server.port}/0"}

    def start(self) -> None:
        self.process = self.server.start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        super().kill()
        assert self.process is not None
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class OwnRabbit(Broker):
    """A RabbitMQ node of the run's own: its node name, AMQP and distribution ports, data."""

    name = "rabbitmq"

    def __init__(self, base: Path) -> None:
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "rabbitmq")
        self.base = base
        self.port = free_port()
        self.node = f"chaos{self.port}@localhost"
        self.node_env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "none"),
        }

    def env(self) -> dict[str, str]:
        return {"BROKER_URL": f"amqp://guest:guest@127.0.0.1:{self.port}/"}

    def start(self) -> None:
        subprocess.Popen(
            ["rabbitmq-server"],
            env=self.node_env,
            stdout=(self.base / "server.out").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
        )
        wait(self._answers, 60, "RabbitMQ node started")

    def _answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        return (
            subprocess.run(
                ["rabbitmqctl", "-n", self.node, "await_startup"], capture_output=True, timeout=30
            ).returncode
            == 0
        )

    @property
    def pid(self) -> int:
        return int((self.base / "pid").read_text().strip())

    def kill(self) -> None:
        pid = self.pid
        super().kill()
        wait(lambda: not Path(f"/proc/{pid}").exists(), 10, "RabbitMQ node gone")
        (self.base / "pid").unlink(missing_ok=True)

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.node, "stop"], capture_output=True, timeout=60)


# --- the processes it supervises ------------------------------------------------------------------


class Supervised:
    """A process group started again when it dies, one second later (as systemd would)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = logs / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.paused = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int, *, whole_tree: bool = True) -> None:
        """`sig` to the process and every descendant (as a cgroup kill or the OOM killer would:
        run_workers starts Dramatiq in a session of its own), or to the top process only
        (run_workers then forwards a SIGTERM, as on a supervisor's stop)."""
        if not self.alive():
            return
        assert self.process is not None
        for pid in [self.process.pid, *(descendants(self.process.pid) if whole_tree else [])]:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)

    def keep_alive(self) -> None:
        if not self.alive() and not self.paused:
            time.sleep(1)
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        self.paused = True
        tree = descendants(self.process.pid) if self.alive() and self.process else []
        self.signal(signal.SIGTERM, whole_tree=False)
        if self.process is not None:
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=40)
        for pid in tree:  # whatever outlived a graceful stop
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process under `pid`, from /proc (children first found, grandchildren after)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


@dataclass
class Accepted:
    kind: str
    key: str
    job_id: str
    at: float  # when it was asked for (wall clock, as the effect's time is read)
    waited: float = 0.0  # until the caller had its answer (the HTTP 202, enqueue's return)


@dataclass
class System:
    base: Path
    postgres: Postgres
    broker: Broker
    env: dict[str, str]
    web_port: int
    web: Supervised
    workers: list[Supervised]
    mail_dir: Path
    stopping: threading.Event = field(default_factory=threading.Event)

    def supervise(self) -> None:
        while not self.stopping.wait(0.5):
            for process in [self.web, *self.workers]:
                process.keep_alive()

    def post(self, path: str, body: dict[str, Any], timeout: float = 10) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=timeout)
        try:
            conn.request(
                "POST",
                path,
                body=json.dumps(body),
                headers={"Content-Type": "application/json", "X-Forwarded-Proto": "https"},
            )
            response = conn.getresponse()
            text = response.read()
            return response.status, json.loads(text) if text.startswith(b"{") else text
        finally:
            conn.close()


def system_env(base: Path, postgres: Postgres, broker: Broker) -> dict[str, str]:
    inherited = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "BROKER_URL", "DATABASE_URL"}
    }
    return {
        **inherited,
        **broker.env(),
        "DATABASE_URL": postgres.url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "CACHE_URL": "locmemcache://",
        "SIGNUP_RATE_PER_IP": "100000/m",
        "MAIL_RATE_PER_MAILBOX": "100000/h",
        "EMAIL_URL": "filemail://",
        "EMAIL_FILE_PATH": str(base / "mail"),
        "OFFLOAD_VAR_DIR": str(base / "var"),
        "EXTRA_INSTALLED_APPS": "tests.workbench",
        "WORKBENCH_DIR": str(base / "workbench"),
        "JOBS_SCHEDULER_ENABLED": "0",
        "WEB_CONCURRENCY": "2",
        "BIND_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }


def worker(name: str, env: dict[str, str], logs: Path) -> Supervised:
    argv = [sys.executable, "manage.py", "run_workers", "--", "--processes", "1", "--threads", "4"]
    return Supervised(name, argv, env, logs)


@contextmanager
def running_system(broker_name: str, base: Path) -> Iterator[System]:
    """Everything started, and on the way out (an error or SIGTERM too) everything stopped."""
    for directory in ("mail", "var", "workbench", "logs"):
        (base / directory).mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        postgres = Postgres(base / "postgres")
        stack.callback(postgres.stop)
        postgres.start()
        broker: Broker = (
            OwnRedis(base / "redis") if broker_name == "redis" else OwnRabbit(base / "rabbitmq")
        )
        stack.callback(broker.stop)
        stack.callback(broker.thaw)  # a cell may have died mid-freeze
        broker.start()
        env = system_env(base, postgres, broker)
        for command in (
            ["migrate", "--noinput"],
            ["createcachetable"],
            ["collectstatic", "--noinput", "-v0"],
        ):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        web_port = free_port()
        web = Supervised(
            "web",
            [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.conf.py"],
            {**env, "PORT": str(web_port)},
            base / "logs",
        )
        workers = [worker(f"worker-{n}", env, base / "logs") for n in range(WORKERS)]
        system = System(base, postgres, broker, env, web_port, web, workers, base / "mail")
        for process in [web, *workers]:
            stack.callback(process.stop)
            process.start()
        supervisor = threading.Thread(target=system.supervise, daemon=True)
        stack.callback(supervisor.join)
        stack.callback(system.stopping.set)
        supervisor.start()
        wait(
            lambda: system.post("/signup", {"email": "warm@chaos.example"})[0] == 202, 90, "web up"
        )
        yield system


# --- the load -------------------------------------------------------------------------------------


class Load:
    """Offers RATE jobs per second of each kind until stopped; remembers what was accepted."""

    def __init__(self, system: System, label: str) -> None:
        self.system, self.label = system, label
        self.accepted: list[Accepted] = []
        self.refused = Counter[str]()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._offer, args=(kind,)) for kind in RATE]
        self._lock = threading.Lock()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _offer(self, kind: str) -> None:
        from django.db import close_old_connections, connection

        interval = 1 / RATE[kind]
        next_at = time.monotonic()
        while not self.stop.is_set():
            key = f"{self.label}-{kind}-{uuid.uuid4().hex[:10]}"
            asked = time.time()  # latency counts from the ask: a send may block in a fault
            try:
                job_id = self._send(kind, key)
            except Exception as error:  # what a client sees: counted, not fatal
                job_id = None
                self.refused[f"{kind}: {type(error).__name__}"] += 1
                close_old_connections()
                with suppress(Exception):
                    connection.close()
            if job_id:
                with self._lock:
                    self.accepted.append(Accepted(kind, key, job_id, asked, time.time() - asked))
            next_at += interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        connection.close()

    def _send(self, kind: str, key: str) -> str | None:
        if kind == "signup":
            status, body = self.system.post("/signup", {"email": f"{key}@chaos.example"})
            if status != 202:
                self.refused[f"signup: HTTP {status}"] += 1
                return None
            return str(body["job_id"])
        from jobs.outbox import enqueue
        from tests.workbench.tasks import effect_at_least_once, effect_once

        actor = effect_once if kind == "once" else effect_at_least_once
        return str(enqueue(actor, key, "none", WORK_SECONDS).id)


# --- what happened --------------------------------------------------------------------------------


def mail_effects(mail_dir: Path) -> dict[str, list[float]]:
    """Welcome e-mails per recipient: the time of each (its file's)."""
    seen: dict[str, list[float]] = {}
    for path in mail_dir.iterdir():
        mtime = path.stat().st_mtime
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("To: "):
                seen.setdefault(line[4:].strip(), []).append(mtime)
    return seen


def row_effects(label: str) -> dict[str, list[float]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, extract(epoch FROM at) FROM workbench_effect WHERE key LIKE %s",
            [f"{label}-%"],
        )
        seen: dict[str, list[float]] = {}
        for key, at in cursor.fetchall():
            seen.setdefault(key, []).append(float(at))
    return seen


def effects_of(system: System, label: str, accepted: list[Accepted]) -> dict[str, list[float]]:
    mails = mail_effects(system.mail_dir)
    rows = row_effects(label)
    return {
        a.key: (
            mails.get(f"{a.key}@chaos.example", []) if a.kind == "signup" else rows.get(a.key, [])
        )
        for a in accepted
    }


def failed_jobs(accepted: list[Accepted]) -> dict[str, str]:
    from jobs.models import Job, JobStatus

    ids = [a.job_id for a in accepted]
    return dict(
        Job.objects.filter(pk__in=ids, status=JobStatus.FAILED).values_list("id", "last_error")
    )


def settle(
    system: System, label: str, accepted: list[Accepted], deadline: float
) -> tuple[float, dict[str, list[float]], dict[str, str]]:
    """Wait until every accepted job did its effect or failed for good; (when, effects, failed)."""
    from django.db import close_old_connections

    end = time.monotonic() + deadline
    while True:
        close_old_connections()
        try:
            done = effects_of(system, label, accepted)
            failed = {str(k): v for k, v in failed_jobs(accepted).items()}
        except Exception:
            time.sleep(1)
            continue
        waiting = [a for a in accepted if not done[a.key] and a.job_id not in failed]
        if not waiting or time.monotonic() > end:
            return time.time(), done, failed
        time.sleep(0.5)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


# --- the faults -----------------------------------------------------------------------------------


@dataclass
class Cell:
    """One fault's run: its label (every key of its jobs starts with it), whether the fault is
    short (CI), and jobs a fault itself accepted (the web process it killed)."""

    label: str
    short: bool
    orphans: list[Accepted] = field(default_factory=list)


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    inject: Callable[[System, Cell], None]  # returns when the fault is over


def busy_worker(system: System) -> Supervised:
    """A worker in the middle of an effect job (the ledger's `worker` is host:pid:thread),
    waited for up to 5 s, else any: a kill that finds nothing in flight tests little."""
    from django.db import close_old_connections
    from django.utils import timezone

    from jobs.models import Job, JobStatus

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with suppress(Exception):
            close_old_connections()
            # Mid-way through its work: started under half of WORK_SECONDS ago.
            running = Job.objects.filter(
                status=JobStatus.RUNNING,
                actor_name__in=["effect_once", "effect_at_least_once"],
                started_at__gte=timezone.now() - dt.timedelta(seconds=WORK_SECONDS / 2),
            ).values_list("worker", flat=True)
            pids = {int(name.split(":")[1]) for name in running if name.count(":") >= 2}
            for candidate in random.sample(system.workers, len(system.workers)):
                if candidate.process and pids & set(descendants(candidate.process.pid)):
                    return candidate
        time.sleep(0.05)
    return random.choice(system.workers)


def worker_kill(system: System, cell: Cell) -> None:
    busy_worker(system).signal(signal.SIGKILL)


def worker_kill_repeatedly(system: System, cell: Cell) -> None:
    for _ in range(3 if cell.short else 6):
        busy_worker(system).signal(signal.SIGKILL)
        time.sleep(4)


def worker_term(system: System, cell: Cell) -> None:
    busy_worker(system).signal(signal.SIGTERM, whole_tree=False)


def broker_kill(system: System, cell: Cell) -> None:
    system.broker.kill()
    time.sleep(5)
    system.broker.start()


def broker_freeze(system: System, cell: Cell) -> None:
    system.broker.freeze()
    time.sleep(8 if cell.short else 30)
    system.broker.thaw()


def db_backends_terminated(system: System, cell: Cell) -> None:
    for _ in range(3):
        system.postgres.terminate_backends()
        time.sleep(2)


def db_restart(system: System, cell: Cell) -> None:
    system.postgres.restart()


def db_read_only(system: System, cell: Cell) -> None:
    system.postgres.read_only(True)
    time.sleep(5 if cell.short else 15)
    system.postgres.read_only(False)


DIE_AFTER_COMMIT = """
import os, signal, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.db import transaction
from accounts.services import sign_up
with transaction.atomic():
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))  # first: before any send
    for email in sys.argv[1:]:
        sign_up(email)
"""


def web_killed_after_commit(system: System, cell: Cell) -> None:
    """A web process that commits 5 signups and is SIGKILLed before it sends them, and a
    gunicorn worker SIGKILLed under load (whatever it was doing)."""
    # Addresses of their own each time: a soak injects this fault again under the same label,
    # and one address's e-mails would count as one job's doubles.
    died = uuid.uuid4().hex[:6]
    emails = [f"{cell.label}-signup-died{died}{n}@chaos.example" for n in range(5)]
    subprocess.run(
        [sys.executable, "-c", DIE_AFTER_COMMIT, *emails], cwd=ROOT, env=system.env, check=False
    )
    from jobs.models import Job

    for email in emails:
        job = Job.objects.filter(about_label=email).first()
        if job is not None:
            cell.orphans.append(Accepted("signup", email.split("@")[0], str(job.id), time.time()))
    assert system.web.process is not None
    children = subprocess.run(
        ["pgrep", "-P", str(system.web.process.pid)], capture_output=True, text=True, check=False
    )
    pids = children.stdout.split()
    if pids:
        os.kill(int(random.choice(pids)), signal.SIGKILL)


def worker_clock_off(system: System, cell: Cell) -> None:
    """A fourth worker whose wall clock is an hour behind, for the fault's span: its heartbeats
    look an hour old to the others, its timestamps are an hour early."""
    env = {
        **system.env,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(CLOCK_SHIFT), system.env.get("PYTHONPATH")])
        ),
        "CHAOS_CLOCK_SHIFT_SECONDS": "-3600",
    }
    skewed = worker("worker-clock-off", env, system.base / "logs")
    skewed.start()
    time.sleep(10 if cell.short else 30)
    skewed.stop()


FAULTS = [
    Fault("worker-kill", "a worker SIGKILLed once", worker_kill),
    Fault(
        "worker-kill-repeated", "a worker SIGKILLed every 4 s, 3-6 times", worker_kill_repeatedly
    ),
    Fault("worker-term", "a worker SIGTERMed mid-job (graceful stop)", worker_term),
    Fault("broker-kill", "the broker SIGKILLed, started again 5 s later", broker_kill),
    Fault("broker-freeze", "the broker frozen (SIGSTOP) 30 s (short: 8 s)", broker_freeze),
    Fault(
        "db-backends",
        "every PostgreSQL backend terminated, 3 times 2 s apart",
        db_backends_terminated,
    ),
    Fault("db-restart", "PostgreSQL stopped as by a crash (immediate) and started", db_restart),
    Fault("db-read-only", "the database read-only for 15 s (short: 5 s)", db_read_only),
    Fault(
        "web-killed",
        "a web process killed between commit and send; a gunicorn worker SIGKILLed",
        web_killed_after_commit,
    ),
    Fault(
        "worker-clock",
        "a worker whose clock is 1 h behind, for 30 s (short: 10 s)",
        worker_clock_off,
    ),
]


def run_cell(system: System, fault: Fault, short: bool, deadline: float) -> dict[str, Any]:
    cell = Cell(f"{fault.name}-{uuid.uuid4().hex[:6]}", short)
    with Load(system, cell.label) as load:
        time.sleep(3 if short else 5)
        fault_start = time.time()
        fault.inject(system, cell)
        fault_end = time.time()
        time.sleep(AFTERMATH)
    accepted = load.accepted + cell.orphans
    finished, effects, failed = settle(system, cell.label, accepted, deadline)
    # "During": from the fault's start to AFTERMATH s after its end (a kill is an instant).
    during = [a for a in accepted if fault_start <= a.at <= fault_end + AFTERMATH]
    latencies = [min(effects[a.key]) - a.at for a in during if effects[a.key]]
    # Recovery: until every job accepted before the fault's end had its effect.
    before_end = [min(effects[a.key]) for a in accepted if a.at <= fault_end and effects[a.key]]
    last_effect = max(before_end, default=fault_end)
    return {
        "fault": fault.name,
        "broker": system.broker.name,
        **outcome(accepted, effects, failed),
        "refused": dict(load.refused),
        "recovery_seconds": round(max(0.0, last_effect - fault_end), 1),
        "settled_seconds": round(finished - fault_end, 1),
        "latency_during_fault_p50": percentile(latencies, 0.5),
        "latency_during_fault_p99": percentile(latencies, 0.99),
        "slowest_answer_during_fault": round(max((a.waited for a in during), default=0.0), 2),
        "fault_seconds": round(fault_end - fault_start, 1),
        "worker_restarts": sum(w.restarts for w in system.workers),
    }


def outcome(
    accepted: list[Accepted], effects: dict[str, list[float]], failed: dict[str, str]
) -> dict[str, Any]:
    """What became of the accepted jobs: lost, failed for good (why), effects doubled per kind."""
    kinds = {kind: [a for a in accepted if a.kind == kind] for kind in RATE}
    return {
        "accepted": len(accepted),
        "lost": sum(1 for a in accepted if not effects[a.key] and a.job_id not in failed),
        "failed": len(failed),
        "failed_reasons": sorted({reason.splitlines()[0][:120] for reason in failed.values()}),
        "doubled": {
            kind: sum(max(0, len(effects[a.key]) - 1) for a in jobs) for kind, jobs in kinds.items()
        },
    }


def markdown(cells: list[dict[str, Any]]) -> str:
    lines = [
        "| fault | broker | accepted | refused | lost | failed "
        "| doubled: e-mail / exactly-once / at-least-once "
        "| s from fault end to backlog done | latency p50 / p99 s | slowest answer s |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: |",
    ]
    for c in cells:
        d = c["doubled"]
        lines.append(
            f"| {c['fault']} | {c['broker']} | {c['accepted']} | {sum(c['refused'].values())} "
            f"| {c['lost']} | {c['failed']} "
            f"| {d['signup']} / {d['once']} / {d['at_least_once']} | {c['recovery_seconds']} "
            f"| {c['latency_during_fault_p50']} / {c['latency_during_fault_p99']} "
            f"| {c.get('slowest_answer_during_fault')} |"
        )
    return "\n".join(lines)


def setup_driver(system: System) -> None:
    """This process enqueues and reads like a web process of the same deployment."""
    os.environ.update(system.env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from tests.workbench.records import create_effects_table

    create_effects_table()
    # The load's enqueues meet the faults: the outbox's warnings are expected here, not news.
    logging.getLogger("jobs.outbox").setLevel(logging.ERROR)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brokers", default="redis,rabbitmq")
    parser.add_argument("--faults", default=",".join(f.name for f in FAULTS))
    parser.add_argument("--short", action="store_true", help="short faults (CI)")
    parser.add_argument("--deadline", type=float, default=240, help="seconds to settle a cell")
    parser.add_argument(
        "--soak", type=int, default=0, help="accept this many jobs, a random fault every 20-45 s"
    )
    parser.add_argument(
        "--rate", type=float, default=3.0, help="jobs per second of each of the 3 kinds (3)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's directories")
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)  # one broker's cells (JSON)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what it started on the way out
    brokers = args.brokers.split(",")
    RATE.update(dict.fromkeys(RATE, args.rate))
    if len(brokers) == 1 and args.out:
        cells = run_broker(brokers[0], args)
        args.out.write_text(json.dumps(cells))
        return 0
    # Django is set up once per process, for one database: each broker runs in a child process.
    out_dir = ROOT / "var" / "chaos"
    out_dir.mkdir(parents=True, exist_ok=True)
    # The brokers in the name: two runs started in the same minute write files of their own.
    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M}-{'-'.join(brokers)}"
    cells = []
    for broker in brokers:
        part = out_dir / f"{stamp}.{broker}.part.json"
        argv = [sys.executable, __file__, *_without_brokers(sys.argv[1:]), "--brokers", broker]
        run_child([*argv, "--out", str(part)])
        cells += json.loads(part.read_text())
        part.unlink()
    (out_dir / f"{stamp}.json").write_text(json.dumps(cells, indent=1))
    print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d}, {' '.join(['bench/chaos.py', *sys.argv[1:]])}")
    print(markdown(cells))
    bad = [c for c in cells if c["lost"] or c["doubled"]["once"] or c["doubled"]["signup"]]
    for c in bad:
        print(
            f"FAILED: {c.get('fault', 'soak')} on {c['broker']}: lost or doubled", file=sys.stderr
        )
    return 1 if bad else 0


def run_child(argv: list[str]) -> None:
    """Run one broker's child; a SIGTERM here is passed on, so the child stops what it started
    (subprocess.run would SIGKILL it)."""
    child = subprocess.Popen(argv)
    try:
        returncode = child.wait()
    except SystemExit:
        child.terminate()
        child.wait(timeout=120)
        raise
    if returncode:
        raise SystemExit(f"{' '.join(argv[1:])}: exit {returncode}")


def _without_brokers(argv: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--brokers":
            skip = True
        elif not arg.startswith("--brokers="):
            kept.append(arg)
    return kept


def run_broker(broker_name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    chosen = [f for f in FAULTS if f.name in args.faults.split(",")]
    base = Path(tempfile.mkdtemp(prefix=f"offload-chaos-{broker_name}-"))
    os.chmod(base, 0o755)  # noqa: S103  # postgres and rabbitmq own their subdirectories
    cells: list[dict[str, Any]] = []
    try:
        with running_system(broker_name, base) as system:
            setup_driver(system)
            if args.soak:
                return [soak(system, args.soak, args.deadline)]
            for fault in chosen:
                cell = run_cell(system, fault, args.short, args.deadline)
                cells.append(cell)
                print(json.dumps(cell), flush=True)
                for process in system.workers:  # the next cell starts with every worker up
                    wait(process.alive, 30, f"{process.name} up")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return cells


def soak(system: System, jobs: int, deadline: float) -> dict[str, Any]:
    """Load until `jobs` were accepted, a random fault (short) every 20-45 s. Its latencies are
    of every job, its recovery from the load's end to the last job done."""
    from django.db import connections

    cell = Cell(f"soak-{uuid.uuid4().hex[:6]}", short=True)
    injected = Counter[str]()
    started = time.time()
    next_fault = time.monotonic() + random.uniform(20, 45)
    with Load(system, cell.label) as load:
        while len(load.accepted) + len(cell.orphans) < jobs:
            time.sleep(1)
            if time.monotonic() >= next_fault:
                connections.close_all()  # a fault before may have cut this thread's connection
                fault = random.choice(FAULTS)
                injected[fault.name] += 1
                fault.inject(system, cell)
                print(f"soak: {len(load.accepted)} accepted, {fault.name}", flush=True)
                next_fault = time.monotonic() + random.uniform(20, 45)
        load_end = time.time()
    accepted = load.accepted + cell.orphans
    finished, effects, failed = settle(system, cell.label, accepted, deadline)
    latencies = [min(effects[a.key]) - a.at for a in accepted if effects[a.key]]
    last_effect = max((min(effects[a.key]) for a in accepted if effects[a.key]), default=load_end)
    return {
        "fault": "soak",
        "broker": system.broker.name,
        **outcome(accepted, effects, failed),
        "refused": dict(load.refused),
        "faults": dict(injected),
        "hours": round((finished - started) / 3600, 2),
        "recovery_seconds": round(max(0.0, last_effect - load_end), 1),
        "latency_during_fault_p50": percentile(latencies, 0.5),
        "latency_during_fault_p99": percentile(latencies, 0.99),
        "latency_max": round(max(latencies, default=0.0), 1),
        "slowest_answer_during_fault": round(max((a.waited for a in accepted), default=0.0), 2),
        "worker_restarts": sum(w.restarts for w in system.workers),
    }


if __name__ == "__main__":
    sys.exit(main())
