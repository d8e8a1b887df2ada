"""Item 1: the login lockout counts an account however its address is spelled."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    cache.clear()


def spellings(email: str) -> list[str]:
    local, domain = email.split("@")
    return [email, email.upper(), local.capitalize() + "@" + domain.upper(), " " + email.title()]


def test_failures_in_any_letter_case_lock_the_account_at_the_limit(alice: Any):
    client = Client()
    names = spellings(alice.email)
    answers = [
        client.post("/accounts/login/", {"username": names[n % len(names)], "password": "x"})
        for n in range(5)
    ]
    right = client.post(
        "/accounts/login/", {"username": alice.email.upper(), "password": "alice-password-1"}
    )

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_mixed_case_right_password_still_logs_in_before_the_limit(alice: Any):
    client = Client()
    answer = client.post(
        "/accounts/login/", {"username": alice.email.upper(), "password": "alice-password-1"}
    )

    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
