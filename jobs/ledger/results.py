"""An actor's return value as its job's result: JSON up to JOBS_RESULT_MAX_BYTES, stored on the
ledger as returned (`result()` and the Tasks API give the caller what the actor returned).
Anything else fails the job loudly, with the reason recorded, instead of being dropped.

Keys declared secret are hidden where people see results (`shown_result`: the admin, the JSON
status view): an actor's `secret_result_keys` option, or JOBS_SECRET_RESULT_KEYS for every
actor and task. Declared, not guessed: `token_count` is a count."""

from __future__ import annotations

import json
from typing import Any

import dramatiq
from django.conf import settings
from dramatiq.errors import ActorNotFound

from jobs.ledger.redaction import REDACTED

#: The actor option naming keys of its results that only the code may read.
SECRET_RESULT_KEYS_OPTION = "secret_result_keys"  # noqa: S105 (an option name)

HOW_TO_RETURN_MORE = (
    "Return JSON, or save the data where it belongs (a file through Django's storage, a model "
    "row) and return its name or id."
)


class ResultNotStorableError(Exception):
    """The actor returned something the ledger cannot keep: recorded as the job's failure."""


def storable_result(value: Any) -> Any:
    """`value` as the ledger stores it, or ResultNotStorableError saying why it cannot."""
    if value is None:
        return None
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ResultNotStorableError(
            f"The actor returned a {type(value).__name__} that is not JSON ({exc}). "
            + HOW_TO_RETURN_MORE
        ) from None
    size = len(text.encode())
    limit = settings.JOBS_RESULT_MAX_BYTES
    if size > limit:
        raise ResultNotStorableError(
            f"The actor returned {size} bytes of JSON, over JOBS_RESULT_MAX_BYTES ({limit}). "
            + HOW_TO_RETURN_MORE
        )
    return json.loads(text)


def shown_result(actor_name: str, value: Any) -> Any:
    """A result as people see it: the values of its declared secret keys replaced, at any depth."""
    keys = {str(key).lower() for key in getattr(settings, "JOBS_SECRET_RESULT_KEYS", ())}
    try:
        actor = dramatiq.get_broker().get_actor(actor_name)
        keys |= {str(key).lower() for key in actor.options.get(SECRET_RESULT_KEYS_OPTION, ())}
    except ActorNotFound:
        pass
    return _hide_keys(value, keys) if keys else value


def _hide_keys(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in keys else _hide_keys(item, keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hide_keys(item, keys) for item in value]
    return value
