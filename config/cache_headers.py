"""Answers about a person are never kept by a shared cache or the browser's disk cache."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

#: Content types that carry data rather than a page: job and report states, report downloads.
DATA_TYPES = ("application/json", "text/csv")


class PrivateAnswersMiddleware:
    """`Cache-Control: private, no-store` on JSON and CSV answers and on everything answered to
    a logged-in user, unless the view chose its own caching. After the static files' middleware
    in MIDDLEWARE: static files keep their long public caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        user = getattr(request, "user", None)
        personal = user is not None and user.is_authenticated
        if personal or response.get("Content-Type", "").startswith(DATA_TYPES):
            patch_cache_control(response, private=True, no_store=True)
        return response
