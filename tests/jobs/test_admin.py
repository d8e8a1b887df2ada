"""The job admin: staff only, filters and search, timeline, and everything user-typed escaped."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_dramatiq.models import Task

from accounts.models import User
from jobs.ledger.history import append
from jobs.models import EventKind, Job, JobEvent

pytestmark = pytest.mark.django_db

XSS = '<script>alert("xss")</script>'


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def add_event(job_id: uuid.UUID, kind: EventKind, **fields: Any) -> None:
    append([JobEvent(job_id=job_id, kind=kind, **fields)])


def make_job(actor: str = "send_welcome_email", args: list[Any] | None = None, **extra) -> Job:
    return Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name=actor,
        queue_name="default",
        args=args if args is not None else [1],
        kwargs=extra.pop("kwargs", {}),
        max_retries=3,
        **extra,
    )


def test_anonymous_and_non_staff_users_cannot_see_jobs(alice: User):
    assert Client().get("/admin/jobs/job/").status_code == 302
    client = Client()
    client.force_login(alice)
    assert client.get("/admin/jobs/job/").status_code == 302


def test_staff_without_the_view_permission_cannot_see_jobs(django_user_model):
    clerk = django_user_model.objects.create_user("clerk@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(clerk)

    assert client.get("/admin/jobs/job/").status_code == 403


def test_job_list_shows_status_actor_attempts_and_what_it_is_about(
    staff_client: Client, alice: User
):
    job = make_job(about=alice)

    page = staff_client.get("/admin/jobs/job/").content.decode()

    assert str(job.id)[:8] in page
    assert "send_welcome_email" in page
    assert "Pending" in page
    assert "0 / 4" in page
    assert f'href="/admin/accounts/user/{alice.pk}/change/"' in page


def test_search_by_email_finds_the_jobs_about_it_and_with_it_in_arguments(
    staff_client: Client, alice: User, bob: User
):
    about_alice = make_job(about=alice)
    mentions_alice = make_job(actor="notify", args=["alice@example.com"])
    about_bob = make_job(about=bob)

    page = staff_client.get("/admin/jobs/job/", {"q": "alice@example.com"}).content.decode()

    assert str(about_alice.id)[:8] in page
    assert str(mentions_alice.id)[:8] in page
    assert str(about_bob.id)[:8] not in page


def test_search_by_job_id_finds_exactly_that_job(staff_client: Client):
    wanted, other = make_job(), make_job()

    page = staff_client.get("/admin/jobs/job/", {"q": str(wanted.id)}).content.decode()

    assert str(wanted.id)[:8] in page
    assert str(other.id)[:8] not in page


def test_filters_by_status_and_actor(staff_client: Client):
    make_job(actor="send_welcome_email")
    report_job = make_job(actor="generate_report")

    page = staff_client.get(
        "/admin/jobs/job/", {"status__exact": "pending", "actor_name": "generate_report"}
    ).content.decode()

    assert str(report_job.id)[:8] in page
    assert page.count('class="field-short_id"') == 1


def test_user_typed_text_is_escaped_in_list_and_detail(staff_client: Client):
    job = make_job(args=[XSS], kwargs={"note": XSS})
    add_event(
        job.id,
        EventKind.FAILED,
        exception_type="ValueError",
        message=XSS,
        traceback=f"Traceback\n{XSS}",
    )
    Job.objects.filter(pk=job.pk).update(last_error=XSS, about_label=XSS)

    for url in [
        "/admin/jobs/job/",
        f"/admin/jobs/job/{job.id}/change/",
        "/admin/jobs/job/?q=script",
    ]:
        page = staff_client.get(url).content.decode()
        assert XSS not in page, url
    detail = staff_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in detail


def test_job_detail_shows_the_timeline_with_tracebacks(staff_client: Client):
    job = make_job()
    add_event(
        job.id,
        EventKind.ATTEMPT_FAILED,
        attempt=1,
        exception_type="SMTPResponseException",
        message="451 try later",
        traceback="Traceback (most recent call last):\n  boom",
    )

    page = staff_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()

    assert "Timeline" in page
    assert "Enqueued" in page
    assert "Attempt failed, retry scheduled" in page
    assert "SMTPResponseException" in page
    assert "Traceback (most recent call last):" in page


def test_jobs_cannot_be_added_or_edited_from_the_admin(staff_client: Client):
    job = make_job()

    assert staff_client.get("/admin/jobs/job/add/").status_code == 403
    response = staff_client.post(f"/admin/jobs/job/{job.id}/change/", {"status": "succeeded"})
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).status == "pending"


def test_django_dramatiq_task_admin_is_not_exposed(staff_client: Client):
    assert not admin.site.is_registered(Task)
    assert staff_client.get("/admin/django_dramatiq/task/").status_code == 404


def test_user_admin_lists_the_users_jobs(staff_client: Client, alice: User):
    job = make_job(about=alice)

    page = staff_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()

    assert f"/admin/jobs/job/{job.id}/change/" in page


def test_report_admin_lists_the_reports_jobs(staff_client: Client, alice: User):
    from reports.models import ReportRequest

    report = ReportRequest.objects.create(
        owner=alice, kind="signups", params={"year": 2025, "month": 1}
    )
    job = make_job(actor="generate_report", about=report)

    page = staff_client.get(f"/admin/reports/reportrequest/{report.pk}/change/").content.decode()

    assert f"/admin/jobs/job/{job.id}/change/" in page


def test_long_lists_are_counted_only_up_to_the_cap(staff_client: Client, monkeypatch):
    from jobs.admin.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    for _ in range(5):
        make_job()

    page = staff_client.get("/admin/jobs/job/").content.decode()

    assert "more than 3 jobs" in page
    assert "Select all jobs matching this filter (more than 3)" in page
    assert page.count('class="field-short_id"') == 5
    few = staff_client.get("/admin/jobs/job/", {"q": "no-such-actor"}).content.decode()
    assert "0 jobs" in few


def test_a_one_page_list_is_fetched_with_its_count_as_limit_but_a_search_is_not(
    staff_client: Client,
):
    """jobs/admin/pagination.py's LimitedChangeList: both plans measured at 10,000,000 jobs."""
    make_job(actor="generate_report")
    make_job(actor="generate_report", args=["bob@example.com"])

    def list_query(params: dict[str, str]) -> tuple[str, str]:
        with CaptureQueriesContext(connection) as queries:
            page = staff_client.get("/admin/jobs/job/", params).content.decode()
        rows = 'SELECT "jobs_job"."id", "jobs_job"."actor_name"'
        [fetch] = [q["sql"] for q in queries if rows in q["sql"]]
        return fetch, page

    filtered, page = list_query({"status__exact": "pending", "actor_name": "generate_report"})
    assert filtered.endswith("LIMIT 2")
    assert page.count('class="field-short_id"') == 2
    searched, page = list_query({"q": "bob@example.com"})
    assert "LIMIT" not in searched
    assert page.count('class="field-short_id"') == 1


