"""Worker throughput: plain Dramatiq vs the full ledger vs django-dramatiq's admin, in one run.

For each round and variant (in alternating order): N no-op messages are written straight into a
fresh queue of its own Redis server (no enqueue middleware: every variant drains the same
messages; for the ledger variant the job rows exist first, as `enqueue()` leaves them), then real
`rundramatiq` workers (P processes x T threads, bench/worker_settings.py) drain them. Throughput
is measured on the broker's side (from the first message taken to the last one acked), so worker
start-up is not counted. Also reports CPU milliseconds per job of the worker processes, Redis and
PostgreSQL (all its server processes, from /proc), checks that every job reached its final state
(ledger: succeeded with its 4 events, held by its row; django-dramatiq: a "done" task row) and
counts error lines in the worker logs.

Usage:
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_bench \\
    .venv/bin/python bench/worker_throughput.py [--jobs 5000] [--rounds 3] [--workers 1x8,2x8]
  (without DATABASE_URL: a throwaway SQLite file, for the embedded default's figure)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("plain", "ledger", "django_dramatiq")
QUEUE = "workbench"
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback|database is locked")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1x8,2x8", help="processes x threads, comma list")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="any variant + _async: an "
        "async def no-op actor instead of the sync one (bench/worker_settings.py)",
    )
    args = parser.parse_args()

    workdir = setup("offload-throughput-")
    from django.db import connection

    broker = "RabbitMQ (BROKER_URL)" if on_rabbitmq() else "Redis (one of its own per run)"
    print(
        f"database: {connection.vendor}, broker: {broker}, jobs per run: {args.jobs}, "
        f"rounds: {args.rounds}"
    )
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for config in args.workers.split(","):
        processes, threads = (int(n) for n in config.split("x"))
        for round_number in range(args.rounds):
            order = args.variants.split(",")
            if round_number % 2:
                order.reverse()  # alternate, so drift on a shared machine hits all variants
            for variant in order:
                figures = run_once(variant, args.jobs, processes, threads, workdir)
                results.setdefault((config, variant), []).append(figures)
                print(f"  {config} {variant:16} round {round_number + 1}: {json.dumps(figures)}")
    report(results)
    if not all(r["verified"] for runs in results.values() for r in runs):
        sys.exit("Some runs left jobs without their final state or history: see above.")


def setup(prefix: str) -> Path:
    """Django for the bench process (the workers' settings, the workbench actors), migrated;
    returns a temporary working directory."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(
        OFFLOAD_VAR_DIR=str(workdir),
        DJANGO_SETTINGS_MODULE="bench.worker_settings",
        EXTRA_INSTALLED_APPS="tests.workbench",
        WORKBENCH_DIR=str(workdir),
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return workdir


def run_once(
    variant: str, jobs: int, processes: int, threads: int, workdir: Path
) -> dict[str, float]:
    from django.db import connections

    from jobs.brokers.embedded import EmbeddedRedis

    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    redis_server = EmbeddedRedis(run_dir / "redis")
    redis_process = redis_server.start()
    env = {**os.environ, "BENCH_VARIANT": variant, "REDIS_URL": redis_server.url}
    try:
        client = _redis(redis_server.url)
        actor = "async_noop" if variant.endswith("_async") else "noop"
        ledger = variant.startswith("ledger")
        ids = preload(client, jobs, ledger=ledger, actor=actor)
        connections.close_all()
        log_path = run_dir / "worker.log"
        cpu_before = cpu_times(redis_process.pid)
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "rundramatiq",
                    "--processes",
                    str(processes),
                    "--threads",
                    str(threads),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                started, finished = drain_times(client, jobs, worker)
                cpu_after = cpu_times(redis_process.pid, worker.pid)
                if on_rabbitmq() and ledger:  # the last prefetched jobs (drain_times)
                    wait_for_ledger(ids, worker)
            finally:
                worker.terminate()
                worker.wait(timeout=60)
        verified = verify(variant, ids)
        errors = sum(
            1
            for line in log_path.read_text(errors="replace").splitlines()
            if ERROR_LINE.search(line)
        )
        seconds = finished - started
        return {
            "jobs_per_s": round(jobs / seconds, 1),
            "worker_cpu_ms_per_job": round(
                (cpu_after["worker"] - cpu_before["worker"]) * 1000 / jobs, 3
            ),
            "broker_cpu_ms_per_job": round(
                (cpu_after["broker"] - cpu_before["broker"]) * 1000 / jobs, 3
            ),
            "db_cpu_ms_per_job": round(
                (cpu_after["postgres"] - cpu_before["postgres"]) * 1000 / jobs, 3
            ),
            "verified": verified,
            "error_lines": errors,
        }
    finally:
        redis_process.terminate()
        redis_process.wait()


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def preload(client: Any, jobs: int, *, ledger: bool, actor: str = "noop") -> list[uuid.UUID]:
    """N no-op messages straight into the queue (and, for the ledger, their job rows)."""
    import dramatiq
    from django.utils import timezone
    from dramatiq import Message

    from jobs.models import Job, JobStatus

    broker: Any = dramatiq.get_broker()
    ids = [uuid.uuid4() for _ in range(jobs)]
    if ledger:
        empty_ledger()
        now = timezone.now()  # enqueued and sent, as enqueue() leaves a job
        Job.objects.bulk_create(
            [
                Job(
                    id=i,
                    actor_name=actor,
                    queue_name=QUEUE,
                    status=JobStatus.QUEUED,
                    enqueued_at=now,
                    sent_at=now,
                    max_retries=0,
                )
                for i in ids
            ],
            batch_size=1000,
        )
    if ledger:
        vacuum_analyze()
    if on_rabbitmq():
        # Through the broker (RabbitMQ has no other door), marked as recorded so that no
        # middleware of this process records them; the queue emptied first.
        from jobs.ledger.messages import RECORDED_OPTION

        broker.flush(QUEUE)
        for job_id in ids:
            options = {RECORDED_OPTION: True}
            broker.enqueue(Message(QUEUE, actor, (), {}, options, message_id=str(job_id)))
        return ids
    namespace = broker.namespace
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        redis_id = str(uuid.uuid4())
        message: Message[Any] = Message(
            queue_name=QUEUE,
            actor_name=actor,
            args=(),
            kwargs={},
            options={"redis_message_id": redis_id},
            message_id=str(job_id),
        )
        pipe.hset(f"{namespace}:{QUEUE}.msgs", redis_id, message.encode())
        pipe.rpush(f"{namespace}:{QUEUE}", redis_id)
    pipe.execute()
    return ids


def on_rabbitmq() -> bool:
    """BROKER_URL=amqp://...: the workers consume from that RabbitMQ instead of a Redis server
    of the bench's own (the vhost's `workbench` queue, emptied before each run)."""
    return os.environ.get("BROKER_URL", "").startswith(("amqp://", "amqps://"))


def empty_ledger() -> None:
    """Every run starts from an empty ledger, as every run starts from an empty Redis: rounds
    stay comparable instead of each one inheriting the last one's dead rows and index entries
    (PostgreSQL: TRUNCATE, which leaves none even where autovacuum is off)."""
    from django.db import connection

    from jobs.models import Job, JobsPerHour

    # Every table that references a job (events, uniqueness locks with their hidden relation,
    # ...), found, not listed: a new one must not break the harness again.
    reverse = (f for f in Job._meta.get_fields(include_hidden=True) if f.auto_created)
    referencing: set[Any] = {f.related_model for f in reverse if not f.concrete} - {Job}
    if connection.vendor == "postgresql":
        tables = ", ".join(m._meta.db_table for m in (*referencing, JobsPerHour, Job))
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables}")
        return
    for model in (*referencing, Job):
        model.objects.all()._raw_delete(model.objects.db)


