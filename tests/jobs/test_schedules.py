"""Schedules without a worker: declarations stored and overridden, instants enqueued once, missed
instants run once, the admin's changes and actions audited; alert incidents and notices."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

import tests.workbench.tasks as workbench
from jobs.models import Job, Schedule
from jobs.schedules import DECLARED, scheduler
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


def form(schedule: Schedule, **changes: Any) -> dict[str, Any]:
    """The schedule's change form as posted, with `changes`."""
    data = {
        "cron": schedule.cron,
        "interval": "00:00:02" if schedule.interval else "",
        "time_zone": schedule.time_zone,
        "args": json.dumps(schedule.args),
        "kwargs": json.dumps(schedule.kwargs),
        **({"paused": "on"} if schedule.paused else {}),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_last_run_shows_its_own_instant_after_the_timing_changes(tick: Schedule, staff):
    client = Client()
    client.force_login(staff)
    start = timezone.now()
    [job] = of_tick(tick, run_due_schedules(start + dt.timedelta(seconds=4)))
    ran_for = scheduler.instant_of(job)
    assert ran_for is not None
    url = f"/admin/jobs/schedule/{tick.pk}/change/"
    assert client.post(url, form(tick, cron="0 3 * * *", interval="")).status_code == 302
    tick.refresh_from_db()
    page = client.get(url).content.decode()
    assert f"{ran_for:%Y-%m-%d %H:%M:%S}" in page  # the job's instant, not the new expression's
    assert f"{tick.last_instant:%Y-%m-%d %H:%M:%S}" not in page


def test_resuming_through_the_form_counts_from_now_like_the_resume_action(tick: Schedule, staff):
    client = Client()
    client.force_login(staff)
    url = f"/admin/jobs/schedule/{tick.pk}/change/"
    assert client.post(url, form(tick, paused="on")).status_code == 302
    page = client.get("/admin/jobs/schedule/").content.decode()
    assert "paused: the next run is counted from when it resumes" in page
    tick.refresh_from_db()
    assert f"{tick.next_run_at:%Y-%m-%d %H:%M:%S}" not in page

    # Paused a while: the instants meanwhile are not run on resume.
    Schedule.objects.filter(pk=tick.pk).update(
        last_instant=timezone.now() - dt.timedelta(hours=1),
        next_run_at=timezone.now() - dt.timedelta(hours=1),
    )
    tick.refresh_from_db()
    assert client.post(url, form(tick, paused=None)).status_code == 302
    tick.refresh_from_db()
    assert not tick.paused and tick.next_run_at is not None
    assert tick.next_run_at > timezone.now()
    assert not of_tick(tick, run_due_schedules())


def test_run_now_and_pause_from_a_schedules_page_ask_first(tick: Schedule, staff, alice):
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/jobs/schedule/{tick.pk}/change/").content.decode()
    run_url = f"/admin/jobs/schedule/{tick.pk}/do/run-now/"
    pause_url = f"/admin/jobs/schedule/{tick.pk}/do/pause/"
    assert run_url in page and pause_url in page and "/do/resume/" not in page

    asking = client.get(run_url)
    assert asking.status_code == 200 and b"Yes, run now" in asking.content
    assert not runs(tick)  # asking did nothing
    assert client.post(run_url).status_code == 302
    [manual] = runs(tick)
    assert manual.caused_by == staff

    assert b"Yes, pause" in client.get(pause_url).content
    tick.refresh_from_db()
    assert not tick.paused
    client.post(pause_url)
    tick.refresh_from_db()
    assert tick.paused
    page = client.get(f"/admin/jobs/schedule/{tick.pk}/change/").content.decode()
    assert "/do/resume/" in page and pause_url not in page
    history = [entry.get_change_message() for entry in LogEntry.objects.order_by("action_time")]
    assert history == [f"Ran now as job {manual.pk}.", "Paused."]

    # Who may only view schedules sees no button and cannot post to them.
    viewer = Client()
    alice.is_staff = True
    alice.save()
    alice.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    viewer.force_login(alice)
    assert run_url not in viewer.get(f"/admin/jobs/schedule/{tick.pk}/change/").content.decode()
    assert viewer.post(run_url).status_code == 403
    assert viewer.post(f"/admin/jobs/schedule/{tick.pk}/do/unknown/").status_code == 404


def test_the_form_offers_time_zones_and_says_one_error_for_a_bad_cron(tick: Schedule, staff):
    client = Client()
    client.force_login(staff)
    url = f"/admin/jobs/schedule/{tick.pk}/change/"
    page = client.get(url).content.decode()
    assert '<option value="Europe/Paris">' in page and '<select name="time_zone"' in page
    bad = client.post(url, form(tick, cron="every day", interval="", time_zone="Mars/Base"))
    errors = bad.context["adminform"].form.errors
    assert errors["cron"] == ["Not a cron expression (e.g. '*/5 * * * *')."]
    assert "__all__" not in errors  # not a second error for the same mistake
    assert "Select a valid choice" in errors["time_zone"][0]
