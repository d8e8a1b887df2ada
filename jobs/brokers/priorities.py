"""Job priorities on the brokers that can order by one.

Django's Tasks framework gives a task a priority from -100 to 100 (0 by default). RabbitMQ
orders each queue by priority when the queue is declared with `x-max-priority` (the broker's
`max_priority`, RABBITMQ_MAX_PRIORITY): it keeps one sub-queue per level and advises few, so
the framework's 201 priorities are spread over its levels, 0 on the middle one, and a message
sent without a priority (a plain actor's) ranks there too. Redis lists have no order but their
own: the Tasks backend refuses any priority but 0 there, with the framework's error.
"""

from __future__ import annotations

from typing import Any

#: Dramatiq's message option for RabbitMQ's per-message priority.
BROKER_PRIORITY_OPTION = "broker_priority"
LOWEST, HIGHEST = -100, 100


def orders_by_priority(broker: Any) -> bool:
    return bool(getattr(broker, "max_priority", None))


def broker_level(priority: int, max_priority: int) -> int:
    """The broker's level (0..max_priority) for a framework priority; 0 on the middle level."""
    return round((priority - LOWEST) * max_priority / (HIGHEST - LOWEST))


def priority_options(broker: Any, priority: int) -> dict[str, Any]:
    """The message options that rank a job of this priority on this broker ({} if it cannot)."""
    if not orders_by_priority(broker):
        return {}
    return {BROKER_PRIORITY_OPTION: broker_level(priority, broker.max_priority)}
