"""Every admin page of ours as staff use it, in headless Chromium: readable in light and dark
mode (the admin follows the system's scheme), the job list's error column on a 1280 px screen,
the search finding what staff paste, a schedule's own buttons asking first, and a quiet
dashboard sending nothing on refresh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

import tests.workbench.tasks  # noqa: F401  # the workbench-tick schedule
from accounts.models import User
from jobs.ledger.error_groups import error_group
from jobs.maintenance.upkeep import LedgerUpkeep
from jobs.models import (
    AlertDelivery,
    AlertIncident,
    AlertRule,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    Schedule,
)
from jobs.schedules.scheduler import sync_declarations
from tests.browser.test_admin_in_a_browser import log_in
from tests.factories import job_in

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG_ERROR = (
    "SMTPServerDisconnected: Connection unexpectedly closed while sending the welcome email "
    "to the mail relay at smtp.example.com after 3 retries"
)

#: Contrast of text against what it is drawn on, as WCAG computes it (the lowest on the page,
#: among our own elements: the timeline, badges, dashboard, lists and notices).
CONTRAST = """
(selectors) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = { ratio: 99, text: "" };
  for (const node of document.querySelectorAll(selectors)) {
    if (!node.textContent.trim() || !node.offsetParent) continue;
    const a = lum(rgb(getComputedStyle(node).color)), b = lum(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst.ratio) worst = { ratio, text: node.outerHTML.slice(0, 120) };
  }
  return worst;
}
"""
OURS = (
    ".job-timeline td, .job-status, .dashboard-numbers .count, .dashboard-list li, "
    "#result_list td, .field-channel_health, .field-next_run, .field-last_run, "
    ".schedule-confirm p, .job-extra-filters, .dashboard-at"
)


@pytest.fixture
def ledger(staff: User) -> dict[str, Any]:
    """A failed job with its timeline, a succeeded one, a schedule, a rule whose webhook fails,
    the duties run once."""
    now = timezone.now()
    failed = job_in(
        JobStatus.FAILED,
        actor="send_welcome_email",
        attempts=2,
        started_at=now,
        finished_at=now,
        last_error=LONG_ERROR,
        error_type="SMTPServerDisconnected",
        error_group=error_group("SMTPServerDisconnected", LONG_ERROR),
        about_label="a.rather-long-mailbox-name@example-company.com",
        queue_name="emails-high-priority",
        duration=dt.timedelta(seconds=12.5),
    )
    job_in(JobStatus.RETRYING, actor="sync_crm", next_eta=now + dt.timedelta(minutes=3))
    JobEvent.objects.create(
        job=failed, kind=EventKind.ATTEMPT_FAILED, attempt=1, message=LONG_ERROR, at=now
    )
    JobEvent.objects.create(
        job=failed, kind=EventKind.FAILED, attempt=2, message=LONG_ERROR, at=now
    )
    job_in(JobStatus.SUCCEEDED, actor="generate_report", finished_at=now, attempts=1)
    sync_declarations()
    rule = AlertRule.objects.create(
        name="no workers", kind="workers_gone", threshold=1, webhook_url="https://hooks.example/x"
    )
    incident = AlertIncident.objects.create(rule=rule, message="0 worker process(es) alive")
    AlertDelivery.objects.create(
        incident=incident,
        channel="webhook",
        change="opened",
        attempts=3,
        next_attempt_at=now + dt.timedelta(minutes=4),
        last_error="HTTPError: HTTP Error 500: Internal Server Error",
    )
    LedgerUpkeep().run_once()
    return {"failed": failed, "rule": rule, "tick": Schedule.objects.get(name="workbench-tick")}


@pytest.fixture
def dark_and_light(chromium: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(scheme: str, width: int = 1500) -> Page:
        context = chromium.new_context(
            viewport={"width": width, "height": 950}, color_scheme=scheme
        )
        contexts.append(context)
        page: Page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def test_every_page_of_ours_is_readable_in_light_and_dark_mode(
    dark_and_light: Any, live_server: Any, ledger: dict[str, Any], screenshot: Any
):
    base = live_server.url
    pages = {
        "job-list": "/admin/jobs/job/",
        "job-timeline": f"/admin/jobs/job/{ledger['failed'].pk}/change/",
        "dashboard": "/admin/jobs/job/dashboard/",
        "schedules": "/admin/jobs/schedule/",
        "schedule": f"/admin/jobs/schedule/{ledger['tick'].pk}/change/",
        "schedule-run-now": f"/admin/jobs/schedule/{ledger['tick'].pk}/do/run-now/",
        "alert-rules": "/admin/jobs/alertrule/",
        "alert-rule": f"/admin/jobs/alertrule/{ledger['rule'].pk}/change/",
        "duties": "/admin/jobs/duty/",
    }
    for scheme in ("light", "dark"):
        page = dark_and_light(scheme)
        log_in(page, base)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(255, 255, 255)") == (scheme == "light"), background
        for name, path in pages.items():
            page.goto(base + path)
            worst = page.evaluate(CONTRAST, OURS)
            assert worst["ratio"] >= 4.5, (scheme, name, worst)
            screenshot(page, f"{scheme}-{name}" if scheme == "dark" else f"admin-{name}")
        # The timeline's tinted rows: dark tints under light text in dark mode.
        page.goto(base + pages["job-timeline"])
        row = page.locator(".job-timeline tr.event-attempt_failed td").first
        tint = row.evaluate("(n) => getComputedStyle(n).backgroundColor")
        assert (tint == "rgb(254, 242, 242)") == (scheme == "light"), (scheme, tint)


def test_the_error_column_fits_a_1280_px_screen_and_search_finds_the_id_shown(
    dark_and_light: Any, live_server: Any, ledger: dict[str, Any], screenshot: Any
):
    page = dark_and_light("light", width=1280)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/job/")
    cell = page.locator("#result_list td.field-error_display", has_text="SMTP")
    box = cell.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert cell.locator("span").get_attribute("title") == LONG_ERROR  # the whole text on hover
    screenshot(page, "admin-job-list-1280")

    # The 8 characters the list shows, pasted into the search, find the job.
    short = str(ledger["failed"].pk)[:8]
    page.fill("#searchbar", short)
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(short)
    page.fill("#searchbar", "unexpectedly closed")
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    screenshot(page, "admin-job-search")


def test_a_schedules_own_buttons_ask_first_then_act(
    dark_and_light: Any, live_server: Any, ledger: dict[str, Any], screenshot: Any
):
    tick = ledger["tick"]
    page = dark_and_light("light")
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/schedule/{tick.pk}/change/")
    page.click("a.schedule-action-pause")
    expect(page.locator("#content")).to_contain_text("Pause the schedule “workbench-tick”?")
    screenshot(page, "admin-schedule-confirm")
    assert not Schedule.objects.get(pk=tick.pk).paused  # asking did nothing
    page.click("text=Yes, pause")
    expect(page.locator(".field-next_run")).to_contain_text("paused")
    assert Schedule.objects.get(pk=tick.pk).paused
    page.click("a.schedule-action-run-now")
    page.click("text=Yes, run now")
    expect(page.locator(".messagelist")).to_contain_text("enqueued")
    assert Job.objects.filter(about_id=str(tick.pk)).count() == 1
    page.click("a.schedule-action-resume")
    page.click("text=Yes, resume")
    expect(page.locator(".field-next_run")).not_to_contain_text("paused")


def test_a_dashboard_refresh_sends_only_what_changed(
    dark_and_light: Any, live_server: Any, ledger: dict[str, Any]
):
    page = dark_and_light("light")
    log_in(page, live_server.url)
    answers: list[tuple[int, list[str]]] = []

    def measure(response: Any) -> None:
        if "partial=1" in response.url:
            answers.append((len(response.body()), sorted(response.json()["sections"])))

    page.on("response", measure)
    # The charts and the actors' figures move with the minute: start where none is crossed.
    second = timezone.now().second
    if second > 40:
        page.wait_for_timeout((61 - second) * 1000)
    page.goto(f"{live_server.url}/admin/jobs/job/dashboard/")
    page.wait_for_timeout(11_000)  # two refreshes, 5 s apart
    assert len(answers) >= 2, answers
    page_size = len(page.content())
    # No job changed meanwhile: the counts, actors, errors and charts are not sent again; the
    # broker's queues and workers may have moved.
    for size, sent in answers:
        assert not {"statuses", "actors", "errors", "charts"} & set(sent), answers
        assert size < 3000, answers
    print(f"dashboard page {page_size} bytes; refreshes {answers}")
