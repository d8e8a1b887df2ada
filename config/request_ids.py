"""A request id for every web request: in the X-Request-ID response header, on every log line
of the request, and on every job it enqueues (so a click can be followed to its jobs)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from jobs.logs.context import request_id

# An id from the operator's proxy is kept only if it looks like one (it is logged and stored).
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,64}")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = uuid.uuid4().hex
        if header := settings.REQUEST_ID_HEADER:
            proposed = request.META.get(header, "")
            if WELL_FORMED.fullmatch(proposed):
                rid = proposed
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response
