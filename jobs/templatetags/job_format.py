"""Template filters for the job admin: durations, ages and rates in short human form."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from jobs.admin.jobs import viewer
from jobs.admin.jobs import visible_error as visible

register = template.Library()


@register.filter
def seconds(value: float | None) -> str:
    """0.0123 -> "12 ms", 4.2 -> "4.2 s", 312 -> "5.2 min"; None -> "—"."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


@register.filter
def epoch(value: float | None) -> dt.datetime | None:
    """Epoch seconds (as Redis stores heartbeats) as an aware datetime, for the date filter."""
    return None if value is None else dt.datetime.fromtimestamp(value, tz=dt.UTC)


@register.filter
def visible_error(event: Any, field: str) -> str:
    """An event's message or traceback as the current staff member may read it."""
    return visible(viewer.get(), event.job, getattr(event, field))
