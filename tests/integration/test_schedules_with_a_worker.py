"""Schedules on real workers: runs at each instant, one job per instant when several schedulers
race, one run for the instants missed while the worker was stopped, a pause and a change from the
admin taking effect without a restart (the alerts: test_alerts_with_workers.py)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.test import Client
from django.utils import timezone

import tests.workbench.tasks as workbench
from jobs.models import Job, JobStatus, Schedule
from tests.conftest import ROOT, WorkerProcess, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCHEDULER = {"JOBS_SCHEDULER_ENABLED": "1", "LEDGER_UPKEEP_INTERVAL_SECONDS": "0.3"}


def scheduling_worker(
    redis_url: str, tmp_path: Path, settings: Any, monkeypatch: Any
) -> WorkerProcess:
    monkeypatch.setenv("WORKBENCH_DIR", str(tmp_path))
    return WorkerProcess(
        redis_url,
        tmp_path,
        settings.MEDIA_ROOT,
        name=f"scheduler-{time.monotonic_ns()}",
        extra_env={
            "EXTRA_INSTALLED_APPS": "tests.workbench",
            "WORKBENCH_DIR": str(tmp_path),
            **SCHEDULER,
        },
    )


def tick_runs() -> list[Job]:
    schedule = Schedule.objects.filter(name="workbench-tick").first()
    if schedule is None:
        return []
    return list(Job.objects.filter(about_id=str(schedule.pk)).order_by("enqueued_at"))


def test_a_schedule_runs_each_instant_and_once_for_the_instants_missed_while_stopped(
    redis_url: str, tmp_path: Path, settings: Any, monkeypatch: Any
):
    worker = scheduling_worker(redis_url, tmp_path, settings, monkeypatch)
    try:
        wait_for(
            lambda: len([j for j in tick_runs() if j.status == JobStatus.SUCCEEDED]) >= 2,
            20,
            worker.logs,
        )
        # The worker stops (every process of it) for over three 2-second instants.
        os.killpg(worker.process.pid, signal.SIGSTOP)
        stopped = time.time()
        before = len(tick_runs())
        time.sleep(7)
        os.killpg(worker.process.pid, signal.SIGCONT)
        wait_for(lambda: len(tick_runs()) > before, 10, worker.logs)
        time.sleep(0.5)  # the next tick after the return: nothing more for the missed instants
        runs = tick_runs()
        keys = [job.unique_key for job in runs]
        assert len(keys) == len(set(keys))  # one job per instant
        # Each job's instant is in its key ("schedule:workbench-tick:2026-12-02T09:13:04Z").
        instants = sorted(dt.datetime.fromisoformat(key.split(":", 2)[2]) for key in keys)
        gaps = [later - earlier for earlier, later in zip(instants, instants[1:], strict=False)]
        # Every 2 s, but for ONE gap of the stop: its missed instants got no run of their own
        # (one per missed instant would leave no gap), only the latest one, on return.
        assert [gap for gap in gaps if gap > dt.timedelta(seconds=2)] == [max(gaps)]
        assert max(gaps) >= dt.timedelta(seconds=6)
        # That run is for an instant inside the stop (the latest one missed), made on return.
        assert instants[-1] > dt.datetime.fromtimestamp(stopped, dt.UTC) + dt.timedelta(seconds=4)
    finally:
        os.killpg(worker.process.pid, signal.SIGCONT)
        worker.stop()


RACE = """
import os, time, django
django.setup()
from django.utils import timezone
import tests.workbench.tasks
from jobs.models import Schedule
from jobs.schedules.scheduler import run_instant
# Each scheduler reads the due schedule before any of them writes: the race at its worst.
schedule = Schedule.objects.get(name="workbench-tick")
time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
job = run_instant(schedule, timezone.now())
print(job.pk if job else "")
"""


def test_schedulers_racing_for_one_instant_make_one_job(redis_url: str):
    from jobs.schedules.scheduler import sync_declarations

    sync_declarations()
    Schedule.objects.filter(name="workbench-tick").update(
        next_run_at=timezone.now(), last_instant=timezone.now() - dt.timedelta(minutes=1)
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "EXTRA_INSTALLED_APPS": "tests.workbench",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "DRAMATIQ_NAMESPACE": getattr(dramatiq.get_broker(), "namespace", "offload"),
        "START_AT": str(time.time() + 4),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    answers = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    [job] = tick_runs()
    assert answers == {str(job.pk)}
    assert job.duplicates == 3


def test_a_pause_and_a_change_from_the_admin_take_effect_without_a_restart(
    redis_url: str, tmp_path: Path, settings: Any, monkeypatch: Any, staff: Any
):
    worker = scheduling_worker(redis_url, tmp_path, settings, monkeypatch)
    client = Client()
    client.force_login(staff)
    try:
        wait_for(lambda: len(tick_runs()) >= 1, 20, worker.logs)
        schedule = Schedule.objects.get(name="workbench-tick")
        client.post("/admin/jobs/schedule/", {"action": "pause", "_selected_action": [schedule.pk]})
        time.sleep(0.5)  # a tick in flight when paused may still land
        paused_at = len(tick_runs())
        time.sleep(4.5)  # two instants
        assert len(tick_runs()) == paused_at

        response = client.post(
            f"/admin/jobs/schedule/{schedule.pk}/change/",
            {
                "cron": "",
                "interval": "00:00:01",
                "time_zone": "UTC",
                "args": '["changed"]',
                "kwargs": "{}",
                "paused": "",
            },
        )
        assert response.status_code == 302
        wait_for(lambda: "changed" in [job.args[0] for job in tick_runs()], 10, worker.logs)
        wait_for(
            lambda: (
                len(
                    [
                        line
                        for line in workbench.runs(tmp_path, "ticks")
                        if line.startswith("changed")
                    ]
                )
                >= 2
            ),
            10,
            worker.logs,
        )
    finally:
        worker.stop()