def vacuum_analyze() -> None:
    """What autovacuum keeps doing on a production database, done before the clock starts:
    the planner knows the ledger's size, and visibility is up to date."""
    from django.db import connection

    from jobs.models import Job, JobEvent

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Job, JobEvent):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def drain_times(
    client: Any, jobs: int, worker: subprocess.Popen[bytes], timeout: float = 600
) -> tuple[float, float]:
    """When the first message was taken from the queue, and when the last one was acked.

    RabbitMQ tells how many messages are ready but not how many are unacked (AMQP has no such
    count): there the drain ends when none is ready, leaving out the last prefetched ones (at
    most the prefetch of each worker process, under 1 % of a run of thousands)."""
    import dramatiq

    if on_rabbitmq():
        return _rabbitmq_drain_times(jobs, worker, timeout)
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    queue, messages = f"{namespace}:{QUEUE}", f"{namespace}:{QUEUE}.msgs"
    deadline = time.monotonic() + timeout
    started = None
    full = time.monotonic()  # the last poll that found every message still waiting
    while time.monotonic() < deadline:
        waiting, stored = client.llen(queue), client.hlen(messages)
        now = time.monotonic()
        if waiting == jobs:
            full = now
        if started is None and waiting < jobs:
            started = full  # a small run can be taken whole between two polls
        if started is not None and stored == 0:
            return started, now
        if worker.poll() is not None:
            raise RuntimeError(f"the workers exited ({worker.returncode}): see worker.log")
        time.sleep(0.005)
    raise TimeoutError("the workers did not drain the queue in time")


