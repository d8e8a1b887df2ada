"""Item 5, schedules: a schedule's secret arguments are sealed like a job's: never on the
Schedules page or in its stored declaration, still given to its jobs, kept through an edit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

import tests.workbench.tasks as workbench
from jobs.brokers.sealing import message_arguments
from jobs.maintenance.relay import message_for
from jobs.models import Job, Schedule
from jobs.schedules.scheduler import run_now, sync_declarations

pytestmark = pytest.mark.django_db

NAME = "workbench-partner-sync"


@pytest.fixture
def partner_sync() -> Schedule:
    sync_declarations()
    return Schedule.objects.get(name=NAME)


def test_the_stored_schedule_holds_no_secret(partner_sync: Schedule):
    stored = json.dumps([partner_sync.args, partner_sync.kwargs, partner_sync.declared])

    assert workbench.PARTNER_TOKEN not in stored
    assert workbench.PARTNER_TOKEN not in partner_sync.sealed_arguments
    assert partner_sync.kwargs == {"api_token": "[redacted]"}


def test_the_schedules_page_shows_the_secret_redacted(partner_sync: Schedule, staff: Any):
    client = Client()
    client.force_login(staff)

    pages = [
        client.get("/admin/jobs/schedule/").content.decode(),
        client.get(f"/admin/jobs/schedule/{partner_sync.pk}/change/").content.decode(),
    ]

    assert all(workbench.PARTNER_TOKEN not in page for page in pages)
    assert "api_token" in pages[1]


def test_its_jobs_get_the_real_value(partner_sync: Schedule, staff: Any):
    job = run_now(partner_sync, operator=staff)

    assert message_arguments(message_for(Job.objects.get(pk=job.pk)))[1] == {
        "api_token": workbench.PARTNER_TOKEN
    }


def test_an_edit_that_leaves_the_secret_redacted_keeps_it(partner_sync: Schedule, staff: Any):
    client = Client()
    client.force_login(staff)
    form = {
        "cron": "0 5 29 2 *",
        "interval": "",
        "time_zone": "UTC",
        "args": '["acme-2"]',
        "kwargs": '{"api_token": "[redacted]"}',
    }

    answer = client.post(f"/admin/jobs/schedule/{partner_sync.pk}/change/", form)

    assert answer.status_code == 302, answer.content.decode()[:2000]
    partner_sync.refresh_from_db()
    assert partner_sync.real_arguments() == (["acme-2"], {"api_token": workbench.PARTNER_TOKEN})
    assert partner_sync.overridden
