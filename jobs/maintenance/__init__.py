"""Periodic duties the workers run for the ledger, one per module: relay, ledger check, retention;
`upkeep` runs them.
"""
