"""The ledger's rules and machinery: transitions in bulk, the group-commit writer, bulk inserts,
the one database-retry policy, redaction, error groups, rollups.
"""
