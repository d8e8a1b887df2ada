"""GET /jobs/<id>: status for anyone holding the id; arguments for its user and payload viewers."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_job(alice: User) -> Job:
    return Job.objects.create_pending(
        job_id=uuid.uuid4(),
        actor_name="generate_report",
        queue_name="default",
        args=["secret-report-id"],
        kwargs={},
        max_retries=2,
        caused_by=alice,
    )


def test_status_is_public_but_arguments_are_not(alices_job: Job):
    body = Client().get(f"/jobs/{alices_job.id}").json()

    assert body["status"] == "pending"
    assert body["attempts"] == 0
    assert body["enqueued_at"]
    assert "args" not in body and "result" not in body and "last_error" not in body


def test_the_user_who_caused_the_job_sees_its_arguments(alices_job: Job, alice: User):
    client = Client()
    client.force_login(alice)

    assert client.get(f"/jobs/{alices_job.id}").json()["args"] == ["secret-report-id"]


def test_another_user_does_not_see_the_arguments(alices_job: Job, bob: User):
    client = Client()
    client.force_login(bob)

    assert "args" not in client.get(f"/jobs/{alices_job.id}").json()


def test_staff_with_the_payload_permission_see_the_arguments(alices_job: Job, staff: User):
    client = Client()
    client.force_login(staff)

    assert client.get(f"/jobs/{alices_job.id}").json()["args"] == ["secret-report-id"]


def test_staff_who_may_only_view_jobs_do_not_see_the_arguments(alices_job: Job, django_user_model):
    viewer = django_user_model.objects.create_user("viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_job"))
    client = Client()
    client.force_login(viewer)

    body = client.get(f"/jobs/{alices_job.id}").json()
    assert body["status"] == "pending"
    assert "args" not in body


def test_an_unknown_job_is_a_404():
    assert Client().get(f"/jobs/{uuid.uuid4()}").status_code == 404
    assert Client().get("/jobs/not-a-uuid").status_code == 404
