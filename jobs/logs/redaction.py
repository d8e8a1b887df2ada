"""The one rule that keeps credentials out of every log line: web, worker, gunicorn, Dramatiq.

A set-password link's token is a login; a `?token=` in a query string is a credential. Each
record is rendered and scrubbed by RedactingFilter, installed on every handler (config/settings.py
LOGGING, gunicorn's loggers in config/gunicorn_logging.py); the access log's atoms go through
`redact_text` too. Secret job arguments never reach a log in clear: the broker carries them sealed
(jobs/ledger/redaction.py), so a message printed by Dramatiq shows only the sealed text.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

#: Django's password-reset confirm URL, `/reset/<uidb64>/<token>/`: the token segment.
RESET_TOKEN = re.compile(r"(/reset/[^/\s\"'?#]+/)(?!set-password/)[^/\s\"'?#]+")
#: A query or form parameter whose name says it holds a credential.
SECRET_PARAMETER = re.compile(
    r"([?&;](?:[\w.-]*(?:token|secret|password|passwd|api_?key|access_key|signature|otp|"
    r"session)[\w.-]*)=)[^&;\s\"'#]*",
    re.IGNORECASE,
)
#: A bearer or basic credential copied from a header into a message.
AUTHORIZATION = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)
#: A URL's user:password part (e.g. a broker or database URL in an error message).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)


def redact_text(text: str) -> str:
    """`text` with every credential the rules above recognise replaced by REDACTED."""
    if not text:
        return text
    text = RESET_TOKEN.sub(rf"\1{REDACTED}", text)
    text = SECRET_PARAMETER.sub(rf"\1{REDACTED}", text)
    text = AUTHORIZATION.sub(rf"\1 {REDACTED}", text)
    return URL_PASSWORD.sub(rf"\1{REDACTED}@", text)


#: A LogRecord's own attributes; any other is an extra a JSON formatter prints as a field
#: (Django's `request`, whose repr holds the query string).
RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Renders the record's message, exception and extra fields scrubbed; drops no record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging itself reports it at emit time
            return True
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        for name, value in list(vars(record).items()):
            if name in RECORD_ATTRIBUTES or isinstance(value, int | float | bool | type(None)):
                continue
            text = value if isinstance(value, str) else str(value)
            if (scrubbed := redact_text(text)) != text:
                setattr(record, name, scrubbed)
        return True


def install_on_every_handler(*loggers: logging.Logger) -> None:
    """Add the filter to each handler of `loggers` (the root logger if none): for loggers set up
    outside Django's LOGGING, such as gunicorn's and a Dramatiq worker process's own."""
    for logger in loggers or (logging.getLogger(),):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
