"""Which broker (worker process) wrote a claim or registered a worker."""

from __future__ import annotations

import uuid
import weakref

from dramatiq import Broker

_assigned: weakref.WeakKeyDictionary[Broker, str] = weakref.WeakKeyDictionary()


def broker_id(broker: Broker) -> str:
    """The broker's own id, or one given on first use (Dramatiq's StubBroker has none).

    Dramatiq's Redis broker names itself (the key of its heartbeats and unacked sets) in an
    instance attribute, as our RabbitMQ broker does. Read from the instance's dict: this runs
    for every claim, and an isinstance check on a runtime Protocol is many times slower.
    """
    own: str | None = vars(broker).get("broker_id")
    return own if own is not None else _assigned.setdefault(broker, uuid.uuid4().hex)
