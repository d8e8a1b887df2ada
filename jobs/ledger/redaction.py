"""Secret arguments: redacted in the ledger's readable columns, sealed for the sends that need them.

A job's arguments are stored so staff can see and search them, and so the relay and a staff
retry can rebuild the message. An argument whose name looks secret (`password`, `token`, ...)
is replaced by REDACTED in those columns; its real value is kept only encrypted (Fernet, key
derived from SECRET_KEY) in `Job.sealed_arguments`, which nothing displays. Actors name more
secret arguments with the `secret_arguments` actor option:

    @dramatiq.actor(secret_arguments=("iban",))
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
from dataclasses import dataclass
from typing import Any

import dramatiq
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

REDACTED = "[redacted]"
#: Replaces an argument's value inside an error or traceback shown to staff who may not see
#: arguments (jobs/admin/jobs.py), and in every error group; the JSON status view hides errors from
#: them altogether.
HIDDEN = "[argument hidden]"
#: Shorter values (a user id of 7, "no") would blank out unrelated text and leak little.
SHORTEST_HIDDEN = 3

#: The actor option naming more secret arguments of that actor.
ACTOR_OPTION = "secret_arguments"

#: Parts of argument names that mark them secret (matched case-insensitively, anywhere in the
#: name). Extended by the JOBS_SECRET_ARGUMENT_NAMES setting.
SECRET_NAME_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "authorization",
    "cookie",
    "session_key",
    "otp",
    "pin_code",
    "card_number",
    "cvv",
)


class SealError(Exception):
    """Sealed arguments could not be opened (SECRET_KEY changed without a fallback)."""


@dataclass(frozen=True)
class StoredArguments:
    args: list[Any]
    kwargs: dict[str, Any]
    sealed: str


def is_secret_name(name: str, extra: frozenset[str] = frozenset()) -> bool:
    lowered = name.lower()
    parts = (*SECRET_NAME_PARTS, *getattr(settings, "JOBS_SECRET_ARGUMENT_NAMES", ()))
    return lowered in extra or any(part in lowered for part in parts)


def _secret_positions(actor_name: str) -> tuple[frozenset[int], frozenset[str]]:
    """Positions and names of the actor's secret parameters (cached once the actor is known)."""
    try:
        actor = dramatiq.get_broker().get_actor(actor_name)
    except dramatiq.errors.ActorNotFound:
        return frozenset(), frozenset()  # not cached: an actor registered later still counts
    return _parameters_of(actor)


@functools.cache
def _parameters_of(actor: dramatiq.Actor[..., Any]) -> tuple[frozenset[int], frozenset[str]]:
    declared = frozenset(name.lower() for name in actor.options.get(ACTOR_OPTION, ()))
    try:
        parameters = list(inspect.signature(actor.fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positions = frozenset(
        index
        for index, parameter in enumerate(parameters)
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        and is_secret_name(parameter.name, declared)
    )
    return positions, declared


def seal_arguments(actor_name: str, args: list[Any], kwargs: dict[str, Any]) -> StoredArguments:
    """The arguments as the ledger stores them: secrets replaced, and sealed if there were any."""
    positions, declared = _secret_positions(actor_name)
    secret_args = {str(i): args[i] for i in positions if i < len(args)}
    secret_kwargs = {k: v for k, v in kwargs.items() if is_secret_name(k, declared)}
    if not secret_args and not secret_kwargs:
        return StoredArguments(list(args), dict(kwargs), "")
    shown_args = [REDACTED if str(i) in secret_args else v for i, v in enumerate(args)]
    shown_kwargs = {k: REDACTED if k in secret_kwargs else v for k, v in kwargs.items()}
    plain = json.dumps({"args": secret_args, "kwargs": secret_kwargs}).encode()
    return StoredArguments(shown_args, shown_kwargs, _fernet().encrypt(plain).decode())


def open_arguments(
    args: list[Any], kwargs: dict[str, Any], sealed: str
) -> tuple[list[Any], dict[str, Any]]:
    """The real arguments of a stored job, for rebuilding its message."""
    if not sealed:
        return list(args), dict(kwargs)
    try:
        secrets = json.loads(_fernet().decrypt(sealed.encode()))
    except InvalidToken as exc:
        raise SealError(
            "The job's secret arguments were sealed with a key this process does not have "
            "(was SECRET_KEY rotated without keeping the old one in SECRET_KEY_FALLBACKS?)."
        ) from exc
    real_args = [secrets["args"].get(str(i), v) for i, v in enumerate(args)]
    return real_args, {**kwargs, **secrets["kwargs"]}


def _fernet() -> MultiFernet:
    """Keys derived from SECRET_KEY, then its fallbacks: rotating SECRET_KEY keeps old jobs open."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_derive(key)) for key in keys])


def _derive(secret_key: str) -> bytes:
    digest = hashlib.sha256(b"offload.jobs.ledger.redaction:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def hide_argument_values(text: str, args: Any, kwargs: Any) -> str:
    """`text` with every argument value (strings and numbers, at any depth) replaced by HIDDEN."""
    if not text:
        return text
    values = {value for value in _leaf_texts([args, kwargs]) if len(value) >= SHORTEST_HIDDEN}
    for value in sorted(values, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(value, HIDDEN)
    return text


def _leaf_texts(value: Any) -> Any:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaf_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaf_texts(item)
    elif isinstance(value, str):
        if value != REDACTED:
            yield value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)
