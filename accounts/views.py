"""Signup: an HTML form and a JSON endpoint on the same URL, both calling `sign_up`."""

from __future__ import annotations

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
    wants_json,
)

from .forms import SignupForm
from .services import sign_up


# CSRF is exempt only for the JSON body: browsers cannot send application/json cross-site
# without a CORS preflight (which we never grant). The HTML form path enforces CSRF.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and wants_json(request):
        return signup_json(request)
    return signup_page(request)


@csrf_protect
def signup_page(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        sign_up(form.cleaned_data["email"])
        return redirect("signup_sent")
    return render(request, "accounts/signup.html", {"form": form})


def signup_json(request: HttpRequest) -> HttpResponse:
    try:
        payload = read_json_object(request)
    except BadJSONError as exc:
        return error_response({"body": [str(exc)]})
    form = SignupForm(payload)
    if not form.is_valid():
        return error_response(form_errors(form))
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
