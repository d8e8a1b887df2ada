"""Every script in bench/ once, at a tiny size: the harness must still run (CI runs this), not
a measurement. A script that fails fails the run; one that needs PostgreSQL is skipped, and
said so, when DATABASE_URL does not name PostgreSQL. A script added to bench/ without a line
here fails the run too.

Usage: .venv/bin/python bench/smoke.py          (make bench-smoke)
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/offload_bench .venv/bin/python bench/smoke.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: script: (tiny arguments, needs PostgreSQL)
TINY: dict[str, tuple[list[str], bool]] = {
    "run.py": (["--rounds", "1", "--signups", "2", "--bulk", "5"], False),
    "task_enqueue.py": (["--calls", "2", "--rounds", "3"], False),  # quartiles: 2 rounds at least
    "worker_throughput.py": (["--jobs", "20", "--rounds", "1", "--workers", "1x2"], False),
    "batch_latency.py": (["--batches", "5", "--rounds", "1"], False),
    "worker_memory.py": (
        ["--jobs", "200", "--early", "100", "--every", "100", "--threads", "2"],
        False,
    ),
    "thread_profile.py": (["--jobs", "100"], False),
    "image_memory.py": (["--rounds", "1", "--uploads", "1"], False),
    "slow_clients.py": (["--rounds", "1", "--drippers", "1", "--requests", "1"], False),
    "worker_round_trips.py": (["--jobs", "20"], True),
    "admin_at_scale.py": (["--jobs", "200", "--events", "1", "--rounds", "1"], True),
    "retention_at_scale.py": (["--jobs", "200", "--events", "1"], True),
}
#: Modules of the harness that are not scripts, and chaos.py: it starts its own PostgreSQL and
#: broker and runs for minutes even short (`make chaos CHAOS_ARGS="--brokers redis --short"`).
NOT_SCRIPTS = {"smoke.py", "worker_settings.py", "chaos.py"}


def main() -> int:
    scripts = {path.name for path in BENCH.glob("*.py")} - NOT_SCRIPTS
    unlisted = sorted(scripts - set(TINY))
    if unlisted:
        print(f"bench scripts without a tiny run in bench/smoke.py: {', '.join(unlisted)}")
        return 1
    on_postgresql = os.environ.get("DATABASE_URL", "").startswith("postgres")
    failed = []
    for script, (arguments, needs_postgresql) in TINY.items():
        if needs_postgresql and not on_postgresql:
            print(f"--- {script}: skipped (needs DATABASE_URL=postgres://...)")
            continue
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(BENCH / script), *arguments],
            capture_output=True,
            text=True,
        )
        took = time.monotonic() - started
        print(f"--- {script} {' '.join(arguments)}: exit {done.returncode} in {took:.0f} s")
        if done.returncode != 0:
            failed.append(script)
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
    print(f"bench smoke: {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
