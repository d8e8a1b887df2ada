"""Welcome emails: content, the one-time link, and at most one email per job."""

from __future__ import annotations

import smtplib
import threading
import uuid

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test import Client

from accounts.emails import EmailOutcomeUnknownError, deliver_welcome_email, message_id_for
from accounts.models import SentEmail, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def newcomer(django_user_model) -> User:
    return django_user_model.objects.create_user("newcomer@example.com")


def test_welcome_email_has_text_and_html_and_a_working_set_password_link(newcomer: User):
    assert deliver_welcome_email(newcomer, uuid.uuid4()) is True

    [email] = mail.outbox
    assert isinstance(email, EmailMultiAlternatives)
    assert email.to == ["newcomer@example.com"]
    assert "choose your password" in email.subject.lower()
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert isinstance(html, str)
    link = next(word for word in email.body.split() if "/accounts/reset/" in word)
    assert link in html
    path = link.removeprefix("http://127.0.0.1:8000")
    page = Client().get(path, follow=True)
    assert b"Choose your password" in page.content


def test_an_account_with_a_password_gets_the_already_registered_email(alice: User):
    deliver_welcome_email(alice, uuid.uuid4())

    [email] = mail.outbox
    assert "already have an Offload account" in email.subject
    assert "/accounts/login/" in email.body


def test_the_same_job_sends_at_most_one_email_with_a_message_id_from_the_job(newcomer: User):
    job_id = uuid.uuid4()

    assert deliver_welcome_email(newcomer, job_id) is True
    assert deliver_welcome_email(newcomer, job_id) is False

    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == message_id_for(job_id)
    assert SentEmail.objects.get(job_id=job_id).state == SentEmail.State.SENT


def test_a_failed_send_leaves_no_record_so_the_retry_sends(newcomer: User, settings):
    job_id = uuid.uuid4()
    settings.EMAIL_BACKEND = "tests.accounts.test_emails.RefusingBackend"

    with pytest.raises(smtplib.SMTPServerDisconnected):
        deliver_welcome_email(newcomer, job_id)
    assert not SentEmail.objects.exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert deliver_welcome_email(newcomer, job_id) is True
    assert len(mail.outbox) == 1


def test_a_run_that_died_while_sending_is_not_sent_again(newcomer: User):
    job_id = uuid.uuid4()
    SentEmail.objects.create(job_id=job_id, to=newcomer.email, template="welcome", message_id="x")

    with pytest.raises(EmailOutcomeUnknownError):
        deliver_welcome_email(newcomer, job_id)
    assert mail.outbox == []


class RefusingBackend(BaseEmailBackend):
    """A mail server that hangs up: what a network failure looks like to Django."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.mark.django_db(transaction=True)
def test_a_database_blip_after_the_send_still_records_it_as_sent(newcomer: User, settings):
    # Unrecorded, the retry would refuse to send ("may have been delivered") and fail the job.
    if connection.vendor != "sqlite":
        pytest.skip("points SQLite at a file that cannot be opened")
    settings.EMAIL_BACKEND = "tests.accounts.test_emails.BlipAfterSendBackend"
    job_id = uuid.uuid4()

    assert deliver_welcome_email(newcomer, job_id) is True

    assert SentEmail.objects.get(job_id=job_id).state == SentEmail.State.SENT
    assert deliver_welcome_email(newcomer, job_id) is False  # and never sent twice


class BlipAfterSendBackend(BaseEmailBackend):
    """Sends, then the database is unreachable for half a second (for real: the connection is
    pointed at a file that cannot be opened, then back)."""

    def send_messages(self, email_messages):
        name = connection.settings_dict["NAME"]
        connection.close()
        connection.settings_dict["NAME"] = "/nonexistent/offload/db.sqlite3"

        def back() -> None:
            connection.settings_dict["NAME"] = name

        threading.Timer(0.5, back).start()
        return len(email_messages)
