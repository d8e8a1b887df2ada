"""Quick benchmark: what the job ledger costs at enqueue time, as ratios measured in one run.

Compares, in alternating rounds on the same database and a real Redis server:
  bare    the signup view (POST /signup JSON, through Django's whole request handling) with
          `enqueue()` swapped for a bare `actor.send()` on commit and the tracker removed
  ledger  the same view as shipped (Job row + event in the request's transaction, send on
          commit, the "queued" record written in the background)
and the same for a bulk enqueue (many jobs in one transaction): `enqueue()` in a loop, and
`enqueue_many()` (and, for reference, the bare sends through one Redis pipeline as
`enqueue_many()` sends them). Prints the median time per job of each, and ratios: the median
over rounds of each round's ratio (the two variants of a round run back to back, in turn first).

Usage: .venv/bin/python bench/run.py [--signups 50] [--bulk 500] [--rounds 21]
With DATABASE_URL / REDIS_URL set it uses those (e.g. PostgreSQL); otherwise a throwaway SQLite
file and an embedded Redis server in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--signups", type=int, default=50, help="signups per round and variant")
    parser.add_argument("--bulk", type=int, default=500, help="jobs per bulk transaction")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then cProfile a round of ledger signups and one enqueue_many() bulk",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="offload-bench-"))
    os.environ.setdefault("OFFLOAD_VAR_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["FAILING_EMAIL_ADDRESSES"] = ""
    # The test client speaks plain HTTP; the limits would refuse most of a round's signups
    # (they are in both variants' request alike, so they do not change the ratio).
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["SIGNUP_RATE_PER_IP"] = os.environ["MAIL_RATE_PER_MAILBOX"] = ""
    os.environ["LOG_FORMAT"] = "plain"
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


@contextmanager
def without_tracker() -> Iterator[None]:
    import dramatiq

    from jobs.worker.tracker import JobTracker

    broker = dramatiq.get_broker()
    saved = list(broker.middleware)
    broker.middleware[:] = [m for m in saved if not isinstance(m, JobTracker)]
    try:
        yield
    finally:
        broker.middleware[:] = saved


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import User
    from accounts.tasks import send_welcome_email
    from jobs.ledger.writer import background_writer
    from jobs.models import Job, JobStatus
    from jobs.outbox import enqueue, enqueue_many

    call_command("migrate", verbosity=0)
    started = timezone.now()  # the check below counts only this run's jobs
    import dramatiq

    broker = dramatiq.get_broker()

    from django.test import Client

    import accounts.services

    client = Client()

    def bare_enqueue(actor: Any, *args: Any, about: Any = None) -> Any:
        """The view's enqueue() as a bare send on commit (the view links the job's id)."""
        transaction.on_commit(lambda: actor.send(*args))
        return SimpleNamespace(id=uuid.uuid4())

    def view_signup(email: str) -> None:
        response = client.post("/signup", {"email": email}, content_type="application/json")
        assert response.status_code == 202, response.content

    def bare_signup(email: str) -> None:
        accounts.services.enqueue = bare_enqueue  # type: ignore[assignment,attr-defined]
        try:
            view_signup(email)
        finally:
            accounts.services.enqueue = enqueue  # type: ignore[attr-defined]

    def bare_bulk(n: int) -> None:
        user_id = User.objects.order_by("pk").values_list("pk", flat=True)[0]
        with transaction.atomic():
            for _ in range(n):
                transaction.on_commit(lambda: send_welcome_email.send(user_id))

    def bare_bulk_pipelined(n: int) -> None:
        """The bare sends through one Redis pipeline, as enqueue_many() sends (reference)."""
        user_id = User.objects.order_by("pk").values_list("pk", flat=True)[0]
        with transaction.atomic():
            messages = [send_welcome_email.message(user_id) for _ in range(n)]
            transaction.on_commit(lambda: broker.enqueue_many(messages))  # type: ignore[attr-defined]

    def ledger_bulk(n: int) -> None:
        user_id = User.objects.order_by("pk").values_list("pk", flat=True)[0]
        with transaction.atomic():
            for _ in range(n):
                enqueue(send_welcome_email, user_id)

    def ledger_bulk_many(n: int) -> None:
        user_id = User.objects.order_by("pk").values_list("pk", flat=True)[0]
        with transaction.atomic():
            enqueue_many(send_welcome_email, [(user_id,)] * n)

    def per_op(fn: Callable[[], object], count: int) -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) / count

    def fresh_emails(prefix: str) -> list[str]:
        return [f"{prefix}-{uuid.uuid4().hex[:12]}@bench.example" for _ in range(args.signups)]

    def signups(signup: Callable[[str], None], emails: list[str]) -> None:
        for email in emails:
            signup(email)

    def ledger_signups(emails: list[str]) -> None:
        """The ledger's signups, then the "queued" records they left in the background writer
        written at once (stop() does not wait out its linger): their cost is counted here, not
        in the next block."""
        signups(view_signup, emails)
        writer = background_writer()
        writer.stop()
        writer.start()

    results: dict[str, list[float]] = {
        k: []
        for k in (
            "bare",
            "ledger",
            "bare_bulk",
            "bare_bulk_pipelined",
            "ledger_bulk",
            "ledger_bulk_many",
        )
    }
    for round_number in range(args.rounds):
        order = ["bare", "ledger"] if round_number % 2 == 0 else ["ledger", "bare"]
        for variant in order:
            emails = fresh_emails(variant)
            if variant == "bare":
                with without_tracker():
                    results["bare"].append(
                        per_op(partial(signups, bare_signup, emails), args.signups)
                    )
                    results["bare_bulk"].append(per_op(partial(bare_bulk, args.bulk), args.bulk))
                    results["bare_bulk_pipelined"].append(
                        per_op(partial(bare_bulk_pipelined, args.bulk), args.bulk)
                    )
            else:
                results["ledger"].append(per_op(partial(ledger_signups, emails), args.signups))
                results["ledger_bulk"].append(per_op(partial(ledger_bulk, args.bulk), args.bulk))
                results["ledger_bulk_many"].append(
                    per_op(partial(ledger_bulk_many, args.bulk), args.bulk)
                )
        broker.flush_all()

    if args.profile:
        import cProfile
        import pstats

        for title, run_it in (
            (f"{args.signups} ledger signups", partial(ledger_signups, fresh_emails("p"))),
            (f"one enqueue_many() bulk of {args.bulk}", partial(ledger_bulk_many, args.bulk)),
        ):
            print(f"--- cProfile: {title} ---")
            profiler = cProfile.Profile()
            profiler.runcall(run_it)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    background_writer().stop()  # the "queued" records still on their way
    unsent = Job.objects.filter(enqueued_at__gte=started).exclude(status=JobStatus.QUEUED).count()
    med = {k: statistics.median(v) for k, v in results.items()}

    def ratio(variant: str, reference: str) -> float:
        """The median over rounds of variant / reference, each pair measured back to back (this
        machine's speed drifts between rounds more than the two differ)."""
        pairs = zip(results[variant], results[reference], strict=True)
        return statistics.median(a / b for a, b in pairs)

    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, database: {connection.vendor}, rounds: {args.rounds}"
    )
    print(f"{'measure':<42}{'median per job':>16}{'time ratio':>12}")
    rows = [
        ("signup view, bare send on commit", "bare", "bare"),
        ("signup view with the ledger", "ledger", "bare"),
        ("bulk: bare send on commit", "bare_bulk", "bare_bulk"),
        ("bulk: enqueue() with ledger", "ledger_bulk", "bare_bulk"),
        ("bulk: enqueue_many() with ledger", "ledger_bulk_many", "bare_bulk"),
        ("bulk: bare sends in one pipeline", "bare_bulk_pipelined", "bare_bulk"),
    ]
    for label, variant, reference in rows:
        print(f"{label:<42}{med[variant] * 1e6:>13.0f} us{ratio(variant, reference):>12.2f}")
    print(f"bulk throughput, enqueue() vs bare: {1 / ratio('ledger_bulk', 'bare_bulk'):.2f}x")
    print(
        "bulk throughput, enqueue_many() vs bare: "
        f"{1 / ratio('ledger_bulk_many', 'bare_bulk'):.2f}x"
        " (vs bare sends in one pipeline: "
        f"{1 / ratio('ledger_bulk_many', 'bare_bulk_pipelined'):.2f}x)"
    )
    print(f"check: jobs not 'queued' after the run: {unsent} (expected 0)")
    if unsent:
        sys.exit(1)


if __name__ == "__main__":
    main()
