"""Error groups: failures that differ only in ids, numbers or quoted values share one group key."""

from __future__ import annotations

import re

#: Longest group key stored on a job (the index and the dashboard's links use it whole).
GROUP_LENGTH = 200

_PLACEHOLDERS = (
    # Quoted values first: they are often arguments, which not every staff member may see.
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\""), "<str>"),
    (re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I), "<id>"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def error_group(exception_type: str, message: str) -> str:
    """`Type: message` with the parts that vary between occurrences replaced by placeholders.

    "TimeoutError: job 3f2a... gave up after 31.2 s" and "... job 9bc1... gave up after 30.8 s"
    group together; a different exception type never does.
    """
    normalized = message
    for pattern, placeholder in _PLACEHOLDERS:
        normalized = pattern.sub(placeholder, normalized)
    normalized = normalized.strip()
    key = f"{exception_type}: {normalized}" if normalized else exception_type
    return key[:GROUP_LENGTH]
