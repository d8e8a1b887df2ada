"""The helpers Dramatiq's tests import from their package's `common` module (not shipped)."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika
import pytest
from dramatiq import Worker


@contextmanager
def worker(*args: Any, **kwargs: Any) -> Iterator[Worker]:
    started = Worker(*args, **kwargs)
    try:
        started.start()
        yield started
    finally:
        started.stop()


# Dramatiq skips these on its CI's shared runners (timing-sensitive); here they run.
skip_in_ci = pytest.mark.skipif(os.getenv("GITHUB_ACTION") is not None, reason="in GitHub CI")
skip_on_windows = pytest.mark.skipif(platform.system() == "Windows", reason="on Windows")
skip_on_pypy = pytest.mark.skipif(
    platform.python_implementation() == "PyPy", reason="no time limits on PyPy"
)

RABBITMQ_USERNAME = "guest"
RABBITMQ_PASSWORD = "guest"
RABBITMQ_CREDENTIALS = pika.credentials.PlainCredentials(RABBITMQ_USERNAME, RABBITMQ_PASSWORD)
# Tests that build a RabbitMQ broker by hand, on its default address: only where CI has one.
skip_unless_rabbit_mq = pytest.mark.skipif(
    not os.getenv("BROKER_URL", "").startswith("amqp"), reason="RabbitMQ: set BROKER_URL=amqp://..."
)
