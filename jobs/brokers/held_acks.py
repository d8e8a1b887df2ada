"""Acks held for the ledger: the seam between a broker's consumer and the worker's tracker.

A broker whose consumers can ack a message later, once its job's ledger write is committed,
is a HoldsAcks; the tracker (jobs/worker/tracker.py) gives it one AckHold per message it wants
held, and the consumer acks that message through its hold (jobs/worker/acks.py runs them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol


class AckHold(Protocol):
    def then(self, ack: Callable[[], None]) -> None:
        """Run `ack` once the ledger write it waits for is settled."""


class HoldsAcks:
    """Mixin for brokers: holds by message (the proxy object a worker thread processed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holds: dict[int, AckHold] = {}
        self._holds_lock = threading.Lock()

    def hold_ack(self, message: object, hold: AckHold) -> None:
        with self._holds_lock:
            self._holds[id(message)] = hold  # the proxy lives until its consumer acks it

    def take_hold(self, message: object) -> AckHold | None:
        with self._holds_lock:
            return self._holds.pop(id(message), None)


class AckTogether:
    """An ack the broker can send together with others of the same `together_key` (one round
    trip for many messages); called alone, it acks its one message."""

    together_key: object = None

    def __call__(self) -> None:
        raise NotImplementedError

    def ack_all(self, acks: list[AckTogether]) -> None:
        raise NotImplementedError
