"""What Django's Tasks API costs over our enqueue(): `task.enqueue(1, 2)` through
jobs.tasks_framework.backend.OffloadBackend vs `enqueue(actor, 1, 2)` of the same Dramatiq
actor, each call in autocommit (its own commit and send, as from a view). Many short rounds,
the two in turn first; the ratio is the median of the rounds' ratios, with their spread.

Usage: .venv/bin/python bench/task_enqueue.py [--calls 100] [--rounds 21]
  (a throwaway SQLite file and an embedded Redis; DATABASE_URL / REDIS_URL to use others)
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100, help="enqueues per round and variant")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="offload-task-bench-"))
    os.environ.update(
        OFFLOAD_VAR_DIR=str(workdir),
        DJANGO_SETTINGS_MODULE="config.settings",
        EXTRA_INSTALLED_APPS="tests.workbench",
        WORKBENCH_DIR=str(workdir),
        SECRET_KEY=os.environ.get("SECRET_KEY", secrets.token_urlsafe(50)),
        LOG_LEVEL="WARNING",
    )
    server = None
    if "REDIS_URL" not in os.environ:
        from jobs.brokers.embedded import EmbeddedRedis

        embedded = EmbeddedRedis(workdir / "redis")
        server = embedded.start()
        os.environ["REDIS_URL"] = embedded.url
    try:
        run(args)
    finally:
        if server is not None:
            server.terminate()
            server.wait()


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from jobs.ledger.writer import background_writer
    from jobs.models import Job
    from jobs.outbox import enqueue
    from tests.workbench.tasks import add

    call_command("migrate", verbosity=0)
    backend: Any = add.get_backend()
    actor = backend.actor_for(add)

    def timed(call: Callable[[], object]) -> float:
        started = time.perf_counter()
        for _ in range(args.calls):
            call()
        calls: int = args.calls
        return (time.perf_counter() - started) / calls

    variants: dict[str, Callable[[], object]] = {
        "enqueue": lambda: enqueue(actor, 1, 2),
        "task": lambda: add.enqueue(1, 2),
    }
    timed(variants["enqueue"])  # warm up both paths
    timed(variants["task"])
    results: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(args.rounds):
        order = list(variants) if round_number % 2 == 0 else list(reversed(variants))
        for name in order:
            results[name].append(timed(variants[name]))
    background_writer().stop()
    ratios = [t / e for t, e in zip(results["task"], results["enqueue"], strict=True)]
    print(f"database: {connection.vendor}, rounds: {args.rounds}, calls per round: {args.calls}")
    for name, label in (("enqueue", "enqueue(actor, 1, 2)"), ("task", "add.enqueue(1, 2)")):
        print(f"{label:<24} median {statistics.median(results[name]) * 1e6:8.0f} us per call")
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"task.enqueue() / enqueue(): median {statistics.median(ratios):.2f}x, "
        f"quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}x, "
        f"range {min(ratios):.2f}-{max(ratios):.2f}x"
    )
    print(f"jobs recorded: {Job.objects.count()}")


if __name__ == "__main__":
    main()
