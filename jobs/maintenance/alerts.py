"""Alert rules, checked by the `alerts` duty (in the workers' upkeep and every web process's
watch): each firing opens one incident until it recovers. Each change is notified once per
channel of the rule (e-mail, webhook), a failing channel tried again with a growing delay
without repeating the others. Incidents are shown on the dashboard while they last."""

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
from jobs.models import AlertDelivery, AlertIncident, AlertRule, Job, JobStatus, Schedule

logger = logging.getLogger(__name__)

#: A webhook that does not answer in this long has failed (tried again after `retry_delay`).
WEBHOOK_TIMEOUT_SECONDS = 5.0
#: A failing channel is tried again after 1, 2, 4, ... minutes, at most an hour apart.
RETRY_FIRST = dt.timedelta(minutes=1)
RETRY_LONGEST = dt.timedelta(hours=1)
#: A notice being sent is not due for another check for this long (a crashed sender's retry).
CLAIM_LEASE = dt.timedelta(minutes=1)
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


def check_alerts(now: dt.datetime | None = None) -> list[AlertDelivery]:
    """Open or resolve each enabled rule's incident (each change queues one notice per channel
    of the rule), then deliver the notices due. Returns the notices delivered now."""
    now = now or timezone.now()
    for rule in AlertRule.objects.filter(enabled=True):
        reading = read(rule, now)
        open_incident = rule.incidents.filter(resolved_at__isnull=True).first()
        if reading.firing and open_incident is None:
            try:
                with transaction.atomic():
                    incident = AlertIncident.objects.create(
                        rule=rule, opened_at=now, message=reading.message
                    )
                    queue_notices(incident, AlertDelivery.Change.OPENED, now)
            except IntegrityError:
                pass  # a concurrent check opened it: one incident per rule at a time
        elif not reading.firing and open_incident is not None:
            with transaction.atomic():
                if AlertIncident.objects.filter(
                    pk=open_incident.pk, resolved_at__isnull=True
                ).update(resolved_at=now):
                    queue_notices(open_incident, AlertDelivery.Change.RESOLVED, now)
    return deliver_due(now)


def channels(rule: AlertRule) -> list[str]:
    found: list[str] = []
    if recipients(rule):
        found.append(AlertDelivery.Channel.EMAIL)
    if rule.webhook_url:
        found.append(AlertDelivery.Channel.WEBHOOK)
    return found


def recipients(rule: AlertRule) -> list[str]:
    return [line.strip() for line in rule.emails.splitlines() if line.strip()]


def queue_notices(incident: AlertIncident, change: str, now: dt.datetime) -> None:
    AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(
                incident=incident,
                channel=channel,
                change=change,
                created_at=now,
                next_attempt_at=now,
            )
            for channel in channels(incident.rule)
        ],
        ignore_conflicts=True,
    )


def retry_delay(attempts: int) -> dt.timedelta:
    """How long a channel that failed `attempts` times in a row waits before its next try."""
    delay: dt.timedelta = RETRY_FIRST * 2 ** (attempts - 1)
    return min(delay, RETRY_LONGEST)


def deliver_due(now: dt.datetime) -> list[AlertDelivery]:
    """Deliver every notice due, in order per channel (a recovery never overtakes its alert)."""
    delivered: list[AlertDelivery] = []
    held_back: set[tuple[int, str]] = set()  # (incident, channel) whose earlier notice failed
    for notice in AlertDelivery.objects.select_related("incident__rule").filter(
        delivered_at__isnull=True
    ):
        lane = (notice.incident_id, notice.channel)
        if lane in held_back or notice.next_attempt_at > now:
            held_back.add(lane)
            continue
        # Claimed before sending: of two concurrent checks, one sends.
        if not AlertDelivery.objects.filter(
            pk=notice.pk, delivered_at__isnull=True, next_attempt_at=notice.next_attempt_at
        ).update(next_attempt_at=now + CLAIM_LEASE):
            held_back.add(lane)
            continue
        notice.attempts += 1
        try:
            send(notice)
        except Exception as exc:
            logger.warning(
                "Alert %s: the %s notice by %s failed (attempt %d); trying again later.",
                notice.incident.rule,
                notice.change,
                notice.channel,
                notice.attempts,
                exc_info=True,
            )
            notice.next_attempt_at = now + retry_delay(notice.attempts)
            notice.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notice.save(update_fields=["attempts", "next_attempt_at", "last_error"])
            held_back.add(lane)
            continue
        notice.delivered_at = timezone.now()
        notice.last_error = ""
        notice.save(update_fields=["attempts", "delivered_at", "last_error"])
        delivered.append(notice)
    return delivered


def send(notice: AlertDelivery) -> None:
    incident = notice.incident
    rule = incident.rule
    resolved = notice.change == AlertDelivery.Change.RESOLVED
    if notice.channel == AlertDelivery.Channel.EMAIL:
        subject = f"[Offload] {'RESOLVED' if resolved else 'ALERT'}: {rule.name}"
        text = f"Recovered. It was: {incident.message}" if resolved else incident.message
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, recipients(rule))
        return
    body = json.dumps(
        {
            "rule": rule.name,
            "kind": rule.kind,
            "state": "resolved" if resolved else "firing",
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
