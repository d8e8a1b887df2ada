"""Broker adapters: the Redis broker (and its embedded server for the default setup) and what the
broker holds, read for the dashboard and the ledger check.
"""
