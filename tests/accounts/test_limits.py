"""Abuse limits as a caller meets them: 429 with Retry-After at the first request over the
limit, JSON for JSON callers and a form error for forms, the same for known and unknown
addresses; the client IP taken only from the header the operator names."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    cache.clear()


def signup_json(client: Client, email: str, **headers: Any) -> Any:
    return client.post("/signup", {"email": email}, content_type="application/json", **headers)


def first_refused(responses: list[Any]) -> int | None:
    return next((n for n, r in enumerate(responses, 1) if r.status_code == 429), None)


def test_signups_from_one_ip_get_429_after_the_limit(settings):
    settings.SIGNUP_RATE_PER_IP = "20/m"
    client = Client()
    responses = [signup_json(client, f"user{n}@example.com") for n in range(25)]

    assert first_refused(responses) == 21
    refused = responses[20]
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["errors"]["limit"][0].startswith("Too many signups from your network.")
    assert Job.objects.count() == 20


def test_one_address_gets_at_most_three_welcome_emails_an_hour_known_or_not(alice: Any):
    known = [signup_json(Client(), alice.email, REMOTE_ADDR=f"10.0.0.{n}") for n in range(5)]
    unknown = [
        signup_json(Client(), "new@example.com", REMOTE_ADDR=f"10.0.1.{n}") for n in range(5)
    ]

    assert first_refused(known) == first_refused(unknown) == 4
    # No enumeration: the same answer (the wait differs by address, not by account).
    assert known[3].json().keys() == unknown[3].json().keys()
    message = "Too many emails were sent to this address."
    assert known[3].json()["errors"]["limit"][0].startswith(message)
    assert unknown[3].json()["errors"]["limit"][0].startswith(message)
    assert Job.objects.count() == 6


def test_the_signup_form_shows_the_limit_as_an_error_with_429(settings):
    settings.MAIL_RATE_PER_MAILBOX = "1/h"
    client = Client()
    client.post("/signup", {"email": "form@example.com"})

    response = client.post("/signup", {"email": "form@example.com"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many emails were sent to this address." in response.content.decode()


def test_a_client_cannot_escape_the_ip_limit_with_its_own_forwarded_header(settings):
    settings.SIGNUP_RATE_PER_IP = "2/m"
    spoofed = [
        signup_json(Client(), f"s{n}@example.com", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}")
        for n in range(3)
    ]
    assert first_refused(spoofed) == 3  # the header is ignored unless the operator names it

    cache.clear()
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    behind_proxy = [
        # The proxy appends the real peer; what the client claimed comes first.
        signup_json(Client(), f"p{n}@example.com", HTTP_X_FORWARDED_FOR=f"6.6.6.6, 10.9.9.{n}")
        for n in range(3)
    ]
    assert first_refused(behind_proxy) is None


def test_password_resets_are_jobs_and_limited_per_address(alice: Any):
    responses = [
        Client().post(
            "/accounts/password_reset/", {"email": alice.email}, REMOTE_ADDR=f"10.0.2.{n}"
        )
        for n in range(4)
    ]

    assert [r.status_code for r in responses] == [302, 302, 302, 429]
    jobs = Job.objects.filter(actor_name="send_password_reset_email")
    assert jobs.count() == 3
    assert jobs.first().args == [alice.email]


def test_a_password_reset_for_an_unknown_address_looks_the_same(alice: Any):
    known = Client().post("/accounts/password_reset/", {"email": alice.email})
    unknown = Client().post("/accounts/password_reset/", {"email": "nobody@example.com"})

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert Job.objects.filter(actor_name="send_password_reset_email").count() == 2


def test_logins_lock_after_five_failures_even_with_the_right_password(alice: Any):
    client = Client()
    wrong = [
        client.post("/accounts/login/", {"username": alice.email, "password": "nope"})
        for _ in range(5)
    ]
    right = client.post(
        "/accounts/login/", {"username": alice.email, "password": "alice-password-1"}
    )

    assert [r.status_code for r in wrong[:4]] == [200] * 4
    assert right.status_code == 429
    assert int(right["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in client.session
    # Another network is not locked out of the same account.
    other = Client(REMOTE_ADDR="10.3.3.3")
    assert (
        other.post(
            "/accounts/login/", {"username": alice.email, "password": "alice-password-1"}
        ).status_code
        == 302
    )


def test_report_requests_are_limited_per_user(alice: Any, settings):
    settings.REPORT_RATE_PER_USER = "2/h"
    client = Client()
    client.force_login(alice)
    body = {"id": "signups", "data": {"year": 2026, "month": 1}}
    responses = [
        client.post("/create_report", body, content_type="application/json") for _ in range(3)
    ]

    assert [r.status_code for r in responses] == [202, 202, 429]
    assert "Retry-After" in responses[2]
