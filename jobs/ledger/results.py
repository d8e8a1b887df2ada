"""An actor's return value as its job's result: JSON up to JOBS_RESULT_MAX_BYTES, stored on the
ledger with secret-named keys redacted (as arguments are). Anything else fails the job loudly,
with the reason recorded, instead of being dropped."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from jobs.ledger.redaction import REDACTED, is_secret_name

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
    return redact_secret_keys(json.loads(text))


def redact_secret_keys(value: Any) -> Any:
    """`value` with the values of secret-named keys (password, token...) replaced, at any depth."""
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_name(str(key)) else redact_secret_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_secret_keys(item) for item in value]
    return value
