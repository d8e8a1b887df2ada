"""GET /metrics: who may scrape it, and counters that pruning does not lower."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from jobs.ledger import rollups
from jobs.maintenance.retention import prune
from tests.jobs.test_rollups import finished

pytestmark = pytest.mark.django_db


def scrape(client: Client, **headers: Any) -> Any:
    return client.get("/metrics", **headers)


def sample(text: str, name: str) -> float:
    match = re.search(rf'^{name}{{actor="flaky",queue="workbench"}} (\S+)$', text, re.M)
    assert match, text
    return float(match.group(1))


def test_metrics_need_the_token_or_a_staff_session(settings, alice: Any, staff: Any):
    settings.METRICS_TOKEN = "t0ken-for-prometheus"
    assert scrape(Client()).status_code == 401
    assert scrape(Client(), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    user = Client()
    user.force_login(alice)
    assert scrape(user).status_code == 401
    assert scrape(Client(), HTTP_AUTHORIZATION="Bearer t0ken-for-prometheus").status_code == 200
    admin = Client()
    admin.force_login(staff)
    assert scrape(admin).status_code == 200


def test_without_a_token_setting_only_staff_may_scrape(settings, staff: Any):
    settings.METRICS_TOKEN = ""
    assert scrape(Client(), HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_counters_and_histograms_survive_pruning(redis_url: str, staff: Any):
    finished(40 * 24, attempts=2)
    finished(2, attempts=1)
    while rollups.roll_up():
        pass
    client = Client()
    client.force_login(staff)
    before = scrape(client).content.decode()

    prune(dt.timedelta(days=30))

    after = scrape(client).content.decode()
    for name in (
        "offload_jobs_enqueued_total",
        "offload_jobs_succeeded_total",
        "offload_jobs_retried_total",
        "offload_job_run_seconds_count",
    ):
        assert sample(before, name) == sample(after, name)
    assert sample(after, "offload_jobs_succeeded_total") == 2
    assert sample(after, "offload_jobs_retried_total") == 1
    assert 'offload_job_run_seconds_bucket{actor="flaky",le="0.5",queue="workbench"} 2.0' in after
    assert "offload_broker_up 1.0" in after
