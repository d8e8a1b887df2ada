"""Alert rules (jobs/maintenance/alerts.py): one incident per firing, each change notified once
per channel, a failing channel retried with a growing delay without repeating the others."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from jobs.maintenance.alerts import check_alerts, retry_delay
from jobs.models import AlertDelivery, AlertIncident, AlertRule, WorkerProcess
from tests.conftest import Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def workers_gone(webhook: Webhook) -> AlertRule:
    WorkerProcess.objects.all().delete()
    return AlertRule.objects.create(
        name="workers gone",
        kind=AlertRule.Kind.WORKERS_GONE,
        threshold=1,
        emails="ops@example.com\n",
        webhook_url=webhook.url,
    )


def a_worker_is_back() -> None:
    now = timezone.now()
    WorkerProcess.objects.create(broker_id="w1", host="h", pid=1, started_at=now, seen_at=now)


def test_an_alert_fires_once_and_sends_one_recovery_notice(webhook: Webhook):
    workers_gone(webhook)

    check_alerts()
    check_alerts()  # still firing: no second notice

    [incident] = AlertIncident.objects.all()
    assert incident.resolved_at is None and "0 worker process(es) alive" in incident.message
    assert [m.subject for m in mail.outbox] == ["[Offload] ALERT: workers gone"]
    assert [(w["rule"], w["state"]) for w in webhook.received] == [("workers gone", "firing")]

    a_worker_is_back()
    check_alerts()
    check_alerts()

    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert [m.subject for m in mail.outbox][1:] == ["[Offload] RESOLVED: workers gone"]
    assert [w["state"] for w in webhook.received] == ["firing", "resolved"]


def test_a_failing_webhook_is_retried_with_backoff_and_never_repeats_the_email(
    webhook: Webhook, staff
):
    rule = workers_gone(webhook)
    webhook.status = 500
    start = timezone.now()
    # A check a minute for 20 minutes while the webhook fails (the incident reported).
    for minute in range(20):
        check_alerts(start + dt.timedelta(minutes=minute))

    assert [m.subject for m in mail.outbox] == ["[Offload] ALERT: workers gone"]
    # Tried at minutes 0, 1, 3, 7 and 15: each wait twice the last.
    assert webhook.attempts == 5 and not webhook.received
    failing = AlertDelivery.objects.get(channel="webhook")
    assert failing.attempts == 5 and "500" in failing.last_error
    assert failing.next_attempt_at == start + dt.timedelta(minutes=15) + retry_delay(5)

    # Shown on the rule, in the list and on its page.
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/jobs/alertrule/").content.decode()
    assert "FAILING, 5 attempt(s)" in listing and "HTTP Error 500" in listing
    assert (
        "FAILING, 5 attempt(s)"
        in client.get(f"/admin/jobs/alertrule/{rule.pk}/change/").content.decode()
    )

    # The webhook comes back and the workers too: the alert, then its recovery, in order, once.
    webhook.status = 204
    a_worker_is_back()
    check_alerts(failing.next_attempt_at)
    check_alerts(failing.next_attempt_at + dt.timedelta(minutes=1))
    assert [w["state"] for w in webhook.received] == ["firing", "resolved"]
    assert [m.subject for m in mail.outbox] == [
        "[Offload] ALERT: workers gone",
        "[Offload] RESOLVED: workers gone",
    ]


def test_a_recovery_notice_waits_for_its_channels_alert():
    rule = AlertRule.objects.create(
        name="gone", kind=AlertRule.Kind.WORKERS_GONE, threshold=1, webhook_url="http://x/"
    )
    incident = AlertIncident.objects.create(rule=rule, message="m", resolved_at=timezone.now())
    later = timezone.now() + dt.timedelta(hours=1)
    AlertDelivery.objects.create(
        incident=incident, channel="webhook", change="opened", next_attempt_at=later
    )
    AlertDelivery.objects.create(incident=incident, channel="webhook", change="resolved")
    assert check_alerts() == []  # the alert is not due yet: its recovery waits behind it


def test_the_retry_delay_doubles_up_to_an_hour():
    assert [retry_delay(n).total_seconds() / 60 for n in range(1, 9)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
    ]


def test_the_rule_form_offers_the_queues_actors_and_schedules_the_ledger_knows(staff):
    from jobs.models import JobsPerHour, Schedule
    from tests.factories import job_in

    job_in(actor="sent_by_another_app", queue="reports-eu")  # never imported by this process
    JobsPerHour.objects.create(
        hour=timezone.now() - dt.timedelta(days=3), actor_name="pruned_actor", queue_name="old-q"
    )
    Schedule.objects.create(name="nightly", actor_name="nightly_report", cron="0 3 * * *")
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/jobs/alertrule/add/").content.decode()
    for name in ("reports-eu", "old-q", "default", "sent_by_another_app", "pruned_actor"):
        assert f'<option value="{name}">' in page, name
    assert '<option value="nightly">' in page and "any schedule" in page

    missing = client.post(
        "/admin/jobs/alertrule/add/",
        {"name": "wait", "kind": "queue_wait", "threshold": "5", "queue_name": ""},
    )
    assert missing.context["adminform"].form.errors["queue_name"] == [
        "This kind of rule needs one."
    ]
    made = client.post(
        "/admin/jobs/alertrule/add/",
        {
            "incidents-TOTAL_FORMS": "0",
            "incidents-INITIAL_FORMS": "0",
            "name": "wait",
            "kind": "queue_wait",
            "threshold": "5",
            "queue_name": "reports-eu",
            "enabled": "on",
        },
    )
    assert made.status_code == 302
    assert AlertRule.objects.get(name="wait").queue_name == "reports-eu"
