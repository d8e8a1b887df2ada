"""Signup over the HTML form and the JSON endpoint: validation, CSRF, no enumeration, never 500."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def post_json(client: Client, body: object, raw: bytes | None = None):
    data = raw if raw is not None else body
    return client.post("/signup", data, content_type="application/json")


def test_json_signup_answers_202_with_job_id_and_location(
    client: Client, redis_url: str, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, {"email": "new@example.com"})

    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    assert response["Location"] == f"/jobs/{job.id}"
    assert job.status == JobStatus.QUEUED  # sent on commit to the real Redis
    assert job.actor_name == "send_welcome_email"
    user = User.objects.get(email="new@example.com")
    assert not user.has_usable_password()
    assert job.about == user


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"email": "not-an-email"}', "email"),
        (b"{}", "email"),
        (b'{"email": ""}', "email"),
        (b'{"email": null}', "email"),
        (b'{"email": ["a@example.com"]}', "email"),
        (('{"email": "' + "a" * 250 + '@example.com"}').encode(), "email"),
        (b"not json", "body"),
        (b'["a@example.com"]', "body"),
        (b"\xff\xfe", "body"),
    ],
)
def test_json_signup_rejects_bad_input_with_400_and_a_message(
    client: Client, raw: bytes, field: str
):
    response = post_json(client, None, raw=raw)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert errors[field][0]
    assert not Job.objects.exists()


def test_json_signup_with_an_empty_body_is_a_400(client: Client):
    # The test client only sets a content type when there is data: set it as a real client does.
    response = client.generic("POST", "/signup", b"", CONTENT_TYPE="application/json")

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_signup_of_an_existing_email_answers_exactly_like_a_new_one(client: Client, alice: User):
    new = post_json(client, {"email": "someone-new@example.com"})
    existing = post_json(client, {"email": "ALICE@example.com"})

    assert existing.status_code == new.status_code == 202
    assert set(existing.json()) == set(new.json())
    assert existing.json()["detail"] == new.json()["detail"]
    assert User.objects.filter(email="alice@example.com").count() == 1
    assert Job.objects.filter(about_label="alice@example.com").count() == 1


def test_html_signup_shows_the_form(client: Client):
    response = client.get("/signup")

    assert response.status_code == 200
    assert b'name="email"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_html_signup_redirects_to_check_your_inbox(client: Client):
    response = client.post("/signup", {"email": "form@example.com"}, follow=True)

    assert response.redirect_chain == [("/signup/sent", 302)]
    assert b"Check your inbox" in response.content
    assert Job.objects.filter(about_label="form@example.com").exists()


def test_html_signup_rerenders_with_errors_escaped(client: Client):
    response = client.post("/signup", {"email": "<script>alert(1)</script>"})

    assert response.status_code == 200
    assert b"Enter a valid email address" in response.content
    assert b"<script>alert(1)</script>" not in response.content
    assert not Job.objects.exists()


def test_html_signup_without_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/signup", {"email": "csrf@example.com"})

    assert response.status_code == 403
    assert not User.objects.exists()


def test_html_signup_with_csrf_token_succeeds():
    client = Client(enforce_csrf_checks=True)
    client.get("/signup")

    response = client.post(
        "/signup",
        {"email": "csrf@example.com", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )

    assert response.status_code == 302
    assert User.objects.filter(email="csrf@example.com").exists()


def test_a_text_plain_post_cannot_bypass_csrf_by_looking_like_json():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/signup", '{"email": "x@example.com"}', content_type="text/plain")

    assert response.status_code == 403
    assert not User.objects.exists()


def test_signup_rejects_other_methods(client: Client):
    assert client.put("/signup").status_code == 405
