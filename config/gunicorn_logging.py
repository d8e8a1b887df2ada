"""gunicorn's access log as JSON lines: every value scrubbed of credentials and escaped as a JSON
string's content.

gunicorn's own `SafeAtoms` escapes only `"`, so a path holding a backslash or a control
character broke the line's JSON (a log shipper then drops or mangles it). A set-password link's
path is a login: jobs/log_redaction.py removes its token, here and from gunicorn's error log."""

from __future__ import annotations

import json
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

from jobs.log_redaction import install_on_every_handler, redact_text


class JsonSafeAtoms(SafeAtoms):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__(atoms)
        for key, value in atoms.items():
            if isinstance(value, str):
                # The format puts each atom inside quotes: the escaped text without its own.
                dict.__setitem__(self, key, json.dumps(redact_text(value))[1:-1])


class JsonAccessLogger(Logger):  # type: ignore[misc]
    atoms_wrapper_class = JsonSafeAtoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        install_on_every_handler(self.error_log, self.access_log)
