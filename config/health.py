"""Health checks for load balancers and supervisors: cheap, unauthenticated, no detail about
versions or hosts. /healthz: this process answers. /readyz: it can do its work."""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from jobs.brokers.state import ping as ping_broker

logger = logging.getLogger(__name__)

# Once every migration is applied it stays so for this process's code: checked until then only.
_migrations_applied = False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    failing = [name for name, check in CHECKS if not _passes(name, check)]
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})


def _passes(name: str, check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except Exception:
        logger.warning("Readiness check %r failed.", name, exc_info=True)
        return False


def _database() -> bool:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return True


def _migrations() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        targets = executor.loader.graph.leaf_nodes()
        _migrations_applied = not executor.migration_plan(targets)
    return _migrations_applied


def _broker() -> bool:
    ping_broker()
    return True


CHECKS = (("database", _database), ("migrations", _migrations), ("broker", _broker))
