"""Schedules without a worker: declarations stored and overridden, instants enqueued once, missed
instants run once, the admin's changes and actions audited; alert incidents and notices."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.test import Client
from django.utils import timezone

import tests.workbench.tasks as workbench
from jobs.maintenance.alerts import check_alerts
from jobs.models import AlertIncident, AlertRule, Job, Schedule, WorkerProcess
from jobs.schedules import DECLARED
from jobs.schedules.scheduler import run_due_schedules, sync_declarations
from jobs.schedules.timing import in_words

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tick() -> Schedule:
    assert DECLARED["workbench-tick"].actor_name == workbench.tick.actor_name  # declared on import
    sync_declarations()
    return Schedule.objects.get(name="workbench-tick")


def runs(schedule: Schedule) -> list[Job]:
    return list(Job.objects.filter(about_id=str(schedule.pk)).order_by("enqueued_at"))


def of_tick(tick: Schedule, jobs: list[Job]) -> list[Job]:
    """The jobs of this schedule (others declared in the session may be due at that time)."""
    return [job for job in jobs if job.about_id == str(tick.pk)]


def test_a_declaration_is_stored_and_starts_at_its_next_instant(tick: Schedule):
    assert (tick.actor_name, tick.interval, tick.args) == (
        "tick",
        dt.timedelta(seconds=2),
        ["tick"],
    )
    assert tick.next_run_at is not None and tick.next_run_at > timezone.now() - dt.timedelta(
        seconds=2
    )
    assert in_words(tick.cron, tick.interval, tick.time_zone) == "Every 2 seconds"
    assert in_words("0 3 * * 1-5", None, "Europe/Paris") == (
        "At 03:00 AM, Monday through Friday (Europe/Paris)"
    )


def test_each_instant_is_one_job_even_when_schedulers_race(tick: Schedule):
    later = timezone.now() + dt.timedelta(seconds=5)
    # Two schedulers that read the schedule before either wrote: both enqueue the instant.
    stale = Schedule.objects.get(pk=tick.pk)
    first = of_tick(tick, run_due_schedules(later))
    from jobs.schedules.scheduler import run_instant

    second = run_instant(stale, later)
    assert len(first) == 1 and second is not None and second.pk == first[0].pk
    [job] = runs(tick)
    assert job.duplicates == 1 and job.unique_key.startswith("schedule:workbench-tick:")
    assert of_tick(tick, run_due_schedules(later)) == []  # nothing due until the next instant


def test_missed_instants_run_once_on_return(tick: Schedule):
    # No scheduler ran for 10 minutes: 300 instants of a 2-second schedule were missed.
    gone = timezone.now() - dt.timedelta(minutes=10)
    Schedule.objects.filter(pk=tick.pk).update(last_instant=gone, next_run_at=gone)

    assert len(of_tick(tick, run_due_schedules())) == 1
    assert len(runs(tick)) == 1
    tick.refresh_from_db()
    assert tick.next_run_at is not None and tick.next_run_at > timezone.now()


def test_a_paused_schedule_does_not_run(tick: Schedule):
    Schedule.objects.filter(pk=tick.pk).update(paused=True)
    run_due_schedules(timezone.now() + dt.timedelta(minutes=1))
    assert runs(tick) == []


def test_staff_change_pause_and_reset_a_schedule_from_the_admin_audited(tick: Schedule, staff):
    client = Client()
    client.force_login(staff)
    url = f"/admin/jobs/schedule/{tick.pk}/change/"
    assert b"Every 2 seconds" in client.get("/admin/jobs/schedule/").content

    response = client.post(
        url,
        {
            "cron": "*/5 * * * *",
            "interval": "",
            "time_zone": "Europe/Paris",
            "args": '["five"]',
            "kwargs": "{}",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    tick.refresh_from_db()
    assert (tick.cron, tick.interval, tick.args, tick.overridden) == (
        "*/5 * * * *",
        None,
        ["five"],
        True,
    )
    assert tick.next_run_at is not None and tick.next_run_at.minute % 5 == 0
    sync_declarations()  # a worker starting again keeps staff's change
    tick.refresh_from_db()
    assert tick.cron == "*/5 * * * *"
    bad = client.post(
        url,
        {
            "cron": "every day",
            "interval": "",
            "time_zone": "Mars/Base",
            "args": "{}",
            "kwargs": "[]",
        },
    )
    assert bad.status_code == 200 and b"Not a cron expression" in bad.content

    for action in ("pause", "reset_to_declaration", "resume", "run_now"):
        response = client.post(
            "/admin/jobs/schedule/", {"action": action, "_selected_action": [tick.pk]}
        )
        assert response.status_code == 302
    tick.refresh_from_db()
    assert (tick.paused, tick.cron, tick.interval, tick.overridden) == (
        False,
        "",
        dt.timedelta(seconds=2),
        False,
    )
    [manual] = runs(tick)
    assert manual.caused_by == staff  # pending: no broker in this test, the relay would send it
    history = [entry.get_change_message() for entry in LogEntry.objects.order_by("action_time")]
    assert len(history) == 5 and history[1:] == [
        "Paused.",
        "Reset to the code's declaration.",
        "Resumed.",
        f"Ran now as job {manual.pk}.",
    ]
    assert "Changed" in history[0]


class Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_alert_fires_once_and_sends_one_recovery_notice(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Webhook.received.clear()
    AlertRule.objects.create(
        name="workers gone",
        kind=AlertRule.Kind.WORKERS_GONE,
        threshold=1,
        emails="ops@example.com\n",
        webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
    )
    WorkerProcess.objects.all().delete()

    check_alerts()
    check_alerts()  # still firing: no second notice

    [incident] = AlertIncident.objects.all()
    assert incident.resolved_at is None and "0 worker process(es) alive" in incident.message
    assert [m.subject for m in mail.outbox] == ["[Offload] ALERT: workers gone"]
    assert [(w["rule"], w["state"]) for w in Webhook.received] == [("workers gone", "firing")]

    now = timezone.now()
    WorkerProcess.objects.create(broker_id="w1", host="h", pid=1, started_at=now, seen_at=now)
    check_alerts()
    check_alerts()

    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert [m.subject for m in mail.outbox][1:] == ["[Offload] RESOLVED: workers gone"]
    assert [w["state"] for w in Webhook.received] == ["firing", "resolved"]
    server.shutdown()
