"""Actors of accounts: load rows by id and call the email code."""

from __future__ import annotations

import dramatiq

from .emails import deliver_welcome_email
from .models import User


@dramatiq.actor(max_retries=3, min_backoff=1000)
def send_welcome_email(user_id: int) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return  # the account was deleted before its welcome email went out
    deliver_welcome_email(user)
