"""Dramatiq's own test suite, run on the project's brokers and middleware stack.

Dramatiq's source distribution ships its tests but not their fixtures (conftest.py, common.py):
these are ours. Every broker fixture builds the broker the project runs in production, with the
middleware of `JOBS_BROKER` (the ledger's tracker first), on a real Redis or RabbitMQ server, and
every test runs against the ledger's test database. `make conformance` fetches the suite and runs
it; tests/conformance/README.md lists how the project differs from stock Dramatiq and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from django.conf import settings
from dramatiq import Worker
from dramatiq.brokers import rabbitmq as dramatiq_rabbitmq
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.brokers.stub import StubBroker
from dramatiq.encoder import JSONEncoder, PickleEncoder
from dramatiq.rate_limits import backends as rate_limit_backends
from dramatiq.results import backends as result_backends

from jobs.brokers.embedded import EmbeddedRedis
from jobs.brokers.rabbitmq import RabbitmqBroker
from jobs.brokers.redis import RedisBroker
from jobs.brokers.setup import project_middleware
from tests.conformance.differences import mark_differences

#: CONFORMANCE_BROKERS=stock runs the same fixtures on Dramatiq's own brokers and default
#: middleware: what a difference looks like without the project's parts.
STOCK = os.environ.get("CONFORMANCE_BROKERS") == "stock"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_differences(items, stock=STOCK)


def middleware() -> dict[str, Any]:
    return {} if STOCK else {"middleware": project_middleware()}


@pytest.fixture(autouse=True)
def ledger_db(transactional_db: None) -> None:
    """Every job these tests send is recorded: the ledger's database is there for all of them,
    set up before any broker (the brokers' fixtures name it) and torn down after."""


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when it names a server (CI), else an embedded Redis as `make test` uses."""
    if os.environ.get("REDIS_URL"):
        yield settings.REDIS_URL
        return
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis", numbered=True)))
    process = server.start()
    yield server.url
    process.terminate()
    process.wait(timeout=10)


def _installed(broker: dramatiq.Broker) -> Iterator[dramatiq.Broker]:
    broker.emit_after("process_boot")  # as `dramatiq` does: it arms the time limits
    dramatiq.set_broker(broker)
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture
def stub_broker(ledger_db: None) -> Iterator[dramatiq.Broker]:
    """Dramatiq's in-memory broker (its own tests' default) with the project's middleware."""
    yield from _installed(StubBroker(**middleware()))


@pytest.fixture
def redis_broker(ledger_db: None, redis_url: str) -> Iterator[dramatiq.Broker]:
    # Dramatiq's default namespace: its tests read keys by name ("dramatiq:default").
    broker_class = dramatiq_redis.RedisBroker if STOCK else RedisBroker
    broker = broker_class(url=redis_url, **middleware())
    broker.flush_all()
    yield from _installed(broker)


@pytest.fixture
def rabbitmq_broker(ledger_db: None) -> Iterator[dramatiq.Broker]:
    url = os.environ.get("BROKER_URL", "")
    if not url.startswith("amqp"):
        pytest.skip("RabbitMQ: set BROKER_URL=amqp://... (CI runs this suite with it)")
    # max_priority as Dramatiq's own fixture: its priority test needs a priority queue.
    broker_class = dramatiq_rabbitmq.RabbitmqBroker if STOCK else RabbitmqBroker
    broker = broker_class(url=url, confirm_delivery=True, max_priority=10, **middleware())
    yield from _installed(broker)


def _started(broker: dramatiq.Broker, **options: Any) -> Iterator[Worker]:
    worker = Worker(broker, **{"worker_timeout": 100, "worker_threads": 32, **options})
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def stub_worker(stub_broker: dramatiq.Broker) -> Iterator[Worker]:
    yield from _started(stub_broker)


@pytest.fixture
def redis_worker(redis_broker: dramatiq.Broker) -> Iterator[Worker]:
    yield from _started(redis_broker)


@pytest.fixture
def rabbitmq_worker(rabbitmq_broker: dramatiq.Broker) -> Iterator[Worker]:
    yield from _started(rabbitmq_broker)


@pytest.fixture
def pickle_encoder() -> Iterator[PickleEncoder]:
    encoder = PickleEncoder()
    dramatiq.set_encoder(encoder)
    yield encoder
    dramatiq.set_encoder(JSONEncoder())


@pytest.fixture
def redis_result_backend(redis_url: str) -> result_backends.RedisBackend:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return result_backends.RedisBackend(client=client, namespace="dramatiq-results")


@pytest.fixture
def stub_result_backend() -> result_backends.StubBackend:
    return result_backends.StubBackend()


@pytest.fixture(params=["redis", "stub"])
def result_backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_result_backend")


@pytest.fixture
def redis_rate_limiter_backend(redis_url: str) -> rate_limit_backends.RedisBackend:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return rate_limit_backends.RedisBackend(client=client)


@pytest.fixture
def stub_rate_limiter_backend() -> rate_limit_backends.StubBackend:
    return rate_limit_backends.StubBackend()


# Dramatiq also runs these against memcached, a backend the project does not use.
@pytest.fixture(params=["redis", "stub"])
def rate_limiter_backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_rate_limiter_backend")


@pytest.fixture
def start_cli() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def run(broker_module: str, *, extra_args: list[str] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("bufsize", 0)
        command = [sys.executable, "-m", "dramatiq", broker_module, *(extra_args or [])]
        started.append(subprocess.Popen(command, **kwargs))
        return started[-1]

    yield run
    for process in started:
        process.terminate()
        process.wait()
