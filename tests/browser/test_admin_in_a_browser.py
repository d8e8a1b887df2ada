"""What staff and visitors do, clicked through in headless Chromium against a real worker."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

import tests.workbench.tasks as workbench
from accounts.models import User
from jobs.models import Job, JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, wait_for, wait_until_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "staff@example.com")
    page.fill("#id_password", "staff-password-1")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("staff@example.com")


def test_a_visitor_signs_up_and_staff_find_the_job_succeeded_with_its_timeline(
    page: Page, live_server: Any, workbench_worker: WorkerProcess, staff: User, screenshot: Any
):
    page.goto(f"{live_server.url}/signup")
    page.fill("input[name=email]", "visitor@example.com")
    screenshot(page, "signup")
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("Check your inbox")
    job = Job.objects.get(about_label="visitor@example.com")
    assert wait_until_final(job.pk, workbench_worker).status == JobStatus.SUCCEEDED

    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/job/")
    page.fill("#searchbar", "visitor@example.com")
    page.press("#searchbar", "Enter")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Succeeded")
    screenshot(page, "admin-job-list")
    row.locator("th a").click()

    timeline = page.locator("#timeline")
    for event in ("Enqueued", "Sent to broker", "Started", "Succeeded"):
        expect(timeline).to_contain_text(event)
    screenshot(page, "admin-job-timeline")


def test_staff_retry_a_failed_job_and_see_it_succeed(
    page: Page,
    live_server: Any,
    workbench_worker: WorkerProcess,
    staff: User,
    tmp_path: Path,
    screenshot: Any,
):
    (tmp_path / "invoice-7.broken").touch()
    job = enqueue(workbench.flaky, "invoice-7")
    assert wait_until_final(job.pk, workbench_worker).status == JobStatus.FAILED
    (tmp_path / "invoice-7.broken").unlink()

    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/job/{job.pk}/change/")
    expect(page.locator(".job-status")).to_have_text("Failed")
    expect(page.locator("#timeline")).to_contain_text("RuntimeError: invoice-7 is broken")
    page.click("button.job-action-retry")

    expect(page.locator(".messagelist")).to_contain_text("Retry: 1 job(s) done")
    wait_until_final(job.pk, workbench_worker)
    page.reload()
    expect(page.locator(".job-status")).to_have_text("Succeeded")
    expect(page.locator("#timeline")).to_contain_text("Retried by staff")
    expect(page.locator("#timeline")).to_contain_text("by staff@example.com")
    screenshot(page, "admin-job-retried")


def test_staff_cancel_a_scheduled_job(
    page: Page, live_server: Any, workbench_worker: WorkerProcess, staff: User, tmp_path: Path
):
    job = enqueue(workbench.flaky, "someday", delay=dt.timedelta(minutes=10))
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SCHEDULED, 10)

    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/job/?status__exact=scheduled")
    expect(page.locator("#result_list tbody tr")).to_contain_text("Scheduled")
    page.locator("#result_list tbody tr th a").first.click()
    expect(page.locator("button.job-action-run_now")).to_be_visible()  # before its due time
    page.click("button.job-action-cancel")

    expect(page.locator(".messagelist")).to_contain_text("Cancel: 1 job(s) done")
    expect(page.locator(".job-status")).to_have_text("Cancelled")
    expect(page.locator("#timeline")).to_contain_text(
        "Cancelled by staff@example.com while scheduled"
    )
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_the_dashboard_shows_the_counts_change_without_reloading(
    page: Page, live_server: Any, workbench_worker: WorkerProcess, staff: User, screenshot: Any
):
    (Path(workbench_worker.log_path.parent) / "dash-broken.broken").touch()
    failing = enqueue(workbench.flaky, "dash-broken")
    wait_until_final(failing.pk, workbench_worker)

    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/")
    page.click("#job-dashboard-link a >> nth=0")
    succeeded = page.locator('a[data-status="succeeded"] .count')
    expect(succeeded).to_have_text("0")
    # The argument stays out of the group every staff member sees (jobs/ledger/redaction.py).
    expect(page.locator(".dashboard-errors")).to_contain_text(
        "RuntimeError: [argument hidden] is broken"
    )
    page.evaluate("window.__notReloaded = true")

    for key in ("a", "b", "c"):
        enqueue(workbench.flaky, f"dash-{key}")

    expect(succeeded).to_have_text("3", timeout=30_000)
    assert page.evaluate("window.__notReloaded === true")  # refreshed in place
    expect(page.locator(".dashboard-workers")).to_contain_text("alive")
    screenshot(page, "admin-dashboard")

    page.click("#dashboard-pause")
    expect(page.locator("#dashboard-refresh-state")).to_have_text("Paused")
    page.click('a[data-status="failed"]')
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert re.search(r"status__exact=failed", page.url)


def test_a_user_requests_a_report_and_watches_it_become_ready(
    page: Page, live_server: Any, worker: WorkerProcess, alice: User, screenshot: Any
):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "alice@example.com")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/reports/new")
    page.select_option("select[name=kind]", "signups")
    page.click("button[type=submit]")

    expect(page.locator("#report-status")).to_have_text("Ready", timeout=30_000)
    expect(page.locator("#report-download")).to_be_visible()
    # The progress bar's width is set by script (no inline style: the CSP forbids it).
    assert page.locator("#report-progress").evaluate("e => e.style.width") == "100%"
    screenshot(page, "report-ready")
