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
import contextlib
import functools
import hashlib
import inspect
import json
from dataclasses import dataclass
from typing import Any

import dramatiq
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

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


def arguments_digest(args: list[Any], kwargs: dict[str, Any]) -> str:
    """A keyed fingerprint of real arguments: tells whether two sets differ (a schedule and its
    declaration) without storing them; the same arguments give the same digest."""
    text = json.dumps([args, kwargs], sort_keys=True, default=str)
    # SHA-1, the algorithm of every digest already stored (HMAC-SHA1 stays a sound keyed hash).
    key_salt = "offload.jobs.ledger.redaction.digest"
    return salted_hmac(key_salt, text, algorithm="sha1").hexdigest()


def open_arguments(
    args: list[Any], kwargs: dict[str, Any], sealed: str
) -> tuple[list[Any], dict[str, Any]]:
    """The real arguments of a stored job, for rebuilding its message."""
    if not sealed:
        return list(args), dict(kwargs)
    return with_secrets(args, kwargs, open_secrets(sealed))


def with_secrets(
    args: list[Any], kwargs: dict[str, Any], secrets: dict[str, dict[str, Any]]
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments with the opened secrets put back in their places."""
    real_args = [secrets["args"].get(str(i), v) for i, v in enumerate(args)]
    return real_args, {**kwargs, **secrets["kwargs"]}


def open_secrets(sealed: str) -> dict[str, dict[str, Any]]:
    """The sealed values alone: {"args": {position: value}, "kwargs": {name: value}}."""
    try:
        opened: dict[str, dict[str, Any]] = json.loads(_fernet().decrypt(sealed.encode()))
    except InvalidToken as exc:
        raise SealError(
            "The job's secret arguments were sealed with a key this process does not have "
            "(was SECRET_KEY rotated without keeping the old one in SECRET_KEY_FALLBACKS?)."
        ) from exc
    return opened


def _fernet() -> MultiFernet:
    """Keys derived from SECRET_KEY, then its fallbacks: rotating SECRET_KEY keeps old jobs open."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(_derive(key)) for key in keys])


def _derive(secret_key: str) -> bytes:
    digest = hashlib.sha256(b"offload.jobs.ledger.redaction:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def hide_argument_values(text: str, args: Any, kwargs: Any) -> str:
    """`text` with every argument value (strings and numbers, at any depth) replaced by HIDDEN."""
    return hide_values(text, [args, kwargs], HIDDEN)


def hide_values(text: str, values: Any, replacement: str = REDACTED) -> str:
    """`text` with each leaf of `values` (strings and numbers, at any depth) of SHORTEST_HIDDEN
    characters or more replaced by `replacement`: names and dict keys stay readable."""
    if not text:
        return text
    leaves = {value for value in _leaf_texts(values) if len(value) >= SHORTEST_HIDDEN}
    for value in sorted(leaves, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(value, replacement)
    return text


def hide_in_exception(error: BaseException, values: Any) -> None:
    """Replace `values` in the error's text, and in the errors it was raised from, in place:
    whatever reports it next (Dramatiq's log line, the ledger's message and traceback) shows the
    names around a secret, never the secret."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(_hidden(arg, values) for arg in current.args)
        # OSError keeps its own copies of its arguments (str() reads them, not args).
        for name in ("errno", "strerror", "filename", "filename2", *vars(current)):
            value = getattr(current, name, None)
            if value is not None and name != "__notes__":
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(current, name, _hidden(value, values))
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            current.__notes__ = [hide_values(str(note), values) for note in notes]
        current = current.__cause__ or current.__context__


def _hidden(value: Any, values: Any) -> Any:
    """A string with `values` hidden; any other object unchanged unless its repr shows one of
    them, then that repr with them hidden."""
    if isinstance(value, str):
        return hide_values(value, values)
    if isinstance(value, BaseException | int | float | bool | type(None)):
        return value
    text = repr(value)
    hidden = hide_values(text, values)
    return value if hidden == text else hidden


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
