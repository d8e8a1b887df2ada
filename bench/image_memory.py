"""A worker process's memory over image jobs: peak and after, for eight uploads at once of a small
PNG that declares 6300 x 6300 pixels (120 MB decoded), on one worker process of eight threads.

Each round: a fresh embedded Redis and SQLite database, `--uploads` images uploaded through the
real service (rows + jobs), one real `rundramatiq --processes 1 --threads 8` draining them while
the worker process's VmRSS is sampled every 20 ms; "after" is read 2 s after the last job ended
(an idle worker process holds about 70 MB).
Variants alternate within the run: IMAGE_DECODES_PER_PROCESS=1 (the default) and 0 (no limit).
`--root` runs another checkout's code (e.g. a `git worktree` of an older commit) for a before/after.

Usage:
  .venv/bin/python bench/image_memory.py [--rounds 3] [--uploads 8] [--root /path/to/checkout]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIDE = 6300


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--variants", default="1,0", help="IMAGE_DECODES_PER_PROCESS values")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs")
    args = parser.parse_args()
    root = args.root.resolve()
    png = big_png()
    print(f"upload: {len(png):,} bytes declaring {SIDE}x{SIDE}; code from {root}")
    results: dict[str, list[tuple[int, int]]] = {}
    for round_number in range(args.rounds):
        for variant in args.variants.split(","):
            figures = run_once(root, png, args.uploads, variant)
            results.setdefault(variant, []).append(figures)
            print(f"  decodes={variant} round {round_number + 1}: peak/after MB {figures}")
    for variant, rounds in results.items():
        peaks, afters = [r[0] for r in rounds], [r[1] for r in rounds]
        print(
            f"decodes={variant}: peak median {statistics.median(peaks)} MB "
            f"(rounds {min(peaks)}-{max(peaks)}), after median {statistics.median(afters)} MB "
            f"(rounds {min(afters)}-{max(afters)})"
        )


def big_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE), (10, 120, 200)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def run_once(root: Path, png: bytes, uploads: int, decodes: str) -> tuple[int, int]:
    workdir = Path(tempfile.mkdtemp(prefix="offload-image-memory-"))
    env = {
        **os.environ,
        "OFFLOAD_VAR_DIR": str(workdir),
        "MEDIA_ROOT": str(workdir / "media"),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "SECRET_KEY": "bench-only",
        "IMAGE_DECODES_PER_PROCESS": decodes,
        "JOBS_SCHEDULER_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(root),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    python = str(ROOT / ".venv" / "bin" / "python")
    redis = subprocess.Popen(
        [python, "manage.py", "embedded_redis"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
        upload = subprocess.run(
            [python, "-c", UPLOAD, str(uploads)],
            cwd=root,
            env=env,
            input=png,
            check=True,
            capture_output=True,
        )
        image_ids = upload.stdout.decode().split()
        log = (workdir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [python, "manage.py", "rundramatiq", "--processes", "1", "--threads", "8"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return sample(worker.pid, lambda: finished(python, root, env, image_ids))
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            log.close()
    finally:
        redis.terminate()
        redis.wait(timeout=30)


UPLOAD = """
import sys, django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from accounts.models import User
from images.forms import inspect_image
from images.services import upload_image
data = sys.stdin.buffer.read()
user = User.objects.create_user("bench@example.com", "bench-password-1")
for n in range(int(sys.argv[1])):
    with transaction.atomic():
        file = SimpleUploadedFile(f"big{n}.png", data)
        image, _job = upload_image(user, file, inspect_image(file))
    print(image.pk)
"""

FINISHED = """
import sys, django
django.setup()
from images.models import UploadedImage
done = UploadedImage.objects.filter(pk__in=sys.argv[1:], status__in=["ready", "failed"])
print(done.count())
"""


def finished(python: str, root: Path, env: dict[str, str], image_ids: list[str]) -> bool:
    out = subprocess.run(
        [python, "-c", FINISHED, *image_ids], cwd=root, env=env, capture_output=True, check=True
    )
    return int(out.stdout) == len(image_ids)


def rss_mb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def sample(master: int, done: object) -> tuple[int, int]:
    """Peak and after RSS of the largest process under the worker's master (the one that runs
    the jobs; the master forks it)."""
    peak = 0
    last_check = 0.0
    while True:
        peak = max([peak, *(rss_mb(child) for child in children(master))])
        if time.monotonic() - last_check > 0.5:
            last_check = time.monotonic()
            if done():  # type: ignore[operator]
                break
        time.sleep(0.02)
    time.sleep(2)
    return peak, max([0, *(rss_mb(child) for child in children(master))])


if __name__ == "__main__":
    main()
