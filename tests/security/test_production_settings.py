"""Item 10: a guessable SECRET_KEY or ALLOWED_HOSTS=* stops a production start with one line;
every answer carries the security headers (a 413 too); personal answers are never cached."""

from __future__ import annotations

import secrets
import subprocess
from typing import Any

import pytest
from django.test import Client

from config.settings import secret_key_problem
from jobs.models import Job
from tests.conftest import ROOT
from tests.production.test_serve import production_env

GUESSABLE_KEYS = [
    "abcde" * 10,
    "abcdefghijklmnopqrstuvwxyz" * 2,
    "password" * 7,
    "0123456789" * 6,
    "a" * 40 + "bcdefghijk",
]


@pytest.mark.parametrize("key", GUESSABLE_KEYS)
def test_long_keys_that_repeat_or_hold_little_are_refused(key: str):
    assert secret_key_problem(key) == (
        "SECRET_KEY is guessable (repeated text or too few distinct characters)"
    )


def test_generated_keys_of_every_usual_kind_are_accepted():
    for _ in range(200):
        for key in (secrets.token_urlsafe(50), secrets.token_hex(25), secrets.token_hex(64)):
            assert secret_key_problem(key) is None, key


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("SECRET_KEY", "abcde" * 10, "SECRET_KEY is guessable"),
        ("ALLOWED_HOSTS", "*", "ALLOWED_HOSTS=* accepts any host"),
        ("ALLOWED_HOSTS", "offload.example.com,*", "ALLOWED_HOSTS=* accepts any host"),
    ],
)
def test_a_production_start_refuses_with_one_line(tmp_path, setting: str, value: str, says: str):
    env = production_env("redis://127.0.0.1:1/0", tmp_path / "var", **{setting: value})
    started = subprocess.run(
        [".venv/bin/python", "manage.py", "check"], cwd=ROOT, env=env, capture_output=True
    )

    assert started.returncode != 0
    assert started.stderr.decode().strip().count("\n") == 0, started.stderr
    assert f"Refusing to start with DEBUG=0: {says}" in started.stderr.decode()


def test_the_413_answer_carries_the_security_headers():
    answer = Client().generic("POST", "/signup", b"x" * 2_000_000, CONTENT_TYPE="application/json")

    assert answer.status_code == 413
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["X-Frame-Options"] == "DENY"
    assert "default-src" in answer["Content-Security-Policy"]
    assert answer["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_personal_json_answers_are_private_and_not_stored(alice: Any):
    client = Client()
    client.force_login(alice)
    created = client.post(
        "/create_report", {"id": "signups", "data": {"year": 2026, "month": 1}},
        content_type="application/json",
    )  # fmt: skip
    job = Job.objects.get()

    for answer in (
        created,
        client.get(f"/jobs/{job.pk}"),
        client.get(created.json()["report_url"] + "/status"),
        client.get("/reports/"),
    ):
        assert answer["Cache-Control"] == "private, no-store", answer.request["PATH_INFO"]


@pytest.mark.django_db
def test_an_anonymous_page_keeps_its_own_caching():
    assert "no-store" not in Client().get("/signup").get("Cache-Control", "")
