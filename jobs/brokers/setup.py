"""Build the project's broker from the JOBS_BROKER setting (jobs.apps calls it once the models
are loaded)."""

from __future__ import annotations

import io
from typing import Any

import dramatiq
from django.conf import settings
from django.utils.module_loading import import_string

from jobs.brokers.sealing import SealingEncoder


def project_middleware() -> list[dramatiq.Middleware]:
    """Fresh instances of JOBS_BROKER's middleware, the ledger's tracker first."""
    return [import_string(path)() for path in settings.JOBS_BROKER.get("MIDDLEWARE", [])]


def build_broker() -> dramatiq.Broker:
    spec: dict[str, Any] = settings.JOBS_BROKER
    broker_class = import_string(spec["BROKER"])
    broker: dramatiq.Broker = broker_class(
        middleware=project_middleware(), **spec.get("OPTIONS", {})
    )
    return broker


def install_broker() -> None:
    """Make the project's broker, and its encoder that seals secret arguments, Dramatiq's own."""
    dramatiq.set_encoder(SealingEncoder())
    dramatiq.set_broker(build_broker())


def import_actor_modules() -> None:
    """Import every module the workers import for their actors (each app's `tasks`), skipping
    DRAMATIQ_IGNORED_MODULES as `rundramatiq` does: a web process needs an actor it has not
    imported yet (a schedule's run now). Django's autodiscover_modules("tasks") also imported
    django-dramatiq's own, registering its unused `delete_old_tasks` actor."""
    from django_dramatiq.management.commands.rundramatiq import Command

    Command(stdout=io.StringIO()).discover_tasks_modules()
