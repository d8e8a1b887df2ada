"""What the ledger writer is asked to write: a claim, a success, a send (jobs/ledger/writer.py
group-commits them; jobs/ledger/batch_sql.py writes a batch of them)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """Start attempt `retries + 1` of a job (jobs/ledger/transitions.py claim)."""

    job_id: uuid.UUID
    retries: int
    worker: str
    delivery_id: str


@dataclass(frozen=True, slots=True)
class SuccessRequest:
    """The attempt succeeded (transitions.mark_succeeded)."""

    job_id: uuid.UUID
    attempt: int
    started_at: dt.datetime
    worker: str
    result: Any = None


@dataclass(frozen=True, slots=True)
class SentRequest:
    """The broker accepted the job's message at `at` (transitions.mark_sent)."""

    job_id: uuid.UUID
    at: dt.datetime
    eta: dt.datetime | None = None
    kind: str = "queued"
    note: str = ""


Request = ClaimRequest | SuccessRequest | SentRequest
