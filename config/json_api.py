"""JSON endpoint plumbing shared by the apps: parse a JSON object body, answer 202 or 4xx."""

from __future__ import annotations

import json
from typing import Any

from django.forms import Form
from django.http import HttpRequest, JsonResponse


class BadJSONError(ValueError):
    """The body is not a JSON object."""


def wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        payload = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJSONError(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadJSONError("The body must be a JSON object.")
    return payload


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
