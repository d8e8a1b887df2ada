"""Where a worker thread's time goes: one `worker_throughput.py` drain per variant under py-spy
(sampling every thread, idle ones too), each worker-thread sample sorted into what the thread
was doing; for the ledger, the same for its writer thread. Sampling slows the worker, so the
figures are shares of a thread's time, not durations.

Usage (py-spy comes with requirements-dev.txt; it reads the worker's memory, as root here):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_bench \\
    .venv/bin/python bench/thread_profile.py [--jobs 8000] [--variants plain,ledger]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PY_SPY = Path(sys.executable).parent / "py-spy"

#: (share name, test on a sample's stack), first match wins.
WORKER_THREAD = (
    ("acking the message (Redis)", lambda s: "post_process_message" in s),
    ("waiting for its claim", lambda s: "_Handover.wait" in s and "before_process_message" in s),
    ("waiting for its success", lambda s: "_Handover.wait" in s),
    ("waiting for the next message", lambda s: "Queue.get" in s and "process_message" not in s),
    ("ledger code (not waiting)", lambda s: "jobs/worker/tracker.py" in s),
    ("the actor, Dramatiq, other middleware", lambda s: True),
)
WRITER_THREAD = (
    ("waiting for PostgreSQL", lambda s: "Cursor.execute" in s),
    ("idle (nothing handed over)", lambda s: "LedgerWriter._run" in s.rsplit(";", 1)[-1]),
    ("Python (rows, results, handovers)", lambda s: True),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=8000)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--variants", default="plain,ledger")
    args = parser.parse_args()
    for variant in args.variants.split(","):
        raw = Path(tempfile.mkdtemp(prefix="offload-profile-")) / f"{variant}.txt"
        subprocess.run(
            [
                str(PY_SPY), "record", "--idle", "--subprocesses", "--format", "raw",
                "--rate", str(args.rate), "--output", str(raw), "--",
                sys.executable, str(BENCH / "worker_throughput.py"), "--jobs", str(args.jobs),
                "--rounds", "1", "--workers", "1x8", "--variants", variant,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        stacks = worker_stacks(raw)
        report(f"{variant}: a worker thread", shares(stacks, "WorkerThread.run", WORKER_THREAD))
        writer = shares(stacks, "LedgerWriter._run", WRITER_THREAD)
        if writer:
            report(f"{variant}: the ledger writer thread", writer)


def worker_stacks(raw: Path) -> list[tuple[str, int]]:
    """(stack, samples) of the worker process (not the bench or the master), from py-spy's
    raw output: one `frame;frame;... count` line per distinct stack."""
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "dramatiq --path" in stack:
            stacks.append((stack, int(count)))
    return stacks


def shares(
    stacks: list[tuple[str, int]], thread: str, kinds: tuple[tuple[str, object], ...]
) -> dict[str, float]:
    counts: collections.Counter[str] = collections.Counter()
    for stack, count in stacks:
        if thread in stack:
            tail = stack[stack.index(thread) :]
            name = next(name for name, test in kinds if test(tail))  # type: ignore[operator]
            counts[name] += count
    total = sum(counts.values())
    return {name: 100 * counts[name] / total for name, _ in kinds if total}


def report(title: str, figures: dict[str, float]) -> None:
    print(title)
    for name, share in figures.items():
        print(f"  {share:5.1f} %  {name}")


if __name__ == "__main__":
    main()
