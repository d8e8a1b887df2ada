"""Project-wide views: error answers (JSON for JSON callers, HTML otherwise) and health."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as html_csrf_failure

from .json_api import error_response, wants_json


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_json(request) or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {"errors": {"csrf": [f"CSRF verification failed: {reason}"]}}, status=403
        )
    return html_csrf_failure(request, reason=reason)


def bad_request(request: HttpRequest, exception: Any) -> HttpResponse:
    if wants_json(request):
        return error_response({"request": ["Bad request."]}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Any) -> HttpResponse:
    if wants_json(request):
        return error_response({"auth": ["You may not do this."]}, status=403)
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Any) -> HttpResponse:
    if wants_json(request):
        return error_response({"path": [f"Nothing at {request.path}."]}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return error_response({"server": ["Internal error; it has been logged."]}, status=500)
    return defaults.server_error(request)
