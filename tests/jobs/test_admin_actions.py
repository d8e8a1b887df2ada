"""Admin actions and permissions: who may see, retry, cancel and delete jobs, one or thousands."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

import tests.workbench.tasks as workbench
from accounts.models import User
from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue

pytestmark = pytest.mark.django_db

LIST = "/admin/jobs/job/"
DASHBOARD = "/admin/jobs/job/dashboard/"


def job_in(status: JobStatus, *args) -> Job:
    job = enqueue(workbench.with_secrets, *(args or ("k", "tok-secret")), iban="DE00")
    Job.objects.filter(pk=job.pk).update(status=status, delivery_id=str(uuid.uuid4()))
    return Job.objects.get(pk=job.pk)


def operator(django_user_model, *codenames: str, staff: bool = True) -> Client:
    user = django_user_model.objects.create_user(
        f"op-{uuid.uuid4().hex[:8]}@example.com", "pw", is_staff=staff
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def detail(job: Job) -> str:
    return f"{LIST}{job.pk}/change/"


def test_anonymous_visitors_are_sent_to_the_login_page():
    job = job_in(JobStatus.FAILED)
    client = Client()

    for url in (LIST, DASHBOARD, detail(job)):
        assert client.get(url).status_code == 302
    assert client.post(f"{LIST}{job.pk}/retry/").status_code == 302
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_active_users_who_are_not_staff_are_sent_to_the_login_page(alice: User):
    job = job_in(JobStatus.FAILED)
    client = Client()
    client.force_login(alice)

    for url in (LIST, DASHBOARD, detail(job)):
        assert client.get(url).status_code == 302
    assert client.post(f"{LIST}{job.pk}/cancel/").status_code == 302


def test_staff_without_permissions_see_nothing_and_change_nothing(django_user_model):
    job = job_in(JobStatus.QUEUED)
    client = operator(django_user_model)

    for url in (LIST, DASHBOARD, detail(job)):
        assert client.get(url).status_code == 403
    for action in ("retry", "cancel", "run-again"):
        assert client.post(f"{LIST}{job.pk}/{action}/").status_code == 403
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_viewers_see_jobs_but_not_their_arguments_and_cannot_act(django_user_model):
    job = job_in(JobStatus.FAILED, "visible-key", "tok")
    client = operator(django_user_model, "view_job")

    page = client.get(detail(job)).content.decode()

    assert "Hidden: seeing them needs the permission" in page
    assert "visible-key" not in page
    assert "job-action-retry" not in page and "job-action-delete" not in page
    assert str(job.pk)[:8] not in client.get(LIST, {"q": "visible-key"}).content.decode()
    assert client.get(DASHBOARD).status_code == 200
    assert client.post(f"{LIST}{job.pk}/retry/").status_code == 403
    changelist = client.get(LIST).content.decode()
    assert "retry_jobs" not in changelist and "delete_jobs" not in changelist
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_the_payload_permission_shows_arguments_but_never_secrets(django_user_model):
    job = job_in(JobStatus.FAILED, "visible-key", "tok-secret")
    client = operator(django_user_model, "view_job", "view_job_payload")

    page = client.get(detail(job)).content.decode()

    assert "visible-key" in page
    assert "[redacted]" in page
    assert "tok-secret" not in page and "DE00" not in page
    assert str(job.pk)[:8] in client.get(LIST, {"q": "visible-key"}).content.decode()


def test_the_retry_permission_gives_the_retry_button_and_it_works(
    redis_url: str, django_user_model
):
    job = job_in(JobStatus.FAILED)
    client = operator(django_user_model, "view_job", "retry_job")

    assert "job-action-retry" in client.get(detail(job)).content.decode()
    response = client.post(f"{LIST}{job.pk}/retry/", follow=True)

    assert response.status_code == 200
    assert "Retry: 1 job(s) done." in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert job.events.filter(kind=EventKind.RETRIED, operator__isnull=False).exists()
    assert client.post(f"{LIST}{job.pk}/cancel/").status_code == 403


def test_run_again_opens_the_new_job(redis_url: str, django_user_model):
    job = job_in(JobStatus.SUCCEEDED)
    client = operator(django_user_model, "view_job", "retry_job")

    response = client.post(f"{LIST}{job.pk}/run-again/")

    copy = Job.objects.get(copy_of=job)
    assert response.status_code == 302
    assert response["Location"] == detail(copy)


def test_the_cancel_permission_cancels_waiting_jobs(django_user_model):
    job = job_in(JobStatus.QUEUED)
    client = operator(django_user_model, "view_job", "cancel_job")

    assert "job-action-cancel" in client.get(detail(job)).content.decode()
    client.post(f"{LIST}{job.pk}/cancel/")

    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert client.post(f"{LIST}{job.pk}/retry/").status_code == 403


def test_the_delete_permission_deletes_finished_jobs_only(django_user_model):
    finished, waiting = job_in(JobStatus.SUCCEEDED), job_in(JobStatus.QUEUED)
    client = operator(django_user_model, "view_job", "delete_job")

    assert client.post(f"{LIST}{finished.pk}/delete/", {"post": "yes"}).status_code == 302
    assert client.post(f"{LIST}{waiting.pk}/delete/", {"post": "yes"}).status_code == 403
    assert not Job.objects.filter(pk=finished.pk).exists()
    assert Job.objects.filter(pk=waiting.pk).exists()


def bulk(client: Client, action: str, query: str = "", **extra) -> str:
    any_job = Job.objects.first()
    data = {"action": action, "select_across": "1", "index": "0", "_selected_action": any_job.pk}
    return client.post(f"{LIST}{query}", {**data, **extra}, follow=True).content.decode()


def test_bulk_retry_over_a_filter_confirms_with_a_breakdown_then_retries_them_all(
    redis_url: str, django_user_model
):
    failed = [job_in(JobStatus.FAILED) for _ in range(3)]
    succeeded = job_in(JobStatus.SUCCEEDED)
    client = operator(django_user_model, "view_job", "retry_job")

    confirmation = bulk(client, "retry_jobs")

    assert "Retry 3 of the 4 jobs" in confirmation
    assert "matching the current filter" in confirmation
    assert re.search(r"with_secrets</td><td>failed</td><td>3</td>\s*<td>yes", confirmation)
    assert re.search(r"with_secrets</td><td>succeeded</td><td>1</td>\s*<td>skipped", confirmation)
    assert all(
        job.status == JobStatus.FAILED for job in Job.objects.filter(pk__in=[j.pk for j in failed])
    )

    done = bulk(client, "retry_jobs", confirm="yes")

    assert "Retry: 3 job(s) done, 1 skipped" in done
    assert set(
        Job.objects.filter(pk__in=[j.pk for j in failed]).values_list("status", flat=True)
    ) == {JobStatus.QUEUED}
    assert Job.objects.get(pk=succeeded.pk).status == JobStatus.SUCCEEDED


def test_bulk_actions_act_only_on_the_filtered_jobs(django_user_model):
    queued = job_in(JobStatus.QUEUED)
    pending = job_in(JobStatus.PENDING)
    client = operator(django_user_model, "view_job", "cancel_job")

    bulk(client, "cancel_jobs", "?status__exact=queued", confirm="yes")

    assert Job.objects.get(pk=queued.pk).status == JobStatus.CANCELLED
    assert Job.objects.get(pk=pending.pk).status == JobStatus.PENDING


def test_bulk_delete_needs_the_delete_permission(django_user_model):
    job = job_in(JobStatus.SUCCEEDED)
    client = operator(django_user_model, "view_job", "cancel_job")

    bulk(client, "delete_jobs", confirm="yes")

    assert Job.objects.filter(pk=job.pk).exists()


def test_operator_actions_show_in_the_timeline_with_who_did_them(django_user_model, staff):
    job = job_in(JobStatus.QUEUED)
    client = Client()
    client.force_login(staff)

    client.post(f"{LIST}{job.pk}/cancel/")

    page = client.get(detail(job)).content.decode()
    assert "Cancelled" in page
    assert f"by {staff}" in page


def test_bulk_delete_removes_finished_jobs_and_logs_each_in_the_admin_log(django_user_model):
    from django.contrib.admin.models import DELETION, LogEntry

    finished, waiting = job_in(JobStatus.FAILED), job_in(JobStatus.QUEUED)
    client = operator(django_user_model, "view_job", "delete_job")

    confirmation = bulk(client, "delete_jobs")
    assert "Delete 1 of the 2 jobs" in confirmation
    done = bulk(client, "delete_jobs", confirm="yes")

    assert "Delete: 1 job(s) done, 1 skipped" in done
    assert not Job.objects.filter(pk=finished.pk).exists()
    assert Job.objects.filter(pk=waiting.pk).exists()
    [entry] = LogEntry.objects.filter(action_flag=DELETION)
    assert entry.object_id == str(finished.pk)
