"""PostgreSQL restarted while jobs run: every job still ends in a final state that matches what
really happened (its side effect ran exactly when the ledger says it succeeded)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from jobs.models import Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import wait_for
from tests.faults.conftest import Workers
from tests.workbench.tasks import runs, slow_effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def restart_postgresql() -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        timeout=120,
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql" or shutil.which("pg_ctlcluster") is None,
    reason="restarts the local PostgreSQL server: runs in CI's PostgreSQL pass (.ci/run)",
)
def test_postgresql_restarted_while_jobs_run(workers: Workers, figures: dict[str, Any]):
    ids = [enqueue(slow_effect, f"db-{n}", 0.3).id for n in range(30)]
    workers.start("a")
    workers.start("b")
    wait_for(lambda: Job.objects.filter(status=JobStatus.SUCCEEDED).count() >= 5, 60, workers.logs)

    restart_postgresql()
    connection.close()  # this process's connection died with the server

    def all_final() -> bool:
        connection.close_if_unusable_or_obsolete()
        return Job.objects.filter(pk__in=ids).unfinished().count() == 0

    wait_for(all_final, 180, workers.logs)
    succeeded = {
        args[0]
        for args in Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).values_list(
            "args", flat=True
        )
    }
    effects = [line.split()[0] for line in runs(workers.workdir, "done")]
    failed = Job.objects.filter(pk__in=ids, status=JobStatus.FAILED).count()
    figures.update(
        expected=30,
        succeeded=len(succeeded),
        failed=failed,
        lost=30 - len(succeeded) - failed,
        duplicate_side_effects=len(effects) - len(set(effects)),
    )
    # Reality matches the ledger: a side effect for every succeeded job, none for others.
    assert succeeded == set(effects)
    assert len(effects) == len(set(effects))
    assert len(succeeded) == 30
