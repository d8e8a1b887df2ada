"""Worker memory over a long drain: does a worker process keep growing with the jobs it ran?

One run per variant: `--jobs` no-op messages preloaded into a Redis server of its own (and, for
the ledger, their job rows), one real `rundramatiq` worker process (`--threads` threads) drains
them, and the worker process's resident memory (VmRSS, from /proc) is read each time another
`--every` jobs have been acked. Reports the memory after `--early` jobs and at the end, and their
ratio (target: within 10 %), and checks that every job reached its final state.

Usage:
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_bench \\
    .venv/bin/python bench/worker_memory.py [--jobs 100000] [--early 10000] [--variants ledger]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_throughput import (  # noqa: E402 (the bench directory is not a package)
    QUEUE,
    ROOT,
    _redis,
    preload,
    setup,
    verify,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--early", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--variants", default="ledger,plain")
    args = parser.parse_args()
    workdir = setup("offload-memory-")
    from django.db import connection

    print(f"database: {connection.vendor}, jobs: {args.jobs}, threads: {args.threads}")
    columns = f"RSS after {args.early:,} jobs | RSS after {args.jobs:,} jobs"
    print(f"| variant | {columns} | ratio | verified |")
    print("| --- | ---: | ---: | ---: | --- |")
    for variant in args.variants.split(","):
        samples, verified = drain(variant, args, workdir)
        early = next(rss for done, rss in samples if done >= args.early)
        final = samples[-1][1]
        trail = ", ".join(f"{done // 1000}k: {rss / 1024:.1f}" for done, rss in samples)
        print(
            f"| {variant} | {early / 1024:.1f} MiB | {final / 1024:.1f} MiB | "
            f"{final / early:.3f} | {verified} |"
        )
        print(f"  ({variant}, MiB after each step: {trail})")


def drain(
    variant: str, args: argparse.Namespace, workdir: Path
) -> tuple[list[tuple[int, int]], bool]:
    """Drain the preloaded jobs; (jobs acked, worker RSS in KiB) at each step, and verification."""
    import dramatiq
    from django.db import connections

    from jobs.brokers.embedded import EmbeddedRedis

    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    redis_server = EmbeddedRedis(run_dir / "redis")
    redis_process = redis_server.start()
    client = _redis(redis_server.url)
    env = {**os.environ, "BENCH_VARIANT": variant, "REDIS_URL": redis_server.url}
    namespace = dramatiq.get_broker().namespace  # type: ignore[attr-defined]
    try:
        ids = preload(client, args.jobs, ledger=variant.startswith("ledger"))
        connections.close_all()
        command = ["rundramatiq", "--processes", "1", "--threads", str(args.threads)]
        with (run_dir / "worker.log").open("wb") as log:
            master = subprocess.Popen(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            samples: list[tuple[int, int]] = []
            try:
                step = args.every
                while True:
                    done = args.jobs - client.hlen(f"{namespace}:{QUEUE}.msgs")
                    if done >= step or done == args.jobs:
                        samples.append((done, worker_rss(master.pid)))
                        step += args.every
                    if done == args.jobs:
                        break
                    if master.poll() is not None:
                        raise RuntimeError(f"the worker exited ({master.returncode})")
                    time.sleep(0.01)
            finally:
                master.terminate()
                master.wait(timeout=60)
        return samples, verify(variant, ids)
    finally:
        redis_process.terminate()
        redis_process.wait()


def worker_rss(master_pid: int) -> int:
    """VmRSS (KiB) of the worker process: the largest process in the master's group other than
    the master itself (Dramatiq forks its worker processes from it)."""
    largest = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            status = (stat.parent / "status").read_text()
        except OSError:
            continue
        if int(fields[2]) != master_pid or int(stat.parent.name) == master_pid:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return largest


if __name__ == "__main__":
    main()
