"""Which broker (worker process) wrote a claim or registered a worker."""

from __future__ import annotations

import uuid
import weakref
from typing import Protocol, runtime_checkable

from dramatiq import Broker


@runtime_checkable
class NamedBroker(Protocol):
    """Dramatiq's Redis broker names itself (the key of its heartbeats and unacked sets); our
    RabbitMQ broker does the same."""

    broker_id: str


_assigned: weakref.WeakKeyDictionary[Broker, str] = weakref.WeakKeyDictionary()


def broker_id(broker: Broker) -> str:
    """The broker's own id, or one given on first use (Dramatiq's StubBroker has none)."""
    if isinstance(broker, NamedBroker):
        return broker.broker_id
    return _assigned.setdefault(broker, uuid.uuid4().hex)
