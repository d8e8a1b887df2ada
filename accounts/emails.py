"""Welcome and "you already have an account" emails, each with a one-time set-password link."""

from __future__ import annotations

import smtplib
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from jobs.ledger.retries import write_with_retries

from .models import SentEmail, User


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


class EmailOutcomeUnknownError(RuntimeError):
    """A previous run of this job died while sending: re-sending could mail the user twice."""


def message_id_for(job_id: uuid.UUID) -> str:
    """Stable per job, so mail servers and clients can drop a duplicate that slipped through."""
    return f"<{job_id}@{urlsplit(settings.SITE_URL).hostname or 'offload.localhost'}>"


def deliver_welcome_email(user: User, job_id: uuid.UUID) -> bool:
    """Send the welcome email (or "already registered" if a password is set), once per job."""
    template = "already_registered" if user.has_usable_password() else "welcome"
    return deliver_once(user, job_id, template)


def deliver_password_reset_email(user: User, job_id: uuid.UUID) -> bool:
    return deliver_once(user, job_id, "password_reset")


def deliver_once(user: User, job_id: uuid.UUID, template: str) -> bool:
    """Send `template` to the user, once per job.

    Returns False if this job already sent it. No database lock is held while talking to the
    mail server.
    """
    if user.email in settings.FAILING_EMAIL_ADDRESSES:
        # A real transient SMTP reply (451): lets the retry/failure path be watched end to end.
        raise smtplib.SMTPResponseException(
            451, f"4.3.0 Mailbox {user.email} temporarily unavailable (FAILING_EMAIL_ADDRESSES)"
        )
    try:
        with (
            transaction.atomic()
        ):  # a savepoint, so a duplicate leaves the caller's transaction usable
            record = SentEmail.objects.create(
                job_id=job_id, to=user.email, template=template, message_id=message_id_for(job_id)
            )
    except IntegrityError:
        previous = SentEmail.objects.get(job_id=job_id)
        if previous.state == SentEmail.State.SENT:
            return False
        raise EmailOutcomeUnknownError(
            f"A previous run of job {job_id} stopped while sending to {previous.to}; "
            "not sending again (it may have been delivered)."
        ) from None
    try:
        build_message(user, template, record.message_id).send()
    except Exception:
        record.delete()  # nothing was sent: the retry may send
        raise
    # Sent: only a record that says so keeps a retry from refusing to send again ("may have been
    # delivered"), so a database blip here is waited out rather than failing the job.
    record.state = SentEmail.State.SENT
    record.sent_at = timezone.now()
    write_with_retries(
        lambda: record.save(update_fields=["state", "sent_at"]), "e-mail sent", budget=60
    )
    return True


def build_message(user: User, template: str, message_id: str) -> EmailMultiAlternatives:
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
        headers={"Message-ID": message_id},
    )
    message.attach_alternative(
        render_to_string(f"accounts/email/{template}.html", context), "text/html"
    )
    return message
