"""Items 6 and 7: JSON bodies nested past any sane depth or with numbers past any limit get a
400 with a message; only `application/json` is read as JSON, so no other site's form can post to
a JSON endpoint without CSRF."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits_off(settings: Any) -> None:
    settings.RATELIMIT_ENABLE = False


def post_json(client: Client, path: str, body: str) -> Any:
    return client.generic("POST", path, body.encode(), CONTENT_TYPE="application/json")


@pytest.mark.parametrize("depth", [33, 964, 5_000, 100_000])
@pytest.mark.parametrize("shape", [("[", "]"), ('{"a":', "}")])
def test_deeply_nested_bodies_get_400_with_the_limit(alice: Any, depth: int, shape):
    opener, closer = shape
    client = Client()
    client.force_login(alice)
    nested = opener * depth + "1" + closer * depth

    signup = post_json(client, "/signup", '{"email": ' + nested + "}")
    report = post_json(client, "/create_report", '{"id": "signups", "data": ' + nested + "}")

    for answer in (signup, report):
        assert answer.status_code == 400
        assert "nested deeper than 32 levels" in answer.json()["errors"]["body"][0]
    assert Job.objects.count() == 0


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "9" * 5000])
def test_numbers_past_every_limit_get_400(alice: Any, number: str):
    client = Client()
    client.force_login(alice)
    body = '{"id": "signups", "data": {"year": ' + number + ', "month": 1}}'

    answer = post_json(client, "/create_report", body)

    assert answer.status_code == 400
    assert "not valid JSON" in answer.json()["errors"]["body"][0]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_another_site_can_send_goes_through_csrf(content_type: str):
    """A plain HTML form on any site can send these three types, with no preflight."""
    client = Client(enforce_csrf_checks=True)

    answer = client.generic(
        "POST",
        "/signup",
        b'{"email": "victim@example.com"}',
        CONTENT_TYPE=content_type,
        HTTP_ACCEPT="application/json",
        HTTP_ORIGIN="https://evil.example",
    )

    assert answer.status_code == 403
    assert "CSRF verification failed" in answer.json()["errors"]["csrf"][0]
    assert Job.objects.count() == 0


def test_application_json_is_still_accepted_without_a_cookie():
    answer = Client(enforce_csrf_checks=True).post(
        "/signup", {"email": "ann@example.com"}, content_type="application/json"
    )

    assert answer.status_code == 202


def test_the_report_api_reads_only_application_json(alice: Any):
    client = Client()
    client.force_login(alice)

    answer = client.generic(
        "POST", "/create_report", b'{"id": "signups", "data": {}}', CONTENT_TYPE="text/plain"
    )

    assert answer.status_code == 415
    assert "application/json" in answer.json()["errors"]["body"][0]
