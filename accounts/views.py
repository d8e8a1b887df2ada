"""Signup: an HTML form and a JSON endpoint on the same URL, both calling `sign_up`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from config.json_api import (
    BadJSONError,
    accepted,
    error_response,
    form_errors,
    read_json_object,
)
from config.limits import (
    MAIL_PER_MAILBOX,
    RESET_PER_IP,
    SIGNUP_PER_IP,
    LimitExceededError,
    client_ip,
    enforce,
    too_many_json,
    with_retry_after,
)

from .forms import PasswordResetRequestForm, SignupForm
from .models import mailbox_of
from .services import sign_up


# CSRF is exempt only for an application/json body: browsers cannot send one cross-site
# without a CORS preflight (which we never grant). Any other body, whatever the caller's Accept
# header, takes the form path, which enforces CSRF (a JSON 403 for JSON callers).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and request.content_type == "application/json":
        return signup_json(request)
    return signup_page(request)


@csrf_protect
def signup_page(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST if request.method == "POST" else None)
    try:
        if request.method == "POST":
            enforce(request, (SIGNUP_PER_IP, client_ip(request)))
        if form.is_valid():
            enforce(request, (MAIL_PER_MAILBOX, mailbox_of(form.cleaned_data["email"])))
            sign_up(form.cleaned_data["email"])
            return redirect("signup_sent")
    except LimitExceededError as error:
        form.add_error(None, error.message)
        page = render(request, "accounts/signup.html", {"form": form})
        return with_retry_after(page, error)
    return render(request, "accounts/signup.html", {"form": form})


def signup_json(request: HttpRequest) -> HttpResponse:
    try:
        enforce(request, (SIGNUP_PER_IP, client_ip(request)))
        payload = read_json_object(request)
        form = SignupForm(payload)
        if not form.is_valid():
            return error_response(form_errors(form))
        enforce(request, (MAIL_PER_MAILBOX, mailbox_of(form.cleaned_data["email"])))
    except BadJSONError as exc:
        return error_response({"body": [str(exc)]}, status=exc.status)
    except LimitExceededError as error:
        return too_many_json(error)
    job = sign_up(form.cleaned_data["email"])
    status_url = reverse("jobs:status", args=[job.id])
    return accepted(
        status_url,
        job_id=str(job.id),
        status_url=status_url,
        detail="Check your inbox: the email is on its way.",
    )


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signup_sent.html")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view, with its email sent by a ledger job and the signup's kind of limits."""

    form_class = PasswordResetRequestForm

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            enforce(
                self.request,
                (RESET_PER_IP, client_ip(self.request)),
                (MAIL_PER_MAILBOX, mailbox_of(form.cleaned_data["email"])),
            )
        except LimitExceededError as error:
            form.add_error(None, error.message)
            return with_retry_after(self.form_invalid(form), error)
        return super().form_valid(form)
