"""Settings for benchmark workers: the project's, with the Dramatiq middleware of one variant.

BENCH_VARIANT (environment):
  ledger           the project as deployed (JobTracker first, LedgerUpkeep last)
  plain            plain Dramatiq: the same broker and middleware without any record
  django_dramatiq  plain Dramatiq plus django-dramatiq's AdminMiddleware (one row per task)
  <any>_async      that variant's middleware; worker_throughput.py preloads the async no-op actor
"""

from __future__ import annotations

import os

from dramatiq.middleware import Middleware

from config.settings import *  # noqa: F403
from config.settings import JOBS_BROKER


class ActorOptions(Middleware):
    """Accepts the ledger's actor options (JobTracker's, whatever they become) and does nothing
    else."""

    @property
    def actor_options(self) -> set[str]:
        from jobs.worker.tracker import JobTracker  # the apps are loaded when brokers are built

        return set(JobTracker.actor_options)


_variant = os.environ.get("BENCH_VARIANT", "ledger").removesuffix("_async")
_ours = {"jobs.worker.tracker.JobTracker", "jobs.maintenance.upkeep.LedgerUpkeep"}
# The workbench's actors declare options JobTracker defines: the variants without it get
# bench.worker_settings.ActorOptions, a middleware with no hooks of its own.
_plain = [m for m in JOBS_BROKER["MIDDLEWARE"] if m not in _ours] + [
    "bench.worker_settings.ActorOptions"
]
if _variant == "plain":
    JOBS_BROKER = {**JOBS_BROKER, "MIDDLEWARE": _plain}
elif _variant == "django_dramatiq":
    JOBS_BROKER = {
        **JOBS_BROKER,
        "MIDDLEWARE": [
            *_plain,
            "django_dramatiq.middleware.DbConnectionsMiddleware",
            "django_dramatiq.middleware.AdminMiddleware",
        ],
    }
elif _variant != "ledger":
    raise ValueError(f"unknown BENCH_VARIANT {_variant!r}")
