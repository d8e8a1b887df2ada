"""User (a custom user model whose login is the email address) and SentEmail."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


def normalize_email_address(email: str) -> str:
    """One spelling per account: case-insensitive lookups without a functional index."""
    return email.strip().lower()


def mailbox_of(email: str) -> str:
    """The mailbox an address delivers to, for counting the mail a person gets from us: its
    case, a quoted local part, a `+tag` and an IDN domain's spelling do not make another one."""
    local, _, domain = normalize_email_address(email).rpartition("@")
    local = local.strip('"').split("+", 1)[0]
    # Kept as typed if it cannot be IDNA-encoded: the form refused what cannot be a domain.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=normalize_email_address(email), **extra)
        # None leaves an unusable password: the welcome email's link sets the real one.
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=normalize_email_address(username or ""))


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    is_staff = models.BooleanField(
        default=False, help_text="Designates whether the user can log into the admin site."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now, db_index=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email_address(self.email)


class SentEmail(models.Model):
    """At most one email per job: a re-run of the same job finds this row and sends nothing."""

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        """Reserved; if a worker died here, nobody knows whether the mail went out."""
        SENT = "sent", "Sent"
        """The mail server accepted it."""

    job_id = models.UUIDField(unique=True)
    to = models.EmailField()
    template = models.CharField(max_length=50)
    message_id = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.state})"
