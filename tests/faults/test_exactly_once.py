"""Exactly-once effects (jobs/worker/exactly_once.py): a worker SIGKILLed at each point of an
exactly-once actor's transaction leaves its effect done once, for sync and async actors and for
a Django task; the same actor without the option does it twice (what the broker promises)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import wait_for
from tests.faults.conftest import Workers
from tests.workbench.records import create_effects_table, effects
from tests.workbench.tasks import (
    async_effect_once,
    effect_at_least_once,
    effect_once,
    task_effect_once,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

POINTS = ("before", "effect", "commit")
#: Heartbeats fast enough that a killed worker's messages come back in seconds on Redis.
FAST_RECOVERY = {
    "DRAMATIQ_HEARTBEAT_TIMEOUT_MS": "4000",
    "DRAMATIQ_MAINTENANCE_INTERVAL_SECONDS": "1",
}


@pytest.fixture
def pool(redis_url: str, transactional_db: None, tmp_path: Any, settings: Any) -> Any:
    create_effects_table()
    workers = Workers(redis_url, tmp_path, settings.MEDIA_ROOT, env=FAST_RECOVERY)
    workers.start("a")
    workers.start("b")
    yield workers
    workers.stop_all()


def kill_at_each_point(pool: Workers, send: Any) -> dict[str, tuple[str, Job]]:
    """One job per kill point, one after the other (a kill takes its process's other jobs
    with it): {point: (key, the job succeeded)}."""
    jobs = {}
    for point in POINTS:
        key = f"{point}-{uuid.uuid4().hex[:8]}"
        job_id = send(key, point)

        def succeeded(job_id: uuid.UUID = job_id) -> Job | None:
            pool.restart_dead()  # the supervisor's job in production
            return Job.objects.filter(pk=job_id, status=JobStatus.SUCCEEDED).first()

        jobs[point] = (key, wait_for(succeeded, 90, pool.logs))
    return jobs


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda key, point: enqueue(effect_once, key, point).id, id="sync"),
        pytest.param(lambda key, point: enqueue(async_effect_once, key, point).id, id="async"),
        pytest.param(
            lambda key, point: uuid.UUID(task_effect_once.enqueue(key, point).id), id="task"
        ),
    ],
)
def test_a_worker_killed_at_any_point_leaves_the_effect_done_once(
    pool: Workers, send: Any, figures: dict[str, Any]
):
    jobs = kill_at_each_point(pool, send)
    done = {point: job for point, (_, job) in jobs.items()}
    counted = {point: effects(key) for point, (key, _) in jobs.items()}
    figures.update(expected=3, succeeded=3, effects=counted, restarts=pool.restarts)
    assert counted == {"before": 1, "effect": 1, "commit": 1}, pool.logs()
    # Each job killed its worker once (its marker says so; the supervisor's restart of the last
    # one may come after the job is seen succeeded).
    assert all(
        (pool.workdir / f"killed-{key}-{point}").exists() for point, (key, _) in jobs.items()
    )
    for point in ("before", "effect"):
        # Killed before the commit: the same attempt ran again after the loss, on a clean slate.
        assert done[point].events.filter(kind=EventKind.WORKER_LOST).count() == 1, point
        assert done[point].attempts == 1
    # Killed after the commit: the redelivery found the job succeeded and ran nothing.
    committed = done["commit"]
    assert not committed.events.filter(kind=EventKind.WORKER_LOST).exists()

    def redelivery_refused() -> Any:
        pool.restart_dead()  # both workers may be dead by now: someone must take the redelivery
        return committed.events.filter(kind=EventKind.SKIPPED).first()

    refused = wait_for(redelivery_refused, 60, pool.logs)
    assert "job is succeeded" in refused.message


def test_without_the_option_the_same_kills_do_the_effect_twice(pool: Workers):
    """What exactly_once changes: killed after its effect, an at-least-once actor runs again."""
    jobs = kill_at_each_point(pool, lambda key, point: enqueue(effect_at_least_once, key, point).id)
    counted = {point: effects(key) for point, (key, _) in jobs.items()}
    assert counted == {"before": 1, "effect": 2, "commit": 2}, pool.logs()
