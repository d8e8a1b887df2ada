"""Welcome and "you already have an account" emails, each with a one-time set-password link."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .models import User


def set_password_url(user: User) -> str:
    """Absolute one-time link (Django's token generator: it expires once the password is set)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.SITE_URL}{path}"


def deliver_welcome_email(user: User) -> None:
    """Send the welcome email, or the "already have an account" one if a password is set."""
    if user.email in settings.FAILING_EMAIL_ADDRESSES:
        # A real transient SMTP reply (451): lets the retry/failure path be watched end to end.
        raise smtplib.SMTPResponseException(
            451, f"4.3.0 Mailbox {user.email} temporarily unavailable (FAILING_EMAIL_ADDRESSES)"
        )
    template = "already_registered" if user.has_usable_password() else "welcome"
    context = {
        "user": user,
        "link": set_password_url(user),
        "login_url": f"{settings.SITE_URL}{reverse('login')}",
    }
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"accounts/email/{template}.txt", context),
        to=[user.email],
    )
    message.attach_alternative(
        render_to_string(f"accounts/email/{template}.html", context), "text/html"
    )
    message.send()
