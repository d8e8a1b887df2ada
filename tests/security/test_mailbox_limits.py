"""Item 9: one budget of mail per mailbox, whatever the address's spelling and whichever mail."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import mailbox_of
from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    cache.clear()


def test_spellings_of_one_address_are_one_mailbox():
    assert {
        mailbox_of(a)
        for a in ("bob@x.example", "Bob@X.Example", "bob+tag@x.example", " bob@x.example")
    } == {"bob@x.example"}
    assert mailbox_of("bob@bücher.example") == mailbox_of("bob@xn--bcher-kva.example")
    assert mailbox_of("bob@x.example") != mailbox_of("bobby@x.example")


@pytest.mark.parametrize("address", ['"bob"@x.example', "bob@[10.0.0.1]", "bob@[::1]"])
def test_quoted_names_and_ip_literals_are_refused_with_a_message(address: str):
    answer = Client().post("/signup", {"email": address}, content_type="application/json")

    assert answer.status_code == 400
    assert "plain name and a domain name" in answer.json()["errors"]["email"][0]


def test_signups_and_resets_to_one_mailbox_share_three_mails_an_hour(alice: Any):
    spelled = [
        "alice@example.com",
        "Alice@Example.com",
        "alice+a@example.com",
        "ALICE+b@example.com",
    ]
    answers = [
        Client(REMOTE_ADDR=f"10.0.0.{n}").post(
            "/signup", {"email": address}, content_type="application/json"
        )
        for n, address in enumerate(spelled[:2])
    ]
    answers += [
        Client(REMOTE_ADDR=f"10.0.1.{n}").post("/accounts/password_reset/", {"email": address})
        for n, address in enumerate(spelled[2:])
    ]

    assert [a.status_code for a in answers] == [202, 202, 302, 429]
    assert Job.objects.count() == 3
