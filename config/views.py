"""Project-wide views: the CSRF failure answer (JSON for API callers, HTML otherwise)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as html_csrf_failure

from .json_api import wants_json


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_json(request) or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {"errors": {"csrf": [f"CSRF verification failed: {reason}"]}}, status=403
        )
    return html_csrf_failure(request, reason=reason)
