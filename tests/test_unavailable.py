"""A database that cannot be reached answers 503 with Retry-After (config/unavailable.py), JSON
for JSON callers; nothing is accepted. The database is made unreachable for real: the
connection is pointed at a file that cannot be opened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unreachable_database() -> Iterator[None]:
    if connection.vendor != "sqlite":
        pytest.skip("points SQLite at a file that cannot be opened")
    name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = "/nonexistent/offload/db.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name


def test_a_json_signup_without_a_database_answers_503_with_retry_after(unreachable_database):
    response = Client().post("/signup", {"email": "a@example.com"}, content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (503, "application/json")
    assert response["Retry-After"] == "5"
    assert "nothing was saved" in response.json()["errors"]["service"][0]


def test_an_html_signup_without_a_database_answers_a_503_page(unreachable_database):
    response = Client(enforce_csrf_checks=False).post("/signup", {"email": "a@example.com"})
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"Service unavailable" in response.content


def test_the_database_back_signups_are_accepted_again(client: Client):
    response = client.post("/signup", {"email": "a@example.com"}, content_type="application/json")
    assert response.status_code == 202
    assert Job.objects.count() == 1
