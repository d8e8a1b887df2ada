"""Alert rules, checked by the `alerts` schedule: each firing opens one incident (notified once,
by email and webhook) until it recovers (notified once more). Incidents are shown on the
dashboard while they last."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from jobs.brokers.state import oldest_waiting_in_ledger, worker_states
from jobs.models import AlertIncident, AlertRule, Job, JobStatus, Schedule

logger = logging.getLogger(__name__)

#: A webhook that does not answer in this long is tried again at the next check.
WEBHOOK_TIMEOUT_SECONDS = 5.0
#: Fewer finished jobs than this in the hour say nothing about a failure rate.
FAILURE_RATE_MINIMUM = 5


@dataclass(frozen=True)
class Reading:
    firing: bool
    message: str


def read(rule: AlertRule, now: dt.datetime) -> Reading:
    """Whether `rule`'s condition holds now, and what to say about it."""
    kind, n = rule.kind, rule.threshold
    if kind == AlertRule.Kind.QUEUE_WAIT:
        age = oldest_waiting_in_ledger(rule.queue_name)
        minutes = (age or 0) / 60
        return Reading(
            minutes > n,
            f"Queue {rule.queue_name!r}: the oldest waiting job has waited {minutes:.1f} min "
            f"(limit {n:g} min).",
        )
    if kind == AlertRule.Kind.FAILURE_RATE:
        counts = Job.objects.filter(
            actor_name=rule.actor_name,
            finished_at__gte=now - dt.timedelta(hours=1),
            status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED),
        ).aggregate(total=Count("pk"), failed=Count("pk", filter=Q(status=JobStatus.FAILED)))
        total, failed = counts["total"], counts["failed"]
        rate = 100 * failed / total if total else 0.0
        return Reading(
            total >= FAILURE_RATE_MINIMUM and rate > n,
            f"Actor {rule.actor_name!r}: {failed} of {total} jobs failed in the last hour "
            f"({rate:.0f} %, limit {n:g} %).",
        )
    if kind == AlertRule.Kind.SCHEDULE_MISSED:
        late = Schedule.objects.filter(
            paused=False,
            declared_in_code=True,
            next_run_at__lt=now - dt.timedelta(minutes=n),
        )
        if rule.schedule_name:
            late = late.filter(name=rule.schedule_name)
        names = sorted(late.values_list("name", flat=True))
        return Reading(
            bool(names),
            f"Schedule(s) {', '.join(names)} missed their run by over {n:g} min."
            if names
            else "Every schedule ran on time.",
        )
    alive = sum(1 for worker in worker_states() if worker.alive)
    return Reading(alive < n, f"{alive} worker process(es) alive (expected at least {n:g}).")


def check_alerts(now: dt.datetime | None = None) -> list[AlertIncident]:
    """Open or resolve each enabled rule's incident, then send what was not sent yet (a failed
    notification is tried again at the next check). Returns the incidents notified now."""
    now = now or timezone.now()
    for rule in AlertRule.objects.filter(enabled=True):
        reading = read(rule, now)
        open_incident = rule.incidents.filter(resolved_at__isnull=True).first()
        if reading.firing and open_incident is None:
            try:
                with transaction.atomic():
                    AlertIncident.objects.create(rule=rule, opened_at=now, message=reading.message)
            except IntegrityError:
                pass  # a concurrent check opened it: one incident per rule at a time
        elif not reading.firing and open_incident is not None:
            AlertIncident.objects.filter(pk=open_incident.pk, resolved_at__isnull=True).update(
                resolved_at=now
            )
    return notify_pending()


def notify_pending() -> list[AlertIncident]:
    notified = []
    for incident in AlertIncident.objects.select_related("rule").filter(
        Q(notified_open=False) | Q(resolved_at__isnull=False, notified_resolved=False)
    ):
        state = "resolved" if incident.resolved_at else "firing"
        field = "notified_resolved" if incident.resolved_at else "notified_open"
        # Claimed before sending: of two concurrent checks, one sends.
        if not AlertIncident.objects.filter(pk=incident.pk, **{field: False}).update(
            **{field: True}
        ):
            continue
        try:
            send(incident, state)
        except Exception:
            logger.warning("Alert %s not delivered; trying again.", incident.rule, exc_info=True)
            AlertIncident.objects.filter(pk=incident.pk).update(**{field: False})
            continue
        notified.append(incident)
    return notified


def send(incident: AlertIncident, state: str) -> None:
    rule = incident.rule
    subject = f"[Offload] {'RESOLVED' if state == 'resolved' else 'ALERT'}: {rule.name}"
    text = incident.message if state == "firing" else f"Recovered. It was: {incident.message}"
    recipients = [line.strip() for line in rule.emails.splitlines() if line.strip()]
    if recipients:
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
    if rule.webhook_url:
        body = json.dumps(
            {
                "rule": rule.name,
                "kind": rule.kind,
                "state": state,
                "message": incident.message,
                "opened_at": incident.opened_at.isoformat(),
                "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310  # the URL is staff's, http(s) only
            rule.webhook_url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS):  # noqa: S310
            pass
