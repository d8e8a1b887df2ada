"""A Django app of test-only actors, installed in worker processes by the fault tests."""
