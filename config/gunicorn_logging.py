"""gunicorn's logs as JSON lines, times in ISO 8601 like every other line. The access log:
every value scrubbed of credentials and escaped as a JSON string's content.

gunicorn's own `SafeAtoms` escapes only `"`, so a path holding a backslash or a control
character broke the line's JSON (a log shipper then drops or mangles it). A set-password link's
path is a login: jobs/logs/redaction.py removes its token, here and from gunicorn's error log."""

from __future__ import annotations

import json
import time
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

from jobs.logs.lines import JsonFormatter, iso_time
from jobs.logs.redaction import install_on_every_handler, redact_text


class JsonSafeAtoms(SafeAtoms):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__(atoms)
        for key, value in atoms.items():
            if isinstance(value, str):
                # The format puts each atom inside quotes: the escaped text without its own.
                dict.__setitem__(self, key, json.dumps(redact_text(value))[1:-1])


class JsonAccessLogger(Logger):  # type: ignore[misc]
    """Both of gunicorn's logs as JSON lines: the access log by its format, the error log
    (boot, worker start and exit, timeouts) by the formatter every other line has."""

    atoms_wrapper_class = JsonSafeAtoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        install_on_every_handler(self.error_log, self.access_log)
        errors = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
        for handler in self.error_log.handlers:
            handler.setFormatter(errors)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        found: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        found["t"] = iso_time(time.time())  # gunicorn's "[03/Dec/2026:20:24:04 +0000]"
        return found
