"""sign_up and request_password_reset: the account's emails, each enqueued as a ledger job."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import transaction

from jobs import Job, enqueue

from .models import User
from .tasks import send_password_reset_email, send_welcome_email


def sign_up(email: str) -> Job:
    """Create a user without a usable password and enqueue the welcome email.

    An address that already has an account gets the same outcome for the caller (no account
    enumeration); the job then sends a "you already have an account" message instead.
    """
    with transaction.atomic():
        user, _created = User.objects.get_or_create(
            email=email,
            defaults={"password": make_password(None)},  # unusable until the link
        )
        return enqueue(send_welcome_email, user.pk, about=user)


def request_password_reset(email: str) -> Job:
    """Enqueue the reset email for `email`; the job finds the account (or sends nothing), so
    the request looks the same whether or not the address has one."""
    with transaction.atomic():
        return enqueue(send_password_reset_email, email)
