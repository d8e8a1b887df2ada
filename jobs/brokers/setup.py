"""Build the project's broker from the JOBS_BROKER setting (jobs.apps calls it once the models
are loaded)."""

from __future__ import annotations

from typing import Any

import dramatiq
from django.utils.module_loading import import_string


def build_broker(spec: dict[str, Any]) -> dramatiq.Broker:
    middleware = [import_string(path)() for path in spec.get("MIDDLEWARE", [])]
    broker_class = import_string(spec["BROKER"])
    broker: dramatiq.Broker = broker_class(middleware=middleware, **spec.get("OPTIONS", {}))
    return broker
