"""The Schedules page in headless Chromium: an app's schedules, their timing in words, last
runs with their status; staff pause one from the list. The ledger's own duties on theirs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

import tests.workbench.tasks  # noqa: F401  # the workbench-tick schedule
from accounts.models import User
from jobs.maintenance.upkeep import LedgerUpkeep
from jobs.models import Schedule
from jobs.schedules.scheduler import run_due_schedules, sync_declarations
from tests.browser.test_admin_in_a_browser import log_in
from tests.conftest import WorkerProcess, settled, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_staff_see_the_schedules_and_pause_one(
    page: Page, live_server: Any, workbench_worker: WorkerProcess, staff: User, screenshot: Any
):
    sync_declarations()
    jobs = run_due_schedules(timezone.now() + dt.timedelta(minutes=6))  # one run of each
    assert len(jobs) == 1
    wait_for(lambda: all(settled(job.pk) for job in jobs), 30, workbench_worker.logs)

    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/schedule/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)  # and workbench-partner-sync, never due in a test
    expect(page.locator("#result_list")).to_contain_text("Every 2 seconds")
    expect(page.locator("#result_list .job-status-succeeded")).to_have_count(1)
    screenshot(page, "admin-schedules")
    assert tests.workbench.tasks.PARTNER_TOKEN not in page.content()

    tick = Schedule.objects.get(name="workbench-tick")
    page.check(f'input[name="_selected_action"][value="{tick.pk}"]')
    page.select_option('select[name="action"]', "pause")
    page.click('button[name="index"]')
    expect(page.locator(".messagelist")).to_contain_text("Paused: 1")
    assert Schedule.objects.get(pk=tick.pk).paused

    page.click("text=workbench-tick")
    expect(page.locator(".field-history")).to_contain_text("Succeeded")
    expect(page.locator(".field-state")).to_contain_text("paused")
    page.click("text=History")
    expect(page.locator("#change-history")).to_contain_text("Paused.")


def test_staff_see_what_each_duty_of_the_ledger_did(
    page: Page, live_server: Any, staff: User, screenshot: Any
):
    ran = LedgerUpkeep().run_once()
    assert ran == ["relay", "schedules", "ledger-check", "retention", "alerts"]

    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/duty/")
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    expect(page.locator("#result_list")).to_contain_text("hours_rolled_up")
    screenshot(page, "admin-duties")