def support_client(django_user_model) -> Client:
    """Staff who may view jobs but not their arguments."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("support@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = Client()
    client.force_login(user)
    return client


def test_argument_values_inside_errors_are_hidden_from_staff_who_may_not_see_arguments(
    django_user_model, staff_client: Client
):
    job = make_job(args=["card-4111-1111"], kwargs={"note": "private note"})
    error = "Charge of card-4111-1111 refused (private note)"
    Job.objects.filter(pk=job.pk).update(status="failed", last_error=error)
    add_event(
        job.pk, EventKind.FAILED, message=error, traceback=f"Traceback ...\nValueError: {error}"
    )
    support = support_client(django_user_model)

    for page in (support.get("/admin/jobs/job/"), support.get(f"/admin/jobs/job/{job.pk}/change/")):
        text = page.content.decode()
        assert "card-4111-1111" not in text and "private note" not in text
        assert "Charge of [argument hidden] refused ([argument hidden])" in text
    # Those who may see arguments read the error whole.
    assert (
        "card-4111-1111" in staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    )


def test_a_request_id_finds_the_jobs_that_request_enqueued(staff_client: Client):
    response = Client().post(
        "/signup", {"email": "traced@example.com"}, content_type="application/json"
    )
    request_id = response["X-Request-ID"]
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.request_id == request_id

    found = staff_client.get("/admin/jobs/job/", {"q": request_id}).content.decode()
    assert str(job.pk)[:8] in found
    assert request_id in staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()


def test_the_actor_filter_lists_every_actor_the_ledger_knows_and_nothing_else(staff):
    """Not the actors this web process happened to import: a run now used to import
    django-dramatiq's own tasks module, listing its unused `delete_old_tasks`."""
    from jobs.brokers.setup import import_actor_modules
    from jobs.models import JobsPerHour
    from tests.factories import job_in

    job_in(actor="sent_by_another_app")
    JobsPerHour.objects.create(
        hour=timezone.now() - dt.timedelta(days=3), actor_name="pruned_actor", queue_name="q"
    )
    import_actor_modules()  # what a schedule's run now does in a web process
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/jobs/job/").content.decode()
    assert "?actor_name=sent_by_another_app" in page and "?actor_name=pruned_actor" in page
    assert "delete_old_tasks" not in page


def test_search_finds_what_staff_paste(staff_client: Client, django_user_model: Any):
    """The 8 characters the list shows, a request id, a piece of an error message, an actor."""
    from django.contrib.auth.models import Permission

    from jobs.models import JobStatus
    from tests.factories import job_in

    wanted, other = make_job(), make_job()
    short = str(wanted.id)[:8]
    page = staff_client.get("/admin/jobs/job/", {"q": short}).content.decode()
    assert short in page and str(other.id)[:8] not in page
    assert short in staff_client.get("/admin/jobs/job/", {"q": short.upper()}).content.decode()

    traced = job_in(request_id="req-from-a-proxy-42")
    page = staff_client.get("/admin/jobs/job/", {"q": "req-from-a-proxy-42"}).content.decode()
    assert str(traced.id)[:8] in page and short not in page

    failed = job_in(
        JobStatus.FAILED,
        actor="sync_crm",
        last_error="TimeoutError: CRM call for account alice@example.com gave up after 30 s",
        error_group="TimeoutError: CRM call for account <email> gave up after <n> s",
    )
    page = staff_client.get("/admin/jobs/job/", {"q": "crm call for account"}).content.decode()
    assert str(failed.id)[:8] in page and short not in page
    page = staff_client.get("/admin/jobs/job/", {"q": "sync_c"}).content.decode()
    assert str(failed.id)[:8] in page  # an actor by part of its name

    # Without the payload permission, an argument value inside an error is not searchable.
    viewer = django_user_model.objects.create_user("viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_job"))
    client = Client()
    client.force_login(viewer)
    assert (
        str(failed.id)[:8]
        not in client.get("/admin/jobs/job/", {"q": "account alice@example.com"}).content.decode()
    )
    assert (
        str(failed.id)[:8]
        in client.get("/admin/jobs/job/", {"q": "gave up after"}).content.decode()
    )
