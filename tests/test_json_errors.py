"""JSON callers get JSON, whatever refuses them: a bad path, an oversized body, a bad id."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_bad_job_id_gets_a_json_404():
    for path in ("/jobs/not-a-uuid", "/jobs/00000000-0000-0000-0000-000000000000"):
        response = Client().get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json()["errors"]


def test_a_body_over_the_upload_limit_gets_a_json_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client().post("/signup", {"email": "x" * 2000}, content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (413, "application/json")
    assert "over the limit of 1000 bytes" in response.json()["errors"]["body"][0]


def test_a_html_caller_of_an_unknown_page_gets_html():
    response = Client().get("/nowhere", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_readiness_checks_database_migrations_and_the_real_broker(redis_url: str):
    response = Client().get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_names_the_failing_part(redis_url: str, tmp_path):
    from tests.conftest import point_broker_at

    point_broker_at(f"unix://{tmp_path}/no-redis-here.sock")  # a Redis that is not there
    try:
        response = Client().get("/readyz")
    finally:
        point_broker_at(redis_url)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["broker"]}


@pytest.mark.parametrize(
    "body", [rb'{"email": "a@\ud800.example"}', rb'{"\udc00": "x", "email": "a@example.com"}']
)
def test_an_unpaired_surrogate_in_a_json_body_is_a_400_not_a_500(body: bytes):
    # Found by the fuzz test: valid JSON, but no encoder or database can store the string.
    response = Client().generic("POST", "/signup", body, CONTENT_TYPE="application/json")
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")
    assert "unpaired surrogate" in response.json()["errors"]["body"][0]
