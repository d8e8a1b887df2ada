"""The ledger_waiting variant's tracker (bench/worker_settings.py): each worker thread waits for
its success's write and acks itself."""

from __future__ import annotations

from jobs.worker.tracker import JobTracker


class WaitingTracker(JobTracker):
    defer_acks = False
