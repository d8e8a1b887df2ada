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


def test_the_duties_and_alert_rules_are_exposed_for_outside_rules(staff: Any, settings):
    """docs/DEPLOY.md's Prometheus rules read these: a check that stopped, a duty failing."""
    from django.utils import timezone

    from jobs.models import AlertIncident, AlertRule, Duty

    now = timezone.now()
    Duty.objects.create(name="alerts", next_due_at=now, last_finished_at=now)
    Duty.objects.create(name="relay", next_due_at=now, last_finished_at=now, last_error="boom")
    Duty.objects.create(name="retention", next_due_at=now)  # never ran: no sample
    quiet = AlertRule.objects.create(name="quiet", kind="workers_gone", threshold=0)
    loud = AlertRule.objects.create(name="loud", kind="workers_gone", threshold=1)
    AlertIncident.objects.create(rule=loud, message="m")
    AlertIncident.objects.create(rule=quiet, message="m", resolved_at=now)
    admin = Client()
    admin.force_login(staff)
    text = scrape(admin).content.decode()
    finished = re.search(
        r'^offload_duty_last_finished_timestamp_seconds{duty="alerts"} (\S+)$', text, re.M
    )
    assert finished and float(finished.group(1)) == pytest.approx(now.timestamp())
    assert 'offload_duty_failing{duty="relay"} 1.0' in text
    assert 'offload_duty_failing{duty="alerts"} 0.0' in text
    assert 'duty="retention"' not in text
    assert 'offload_alert_firing{rule="loud"} 1.0' in text
    assert 'offload_alert_firing{rule="quiet"} 0.0' in text
