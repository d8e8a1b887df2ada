"""A database that cannot be reached answers 503 with Retry-After, not a 500.

During a PostgreSQL restart, failover or a read-only spell a request cannot commit: the caller
should retry soon, and nothing was accepted (a job row is written in the caller's transaction,
so no job exists either). JSON callers get `{"errors": {"service": [...]}}`, others a short page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

from .json_api import error_response, wants_json

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
#: PostgreSQL's read_only_sql_transaction: a standby, or a database made read-only meanwhile.
READ_ONLY_SQLSTATE = "25006"
MESSAGE = "The database is unavailable for a moment; nothing was saved. Try again shortly."


def database_unavailable(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return getattr(error.__cause__, "sqlstate", None) == READ_ONLY_SQLSTATE


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, error: Exception) -> HttpResponse | None:
        if not database_unavailable(error):
            return None
        logger.warning(
            "Database unavailable: %s %s answered 503 (%s)",
            request.method,
            request.path,
            type(error).__name__,
        )
        if wants_json(request):
            response: HttpResponse = error_response({"service": [MESSAGE]}, status=503)
        else:
            response = HttpResponse(
                f"<h1>Service unavailable</h1><p>{escape(MESSAGE)}</p>", status=503
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
