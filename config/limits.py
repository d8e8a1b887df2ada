"""Abuse limits shared by every web process (the cache is shared: see settings CACHES).

Rates are settings ("20/m"); over a limit a caller gets 429 with Retry-After and one message,
the same whether or not an address has an account (no enumeration). Counting is
django-ratelimit's (fixed windows in the cache); login lockout is django-axes'.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from .json_api import error_response, wants_json

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str:
    """The client's address: the last value of the header the operator's proxy sets
    (CLIENT_IP_HEADER), else the peer. A header the client sends itself is never trusted: the
    proxy appends the real peer after whatever the client claimed."""
    if header := settings.CLIENT_IP_HEADER:
        forwarded = str(request.META.get(header, ""))
        if last := forwarded.rsplit(",", 1)[-1].strip():
            return last
    return str(request.META.get("REMOTE_ADDR", ""))


class LimitExceededError(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """One rate (a setting's name) counted per value: a client IP, an address, a user."""

    name: str
    setting: str
    message: str

    def hit(self, request: HttpRequest, value: str) -> None:
        """Count one use by `value`; raise LimitExceededError over the rate."""
        rate = getattr(settings, self.setting)
        if not rate or not value:
            return
        try:
            usage = get_usage(
                request,
                group=self.name,
                key=lambda _group, _request: value.lower(),
                rate=rate,
                increment=True,
            )
        except Exception:  # the shared cache is down: serve rather than refuse everyone
            logger.exception("Rate limit %s not checked: the cache failed.", self.name)
            return
        if usage and usage["should_limit"]:
            retry_after = max(1, math.ceil(usage["time_left"]))
            raise LimitExceededError(
                f"{self.message} Try again in {wait_words(retry_after)}.", retry_after
            )


def enforce(request: HttpRequest, *uses: tuple[Limit, str]) -> None:
    """Count each (limit, value) use; raise LimitExceededError for the first one over."""
    for limit, value in uses:
        limit.hit(request, value)


def wait_words(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


SIGNUP_PER_IP = Limit("signup-ip", "SIGNUP_RATE_PER_IP", "Too many signups from your network.")
#: One budget for every mail a person gets from us (welcome and reset alike), counted per
#: mailbox (accounts.models.mailbox_of): spellings of one address share it.
MAIL_PER_MAILBOX = Limit(
    "mail-mailbox", "MAIL_RATE_PER_MAILBOX", "Too many emails were sent to this address."
)
RESET_PER_IP = Limit(
    "reset-ip", "PASSWORD_RESET_RATE_PER_IP", "Too many password resets from your network."
)
REPORTS_PER_USER = Limit("report-user", "REPORT_RATE_PER_USER", "You requested too many reports.")
IMAGES_PER_USER = Limit("image-user", "IMAGE_RATE_PER_USER", "You uploaded too many images.")


def too_many_json(error: LimitExceededError) -> HttpResponse:
    response = error_response({"limit": [error.message]}, status=429, retry_after=error.retry_after)
    response["Retry-After"] = str(error.retry_after)
    return response


def with_retry_after(response: HttpResponse, error: LimitExceededError) -> HttpResponse:
    """A form page re-rendered with the limit's error: 429, with Retry-After."""
    response.status_code = 429
    response["Retry-After"] = str(error.retry_after)
    return response


def login_locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked account + IP: the login form with the error, or JSON."""
    minutes = settings.AXES_COOLOFF_TIME * 60
    retry_after = int(minutes * 60)
    error = LimitExceededError(
        "Too many failed logins for this account from your network. "
        f"Try again in {wait_words(retry_after)}.",
        retry_after,
    )
    if wants_json(request):
        return too_many_json(error)
    response = render(request, "registration/login_locked.html", {"message": error.message})
    return with_retry_after(response, error)
