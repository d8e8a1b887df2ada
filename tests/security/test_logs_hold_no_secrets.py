"""Item 2 and the log rule: a production start (make serve, make worker), driven from outside
through a signup, its set-password link, a password reset and its link, a metrics request with
a token in its query string and a failing job with secret arguments; then every log line of the
web and the worker is searched for each secret planted. Plus the rule itself, line by line."""

from __future__ import annotations

import http.client
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import tests.workbench.tasks as workbench
from jobs.logs.redaction import RedactingFilter, redact_text
from jobs.models import JobStatus
from jobs.outbox import enqueue
from tests.conftest import WorkerProcess, wait_for, wait_until_final
from tests.production.test_serve import Web, started_production

PASSWORD = "pw-Planted-77ab"
CARD = "4111-2222-3333-4444"
METRICS_IN_QUERY = "qs-token-Planted-91"
NEW_PASSWORD = "new-Passw0rd-planted-5c"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET /accounts/reset/MTI/cf1k2l-8a8e5f3c9d1b2e4f/ 302",
            "GET /accounts/reset/MTI/[redacted]/ 302",
        ),
        ("/accounts/reset/MTI/set-password/", "/accounts/reset/MTI/set-password/"),
        ("/metrics?token=abc123&x=1", "/metrics?token=[redacted]&x=1"),
        ("/x?api_key=k&access_token=t", "/x?api_key=[redacted]&access_token=[redacted]"),
        ("Authorization: Bearer abcdef123456", "Authorization: Bearer [redacted]"),
        ("redis://:hunter2@host:6379/0", "redis://:[redacted]@host:6379/0"),
        ("GET /reports/ 200", "GET /reports/ 200"),
    ],
)
def test_the_rule_removes_credentials_and_keeps_the_rest(line: str, expected: str):
    assert redact_text(line) == expected


def test_the_filter_scrubs_the_message_its_arguments_and_the_traceback():
    try:
        raise ValueError("bad link /accounts/reset/MQ/abc-123def/")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, "f", 1, "visited %s", ("/metrics?token=s3cr3t",), sys.exc_info()
        )
    RedactingFilter().filter(record)

    assert record.getMessage() == "visited /metrics?token=[redacted]"
    assert record.exc_text and "abc-123def" not in record.exc_text
    assert "[redacted]" in record.exc_text


class Browser:
    """Just enough of a browser for Django's forms over HTTP: cookies, CSRF, https via the
    proxy header."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {
            "X-Forwarded-Proto": "https",
            "Referer": f"https://127.0.0.1:{self.port}/",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        body = None
        if form is not None:
            form = {**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        result = response.status, response.getheader("Location") or "", response.read().decode()
        conn.close()
        return result

    def follow_link(self, url: str) -> str:
        """Open an email's link; returns the page it lands on (Django redirects the token URL)."""
        path = re.sub(r"^https?://[^/]+", "", url)
        status, location, _ = self.request("GET", path)
        assert status == 302, (status, path)
        return location


@pytest.fixture
def production_with_workbench(
    redis_url: str, transactional_db: None, tmp_path: Path, monkeypatch: Any
) -> Iterator[tuple[Web, WorkerProcess]]:
    monkeypatch.setenv("WORKBENCH_DIR", str(tmp_path))
    extra = {"EXTRA_INSTALLED_APPS": "tests.workbench", "WORKBENCH_DIR": str(tmp_path)}
    with started_production(redis_url, tmp_path, SITE_URL="https://127.0.0.1", **extra) as started:
        yield started


def link_in(messages: list[str], marker: str) -> str:
    for message in reversed(messages):
        if marker in message:
            found = re.search(r"https?://\S+/accounts/reset/\S+/", message)
            if found:
                return found.group(0)
    raise AssertionError(f"no link in a mail about {marker}")


@pytest.mark.integration
def test_a_whole_run_logs_no_secret_it_was_given(production_with_workbench):
    web, worker = production_with_workbench
    browser = Browser(web.port)
    planted: set[str] = {PASSWORD, CARD, METRICS_IN_QUERY, NEW_PASSWORD}

    # A signup, its set-password link, a new password.
    status, _, body = web.request("POST", "/signup", {"email": "logs@example.com"})
    assert status == 202, body
    wait_for(lambda: any("logs@example.com" in m for m in worker.emails()), 30, worker.logs)
    welcome = link_in(worker.emails(), "logs@example.com")
    planted.add(welcome.rstrip("/").rsplit("/", 1)[1])  # the token
    set_password = browser.follow_link(welcome)
    assert "set-password" in set_password
    browser.request("GET", set_password)
    status, _, page = browser.request(
        "POST", set_password, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert status == 302, page[:500]

    # A password reset and its link.
    # The mail files' names sort by second, then at random: the new mail is the one not seen.
    mails_before = set(worker.emails())
    browser.request("GET", "/accounts/password_reset/")
    browser.request("POST", "/accounts/password_reset/", {"email": "logs@example.com"})

    def new_mails() -> list[str]:
        return [mail for mail in worker.emails() if mail not in mails_before]

    reset = link_in(wait_for(new_mails, 30, worker.logs), "logs@example.com")
    planted.add(reset.rstrip("/").rsplit("/", 1)[1])
    browser.follow_link(reset)

    # A token in a query string, and a failing job with secret arguments.
    web.request("GET", f"/metrics?token={METRICS_IN_QUERY}")
    job = enqueue(workbench.charge_card, "acct-1", PASSWORD, card={"number": CARD})
    assert wait_until_final(job.pk, worker, timeout=60).status == JobStatus.FAILED

    def logged_everything() -> bool:
        logs = web.logs()
        return "/metrics" in logs and "/accounts/reset/" in logs

    wait_for(logged_everything, 10, web.logs)
    time.sleep(0.5)  # the last access lines flushed
    logs = {"web": web.logs(), "worker": worker.logs()}
    assert "charge_card" in logs["worker"] and "/accounts/reset/" in logs["web"]
    found = [(name, secret) for name, text in logs.items() for secret in planted if secret in text]
    assert found == [], found
