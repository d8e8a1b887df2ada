"""Actors declared the first time something asks for them by name.

Dramatiq's worker looks an actor up as soon as a message arrives, before any middleware hook:
an actor its process did not declare at start (a Django task defined outside any tasks.py) is
dead-lettered unrun. The project's brokers ask their middleware first: one that subclasses
`DeclaresActorsOnDemand` may declare it (jobs/tasks_framework/backend.py `ImportTasks` imports
the task).
"""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.errors import ActorNotFound


class DeclaresActorsOnDemand(Middleware):
    """A middleware that can declare, by name, an actor its broker does not know yet."""

    def declare_actor_named(self, broker: Broker, actor_name: str) -> bool:
        """Declare the actor on `broker`; False if this middleware does not know the name."""
        return False


class FindsActorsOnDemand:
    """Broker mixin: `get_actor` asks the middleware before it says ActorNotFound."""

    def get_actor(self, actor_name: str) -> Any:
        try:
            return super().get_actor(actor_name)  # type: ignore[misc]
        except ActorNotFound:
            middleware: list[Middleware] = self.middleware  # type: ignore[attr-defined]
            for each in middleware:
                if isinstance(each, DeclaresActorsOnDemand) and each.declare_actor_named(
                    self,  # type: ignore[arg-type]
                    actor_name,
                ):
                    return super().get_actor(actor_name)  # type: ignore[misc]
            raise