def _rabbitmq_drain_times(
    jobs: int, worker: subprocess.Popen[bytes], timeout: float
) -> tuple[float, float]:
    import dramatiq

    broker: Any = dramatiq.get_broker()
    deadline = time.monotonic() + timeout
    started = None
    full = time.monotonic()  # the last poll that found every message still waiting
    while time.monotonic() < deadline:
        ready = broker.get_queue_message_counts(QUEUE)[0]
        now = time.monotonic()
        if ready == jobs:
            full = now
        if started is None and ready < jobs:
            started = full  # a small run can be taken whole between two polls
        if started is not None and ready == 0:
            return started, now
        if worker.poll() is not None:
            raise RuntimeError(f"the workers exited ({worker.returncode}): see worker.log")
        time.sleep(0.005)
    raise TimeoutError("the workers did not drain the queue in time")


def wait_for_ledger(ids: list[uuid.UUID], worker: subprocess.Popen[bytes]) -> None:
    """Until every job is final in the ledger (not timed: the workers must not be stopped
    with prefetched jobs, which would stay running in the ledger)."""
    from jobs.models import Job, JobStatus

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.poll() is None:
        if Job.objects.filter(pk__in=ids, status__in=JobStatus.unfinished()).count() == 0:
            return
        time.sleep(0.05)


def cpu_times(redis_pid: int, worker_pid: int | None = None) -> dict[str, float]:
    """CPU seconds (user + system) of the broker (the bench's Redis, or RabbitMQ's Erlang VM),
    the worker's process group, and PostgreSQL."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {"broker": 0.0, "worker": 0.0, "postgres": 0.0}
    rabbitmq = on_rabbitmq()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].split(")", 1)[0]
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        seconds = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
        group = int(fields[2])
        if (pid == redis_pid and not rabbitmq) or (rabbitmq and name.startswith("beam")):
            totals["broker"] += seconds
        elif worker_pid is not None and group == worker_pid:
            totals["worker"] += seconds
        elif name.startswith("postgres"):
            totals["postgres"] += seconds
    return totals


def verify(variant: str, ids: list[uuid.UUID]) -> bool:
    from django.db.models import Count

    if variant.startswith("ledger"):
        from jobs.ledger.history import timeline
        from jobs.models import Job, JobStatus

        # Each job's history is enqueued, queued, started, succeeded: all four held by its row.
        complete = (
            Job.objects.filter(
                pk__in=ids,
                status=JobStatus.SUCCEEDED,
                attempts=1,
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .annotate(n=Count("events"))
            .filter(n=0)
            .count()
        )
        whole = ["enqueued", "queued", "started", "succeeded"]
        sample = Job.objects.filter(pk__in=ids[:20])
        return complete == len(ids) and all(
            [event.kind for event in timeline(job)] == whole for job in sample
        )
    if variant.startswith("django_dramatiq"):
        from django_dramatiq.models import Task

        return bool(Task.tasks.filter(id__in=ids, status=Task.STATUS_DONE).count() == len(ids))
    return True  # plain Dramatiq keeps no record: drained is all there is to check


def report(results: dict[tuple[str, str], list[dict[str, float]]]) -> None:
    print(
        "\n| workers | variant | jobs/s (median) | ratio to plain | ratio, each round"
        " | worker CPU ms/job | broker CPU ms/job | DB CPU ms/job | all verified | error lines |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |")
    for (config, variant), runs in results.items():
        plain = results.get((config, "plain_async" if variant.endswith("_async") else "plain"))
        rate = statistics.median(r["jobs_per_s"] for r in runs)
        ratio = f"{rate / statistics.median(r['jobs_per_s'] for r in plain):.2f}x" if plain else "-"
        # Round by round (the variants of a round ran back to back): the spread of the ratio.
        each = "-"
        if plain:
            pairs = zip(runs, plain, strict=True)
            each = " ".join(f"{r['jobs_per_s'] / p['jobs_per_s']:.2f}" for r, p in pairs)

        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(
            f"| {config} | {variant} | {rate:.0f} | {ratio} | {each}"
            f" | {median('worker_cpu_ms_per_job'):.2f} | "
            f"{median('broker_cpu_ms_per_job'):.2f} | {median('db_cpu_ms_per_job'):.2f} | "
            f"{all(r['verified'] for r in runs)} | {sum(r['error_lines'] for r in runs)} |"
        )


if __name__ == "__main__":
    main()
