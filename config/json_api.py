"""JSON endpoint plumbing shared by the apps: parse a JSON object body, answer 202 or 4xx, and
answer JSON callers with JSON even when Django itself refuses a request (404, 413, 500)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse


class BadJSONError(ValueError):
    """The body is not a JSON object (400), or not sent as JSON at all (415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


#: Deepest nesting of arrays and objects a JSON body may have: every form here takes flat
#: objects, and deeper data would reach recursive code (encoders, redaction) in the worker.
JSON_MAX_DEPTH = 32


#: Paths that only ever answer JSON (the job status, report status and the report API).
JSON_PATHS = ("/jobs/", "/create_report", "/metrics")


def wants_json(request: HttpRequest) -> bool:
    """A JSON body, a JSON-only path, or an Accept header that asks for JSON before HTML."""
    if request.content_type == "application/json" or request.path.startswith(JSON_PATHS):
        return True
    if request.path.startswith("/reports/") and request.path.endswith("/status"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object. Only `application/json`: a browser cannot send that
    cross-site without a CORS preflight (never granted), so a JSON endpoint that skips CSRF is
    not reachable from another site's form."""
    if request.content_type != "application/json":
        raise BadJSONError("Send the body as JSON, with Content-Type: application/json.", 415)
    try:
        payload = json.loads(
            request.body or b"", parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise BadJSONError(f"The body is nested deeper than {JSON_MAX_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJSONError(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadJSONError("The body must be a JSON object.")
    if depth_over(payload, JSON_MAX_DEPTH):
        raise BadJSONError(f"The body is nested deeper than {JSON_MAX_DEPTH} levels.")
    try:  # JSON lets "\ud800" through: a lone surrogate no database or encoder can store
        json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadJSONError(
            "The body contains an invalid Unicode escape (an unpaired surrogate)."
        ) from None
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is too large a number")
    return number


def depth_over(value: Any, limit: int) -> bool:
    """True if arrays and objects nest more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def error_response(errors: dict[str, list[str]], status: int = 400, **extra: Any) -> JsonResponse:
    return JsonResponse({"errors": errors, **extra}, status=status)


def form_errors(form: Form, rename: dict[str, str] | None = None) -> dict[str, list[str]]:
    """A form's errors as plain messages, keyed by the names the JSON caller used."""
    rename = rename or {}
    return {
        rename.get(field, field): [str(message) for message in messages]
        for field, messages in form.errors.items()
    }


def accepted(location: str, **body: Any) -> JsonResponse:
    response = JsonResponse(body, status=202)
    response["Location"] = location
    return response


def body_limit(request: HttpRequest) -> int:
    """Largest body a request may send: image uploads their own (the file plus the multipart
    framing), everything else DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if request.path == "/images":
        return int(settings.IMAGE_MAX_BYTES) + UPLOAD_FRAMING_BYTES
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


#: Room for a multipart body's boundaries, headers and CSRF token around the file.
UPLOAD_FRAMING_BYTES = 64 * 1024


def too_large(request: HttpRequest) -> HttpResponse:
    limit = body_limit(request)
    message = f"The request body is over the limit of {limit} bytes."
    if wants_json(request):
        return error_response({"body": [message]}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class BodySizeLimitMiddleware:
    """413 for a body over its limit (body_limit), before a view reads it (Django itself
    answers an HTML 400 when a view reads it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > body_limit(request):
            return too_large(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A chunked body without Content-Length is measured as it is read.
        return too_large(request) if isinstance(exception, RequestDataTooBig) else None
