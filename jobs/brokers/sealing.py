"""Secret arguments cross the broker sealed: unreadable in Redis, RabbitMQ, their dead letters and
every log line that prints a message, opened by the worker just before the actor runs.

The message's secret arguments (jobs/ledger/redaction.py decides which) are replaced by REDACTED
as the message is encoded, and their values travel encrypted in the message option
SEALED_OPTION, with the ledger's own Fernet keys. Dramatiq's worker, its middleware and its
logs only ever see the sealed message; `OpenSealedArguments` wraps each actor's function so the
real values exist only inside the call.
"""

from __future__ import annotations

import functools
from typing import Any

from dramatiq import Actor, Broker, Middleware
from dramatiq.encoder import JSONEncoder
from dramatiq.middleware import CurrentMessage

from jobs.ledger.redaction import (
    hide_in_exception,
    open_arguments,
    open_secrets,
    seal_arguments,
    with_secrets,
)

#: The message option holding the sealed secret arguments (the ledger's `sealed_arguments`).
SEALED_OPTION = "sealed_arguments"


#: The fields of an encoded message; the encoder also encodes results (any JSON value).
MESSAGE_FIELDS = frozenset({"actor_name", "args", "kwargs", "options", "message_id"})


class SealingEncoder(JSONEncoder):
    """Dramatiq's JSON encoder, sealing a message's secret arguments on the way out."""

    def encode(self, data: Any) -> bytes:
        if (
            isinstance(data, dict)
            and data.keys() >= MESSAGE_FIELDS
            and SEALED_OPTION not in data["options"]
        ):
            stored = seal_arguments(data["actor_name"], list(data["args"]), dict(data["kwargs"]))
            if stored.sealed:
                # New dicts: `data` shares its options with the message object being sent.
                data = {
                    **data,
                    "args": stored.args,
                    "kwargs": stored.kwargs,
                    "options": {**data["options"], SEALED_OPTION: stored.sealed},
                }
        return super().encode(data)


def message_arguments(message: Any) -> tuple[list[Any], dict[str, Any]]:
    """A message's real arguments, opened if it came sealed from the broker."""
    return open_arguments(
        list(message.args), dict(message.kwargs), message.options.get(SEALED_OPTION, "")
    )


class OpenSealedArguments(Middleware):
    """Each actor's function receives its real arguments: opened from the current message
    (CurrentMessage, earlier in the worker's before hooks) at call time, not before, so nothing
    Dramatiq logs about the message holds them. An error leaving the actor has the secret values
    taken out of its text, so its log line and the ledger's error never show them."""

    def after_declare_actor(self, broker: Broker, actor: Actor[..., Any]) -> None:
        if getattr(actor.fn, "opens_sealed_arguments", False):
            return
        call = actor.fn

        @functools.wraps(call)
        def with_real_arguments(*args: Any, **kwargs: Any) -> Any:
            message = CurrentMessage.get_current_message()
            sealed = message.options.get(SEALED_OPTION) if message is not None else None
            # Only for the message's own call: an actor called directly inside another gets
            # what it was given.
            if (
                message is None
                or not sealed
                or message.actor_name != actor.actor_name
                or (list(args), kwargs) != (list(message.args), dict(message.kwargs))
            ):
                return call(*args, **kwargs)
            secrets = open_secrets(sealed)
            real_args, real_kwargs = with_secrets(list(args), kwargs, secrets)
            try:
                return call(*real_args, **real_kwargs)
            except BaseException as error:
                hide_in_exception(error, secrets)
                raise

        with_real_arguments.opens_sealed_arguments = True  # type: ignore[attr-defined]
        actor.fn = with_real_arguments
