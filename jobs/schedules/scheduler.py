"""The scheduler: every worker's upkeep thread calls run_due_schedules() every few seconds.

Exactly one job per scheduled instant across the fleet: the job is enqueued with a uniqueness
key naming the schedule and the instant (jobs/ledger/unique.py), so schedulers that race for an
instant get the same job, and one that dies mid-way leaves either nothing (its transaction rolled
back: the next tick enqueues it) or a committed job the outbox relay sends.

Missed instants (no worker running, all paused): on return, ONE run for the latest instant
missed, not one per instant, and a new schedule starts at its next instant.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dramatiq
from django.db import transaction
from django.utils import timezone
from dramatiq.errors import ActorNotFound

from jobs.brokers.setup import import_actor_modules
from jobs.ledger.redaction import arguments_digest
from jobs.ledger.unique import Unique
from jobs.models import Job, Schedule
from jobs.outbox import enqueue_call
from jobs.schedules import DECLARED, Declared
from jobs.schedules.timing import latest_instant, next_instant

logger = logging.getLogger(__name__)

#: How a run's instant is written in its uniqueness key ("schedule:<name>:2026-12-02T09:13:04Z").
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: How long an instant's key is held: far longer than any two schedulers could disagree.
INSTANT_KEY_PERIOD = dt.timedelta(days=7)
#: The fields of a schedule that a declaration sets and staff may override (its arguments too,
#: compared by digest: the declaration keeps no secret).
DECLARED_FIELDS = ("actor_name", "cron", "interval", "time_zone")


def declared_values(declared: dict[str, Any]) -> dict[str, Any]:
    """The timing fields of a stored declaration, and its arguments as shown (redacted)."""
    seconds = declared.get("interval_seconds")
    return {
        "actor_name": declared["actor_name"],
        "cron": declared.get("cron", ""),
        "interval": dt.timedelta(seconds=seconds) if seconds else None,
        "time_zone": declared.get("timezone", "UTC"),
        "args": declared.get("args", []),
        "kwargs": declared.get("kwargs", {}),
    }


def differs_from_declaration(schedule: Schedule) -> bool:
    if not schedule.declared:
        return True
    wanted = declared_values(schedule.declared)
    if any(getattr(schedule, name) != wanted[name] for name in DECLARED_FIELDS):
        return True
    digest = arguments_digest(*schedule.real_arguments())
    return bool(digest != schedule.declared.get("arguments_digest"))


def declaration_of(name: str) -> Declared | None:
    """The code's declaration of a schedule, importing every app's tasks module if this process
    (a web process) has not yet."""
    if name not in DECLARED:
        import_actor_modules()
    return DECLARED.get(name)


def apply_declaration(schedule: Schedule, declared: Declared) -> None:
    """Set the schedule's fields to what the code declares (its real arguments sealed)."""
    for name, value in declared_values(declared.as_json()).items():
        if name in DECLARED_FIELDS:
            setattr(schedule, name, value)
    schedule.sealed_arguments = ""
    schedule.set_arguments(list(declared.args), dict(declared.kwargs))


def reset_timing(schedule: Schedule, now: dt.datetime | None = None) -> None:
    """Start counting instants from now (a new or changed expression): the next run is the next
    instant, not one for the instants of the old timing."""
    now = now or timezone.now()
    schedule.last_instant = latest_instant(
        schedule.cron, schedule.interval, schedule.time_zone, now
    )
    schedule.next_run_at = next_instant(schedule.cron, schedule.interval, schedule.time_zone, now)


def sync_declarations(now: dt.datetime | None = None) -> None:
    """Store every schedule this process's code declares; staff's changes stay (`overridden`)."""
    now = now or timezone.now()
    for declared in DECLARED.values():
        stored = declared.as_json()
        with transaction.atomic():
            schedule = Schedule.objects.select_for_update().filter(name=declared.name).first()
            if schedule is None:
                schedule = Schedule(name=declared.name)
                apply_declaration(schedule, declared)
                schedule.declared = stored
                reset_timing(schedule, now)
                schedule.save()
                continue
            if schedule.declared == stored and schedule.declared_in_code:
                continue
            schedule.declared, schedule.declared_in_code = stored, True
            if not schedule.overridden:
                timing = (schedule.cron, schedule.interval, schedule.time_zone)
                apply_declaration(schedule, declared)
                if timing != (schedule.cron, schedule.interval, schedule.time_zone):
                    reset_timing(schedule, now)
            schedule.save()
    if DECLARED:
        Schedule.objects.exclude(name__in=DECLARED).filter(declared_in_code=True).update(
            declared_in_code=False
        )


def run_due_schedules(now: dt.datetime | None = None) -> list[Job]:
    """Enqueue the due instant of every schedule that has one; returns the jobs (new ones, or
    the one another scheduler enqueued for the same instant)."""
    now = now or timezone.now()
    due = Schedule.objects.filter(paused=False, declared_in_code=True, next_run_at__lte=now)
    jobs = []
    for schedule in due:
        job = run_instant(schedule, now)
        if job is not None:
            jobs.append(job)
    return jobs


def run_instant(schedule: Schedule, now: dt.datetime) -> Job | None:
    instant = latest_instant(schedule.cron, schedule.interval, schedule.time_zone, now)
    following = next_instant(schedule.cron, schedule.interval, schedule.time_zone, now)
    if schedule.last_instant is not None and instant <= schedule.last_instant:
        Schedule.objects.filter(pk=schedule.pk).update(next_run_at=following)
        return None
    try:
        actor = dramatiq.get_broker().get_actor(schedule.actor_name)
    except ActorNotFound:
        logger.error("Schedule %s names unknown actor %r.", schedule.name, schedule.actor_name)
        return None
    key = f"schedule:{schedule.name}:{instant:{INSTANT_FORMAT}}"
    with transaction.atomic():
        job = enqueue_call(
            actor,
            *schedule.real_arguments(),
            about=schedule,
            unique=Unique(key=key, scope="period", period=INSTANT_KEY_PERIOD),
        )
        Schedule.objects.filter(pk=schedule.pk).update(
            last_instant=instant, last_job=job, next_run_at=following
        )
    return job


def instant_of(job: Job) -> dt.datetime | None:
    """The instant a schedule's job ran for (its uniqueness key names it); None for a run now."""
    parts = job.unique_key.split(":", 2)  # a schedule's name is a slug: no colon in it
    if len(parts) != 3 or parts[0] != "schedule":
        return None
    try:
        return dt.datetime.strptime(parts[2], INSTANT_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def run_now(schedule: Schedule, *, operator: Any) -> Job:
    """A run outside the timing, by staff: an ordinary job about the schedule."""
    actor = dramatiq.get_broker().get_actor(schedule.actor_name)
    args, kwargs = schedule.real_arguments()
    return enqueue_call(actor, args, kwargs, about=schedule, caused_by=operator)
