"""The job ledger: one row per background job, its event history, and how both are written."""
