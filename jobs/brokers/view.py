"""What the ledger asks of a broker, one typed interface: queue states, the message ids it holds,
the workers it sees alive, a dead letter to forget. Each adapter answers from its own storage
format (jobs/brokers/redis_view.py, jobs/brokers/rabbitmq.py); nothing outside jobs/brokers/
knows a Redis key or a broker class: callers take `view()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import dramatiq

#: Where a broker holds a message: waiting or being processed, delayed, dead-lettered.
Place = Literal["live", "delayed", "dead"]


@dataclass(frozen=True)
class QueueState:
    name: str
    waiting: int
    """In the broker's queue, not yet fetched by any worker."""
    in_workers: int
    """Fetched by a worker: prefetched or running (0 where the broker cannot tell)."""
    delayed: int
    """Delayed messages and scheduled retries (their eta not reached)."""
    dead: int
    """Dead-lettered (kept by the broker for a week)."""
    oldest_age: float | None
    """Seconds the message at the head of the queue has waited (Redis: since it was enqueued;
    RabbitMQ: the oldest due job sent to the queue, from the ledger)."""


@runtime_checkable
class BrokerView(Protocol):
    #: How long a worker may stay silent before the broker takes it for dead (0: the broker
    #: does not track workers itself).
    worker_timeout_seconds: float

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    def queue_states(self) -> list[QueueState]: ...

    def live_worker_ids(self) -> set[str] | None:
        """The ids of the worker processes the broker sees alive; None if it keeps no such
        list (it then redelivers a dead consumer's messages by itself)."""

    def message_places(self, *, dead_only: bool) -> dict[str, Place] | None:
        """Every message id the broker holds, with where (only dead letters if `dead_only`);
        None if it cannot list them without consuming them."""

    def forget_dead_letter(self, queue_name: str, job_id: str, delivery_id: str) -> None:
        """Remove a job's dead-lettered copy (before staff retry it), if the broker can."""


class _Unobserved:
    """A broker without a view (Dramatiq's StubBroker, in tests): nothing to report."""

    worker_timeout_seconds = 0.0

    def ping(self) -> None:
        return None

    def queue_states(self) -> list[QueueState]:
        return []

    def live_worker_ids(self) -> set[str] | None:
        return None

    def message_places(self, *, dead_only: bool) -> dict[str, Place] | None:
        return None

    def forget_dead_letter(self, queue_name: str, job_id: str, delivery_id: str) -> None:
        return None


def view() -> BrokerView:
    """The current broker, as the ledger sees it."""
    broker = dramatiq.get_broker()
    return broker if isinstance(broker, BrokerView) else _Unobserved()
