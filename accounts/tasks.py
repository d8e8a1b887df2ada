"""Actors of accounts: load rows by id and call the email code."""

from __future__ import annotations

import uuid

import dramatiq
from dramatiq.middleware import CurrentMessage

from .emails import deliver_password_reset_email, deliver_welcome_email
from .models import User


def current_job_id() -> uuid.UUID:
    """The ledger's id of the running job (the Dramatiq message id)."""
    message = CurrentMessage.get_current_message()
    return uuid.UUID(message.message_id) if message else uuid.uuid4()


@dramatiq.actor(max_retries=3, min_backoff=1000)
def send_welcome_email(user_id: int) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return  # the account was deleted before its welcome email went out
    deliver_welcome_email(user, current_job_id())


@dramatiq.actor(max_retries=3, min_backoff=1000)
def send_password_reset_email(email: str) -> bool:
    """Returns whether an account with that address was found (and mailed)."""
    user = User.objects.filter(email=email, is_active=True).first()
    if user is None:
        return False
    deliver_password_reset_email(user, current_job_id())
    return True
